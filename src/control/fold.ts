/**
 * Fold a pub's messages into its record. A pure function of the set of messages: arrival order does not
 * matter (commands are ordered by their author's feed sequence, which is the order the owner posted them).
 */
import type { PubCommand } from '../protocol/command.js'
import type { PubRequest } from '../protocol/request.js'
import type { Received } from '../protocol/parse.js'
import { applyCommand, judge } from './judge.js'
import type { FoldContext, PubRecord } from './record.js'

/** Refused requests of one owner that still get a "failed" status; past these, the owner is spamming and we stay quiet. */
export const SPAM_ALLOWANCE = 3

/**
 * Arrival order: when this provider received them, then key. A total order, so every sort by it is well defined.
 * Never the authors' own timestamps: they can claim any time.
 */
export function byArrival(a: Received, b: Received): number {
  return a.receivedAt - b.receivedAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
}

/**
 * The order a pub's commands are judged in: the owner's in their feed order (the order they posted them, which no
 * signed field can change, and the only commands that can change the pub), then everyone else's by arrival. Not one
 * comparator mixing sequence and arrival: receive times need not grow with sequence (the provider's clock can be set
 * back), and such a comparator is then no order at all.
 */
export function judgingOrder<T extends Received>(owner: string, commands: readonly T[]): T[] {
  const own = commands.filter((c) => c.author === owner).sort((a, b) => a.sequence - b.sequence)
  const others = commands.filter((c) => c.author !== owner).sort(byArrival)
  return [...own, ...others]
}

/** Why a request cannot be served at all, or undefined when it can. */
export function requestProblem(
  req: Received<PubRequest>,
  ctx: FoldContext,
  earlierLivePubsOfOwner: number,
): string | undefined {
  if (!ctx.plans.has(req.content.plan)) return `unknown plan "${req.content.plan}"; offered: ${[...ctx.plans].join(', ')}`
  if (earlierLivePubsOfOwner >= ctx.pubsPerOwner) return `an owner may have at most ${ctx.pubsPerOwner} pubs here`
  return undefined
}

/** The record of one pub from its request and every command that names it. */
export function foldPub(
  req: Received<PubRequest>,
  commands: readonly Received<PubCommand>[],
  ctx: FoldContext,
  earlierLivePubsOfOwner = 0,
  earlierRefusalsOfOwner = 0,
): PubRecord {
  const rejected = requestProblem(req, ctx, earlierLivePubsOfOwner)
  let record: PubRecord = {
    request: req.key,
    owner: req.author,
    provider: req.content.provider,
    plan: req.content.plan,
    name: req.content.name,
    requestedAt: req.receivedAt,
    requestSequence: req.sequence,
    requestPrivate: req.private,
    rejected,
    silent: rejected !== undefined && earlierRefusalsOfOwner >= SPAM_ALLOWANCE,
    intent: 'running',
    restartGeneration: 0,
    commands: [],
  }
  for (const cmd of judgingOrder(req.author, commands)) {
    const verdict = judge(record, cmd, ctx)
    if (verdict.ok) record = applyCommand(record, cmd)
    record = {
      ...record,
      commands: [
        ...record.commands,
        {
          key: cmd.key,
          author: cmd.author,
          sequence: cmd.sequence,
          timestamp: cmd.timestamp,
          receivedAt: cmd.receivedAt,
          verb: cmd.content.verb,
          args: cmd.content.args,
          ...(cmd.viaPost ? { viaPost: true as const } : {}),
          verdict,
        },
      ],
    }
  }
  return record
}

/**
 * Did this pub count against its owner's limit when the owner posted their message number `sequence`? Counted in
 * the owner's own feed order (request and destroy are both theirs), so no clock is involved. Stable: later destroys
 * don't revive old refusals.
 */
export function wasLiveBefore(record: PubRecord, sequence: number): boolean {
  return (
    !record.rejected &&
    record.requestSequence < sequence &&
    (record.destroyedSequence === undefined || record.destroyedSequence > sequence)
  )
}
