/**
 * One reconciliation pass of the control plane: answer what is owed an answer, let the runtime converge,
 * and post a status wherever what we observe changed. Rerunning a pass is harmless: everything it posts
 * is recorded in the ledger (and so in the log) as answered or posted before the next pass looks.
 */
import type { ControlLedger } from '../../src/control/ledger.js'
import type { Observation, Observations } from '../../src/control/observation.js'
import type { JudgedCommand, PubRecord } from '../../src/control/record.js'
import { RuntimePending, RuntimeRefusal, type PubRuntime } from '../../src/control/runtime.js'
import { gate, type Gated } from '../../src/control/gate.js'
import { holdWaitingFree } from '../../src/control/room.js'
import type { PaymentHooks } from '../../src/control/payment-hooks.js'
import type { PaymentFact } from '../../src/protocol/payment.js'
import { statusChanged, statusFor, type StatusBody } from '../../src/control/status.js'
import { checkOutgoing } from '../../src/protocol/parse.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import type { CommandReply, ErrorCode, ReplyResult } from '../../src/protocol/reply.js'
import type { PubStatus } from '../../src/protocol/status.js'
import { planDiskMiB, planWebView, type Plan } from '../../src/protocol/offer.js'
import type { Log } from '../../src/log/logger.js'
import type { ButtcloudPluginConfig } from './config.js'
import { PURGE_NOTICE_MS, notificationText, purgeReminderText } from '../../src/control/notify.js'
import { privatePost, type PostedStatus } from '../../src/protocol/post.js'
import { RESUBSCRIBE_MESSAGE, answerText, pubsText, statusText } from '../../src/control/answers.js'
import { HELP_TEXT } from '../../src/control/command-line.js'

const DAY_MS = 24 * 3600_000

/** Where a pass sends what it posts: the sbot in production, a recorder in unit tests. */
export interface Publisher {
  /** Publish content boxed to its recps; resolves with the new message's key and sequence. */
  publish(content: { type: string; recps: FeedId[] }): Promise<{ key: MsgId; sequence: number }>
}

export interface PassDeps {
  ledger: ControlLedger
  publisher: Publisher
  runtime?: PubRuntime
  config: ButtcloudPluginConfig
  now(): number
  log: Log
  /** Payment, when the provider takes it. Absent: every plan is free. */
  payment?: PaymentHooks
  /** Record a payment fact the pass made itself (the destroy command's cancellation). */
  recordPayment?(fact: PaymentFact): Promise<unknown>
  /** Called with every status we post, for live watchers. */
  onStatus?(owner: FeedId, status: PubStatus): void
}

/** State that lives across passes in one process (none of it is needed for correctness after a restart). */
export interface PassMemory {
  /** When this process started passing: the earliest a pub's first stats summary can count from. */
  startedAt: number
  engineError?: string
  lastObservations?: Observations
}

export function newPassMemory(startedAt: number): PassMemory {
  return { startedAt }
}

type ReplyBody = Pick<CommandReply, 'ok' | 'error' | 'result' | 'request'>
/** What an answer needs to know about the message it answers; `viaPost` names what a post answer speaks of. */
type Unanswered = { key: MsgId; author: FeedId; receivedAt: number; viaPost?: true; verb?: string }

/** How a pass answers a message: a reply, or a refusal bounded per author (see `answering`). */
interface Answering {
  answer(item: Omit<Unanswered, 'receivedAt'>, body: ReplyBody, text?: string): Promise<void>
  refuse(item: Unanswered, code: ErrorCode, reason: string, request?: MsgId): Promise<void>
}

/** Run one pass: refuse what cannot be answered, gate, reconcile, then answer commands and post statuses per pub. */
export async function runPass(deps: PassDeps, memory: PassMemory): Promise<void> {
  const answering = answeringFor(deps)
  await refuseUnanswerable(deps.ledger, answering)
  await answerQueries(deps.ledger, answering)
  const records = deps.ledger.records()
  const now = deps.now()
  const gated = gatePubs(deps, records, now)
  const observations = await reconcile(deps, memory, gated, now)
  for (const record of records) {
    await answerCommands(deps, record, answering)
    await postStatusIfChanged(deps, memory, record, gated.get(record.request)!, observations)
    await remindBeforePurge(deps, record, gated.get(record.request)!)
  }
  await postDueStats(deps, memory, records)
}

/**
 * Replies boxed to the author (and the provider), each marking its message answered. A message that came as a private
 * post is answered by a private post too, after the typed reply: the reply is what marks it answered, so a crash in
 * between loses the post rather than sending it twice.
 */
function answeringFor(deps: PassDeps): Answering {
  const { ledger } = deps
  const provider = ledger.provider
  const reply = async (item: Omit<Unanswered, 'receivedAt'>, body: ReplyBody, text?: string): Promise<MsgId> => {
    const content = checkOutgoing('buttcloud/reply', {
      type: 'buttcloud/reply',
      version: 1,
      command: item.key,
      ...body,
      recps: item.author === provider ? [provider] : [item.author, provider],
    })
    const posted = await deps.publisher.publish(content)
    ledger.markAnswered(item.key)
    if (item.viaPost) await deps.publisher.publish(privatePost(text ?? answerText(item.verb ?? 'post', body), item.author, provider))
    return posted.key
  }
  return {
    async answer(item, body, text) {
      await reply(item, body, text)
    },
    // A stranger (or a broken client) gets a bounded number of refusals per window, counted from the provider's own
    // replies in its log (so a restart does not reset it): past that, answering amplifies spam. A message older than
    // the window (met again after a restart, say) is not worth an answer either.
    async refuse(item, code, reason, request) {
      const now = deps.now()
      const since = now - deps.config.refusalWindowMs
      if (item.receivedAt < since || ledger.refusalsSince(item.author, since) >= deps.config.refusalsPerAuthor) {
        ledger.markAnswered(item.key)
        return
      }
      const key = await reply(item, { ok: false, error: { code, reason }, request })
      ledger.noteRefusal(key, item.author, now)
    },
  }
}

/** Questions asked by private post (`pubs`, `status`, `help`): answered from the ledger, changing nothing. */
async function answerQueries(ledger: ControlLedger, answering: Answering): Promise<void> {
  for (const q of ledger.unansweredQueries()) {
    const item = { key: q.key, author: q.author, viaPost: true as const }
    if (q.ask.kind === 'help') {
      await answering.answer(item, { ok: true, result: { message: 'help sent as a private post' } }, HELP_TEXT)
      continue
    }
    if (q.ask.kind === 'pubs') {
      const pubs = ledger.recordsOf(q.author).map((record) => ({ record, status: ledger.lastPostedStatus(record.request) }))
      await answering.answer(item, { ok: true, result: { message: `${pubs.length} pubs` } }, pubsText(pubs))
      continue
    }
    const record = ledger.record(q.ask.request)
    // The same answer for "no such pub" and "not yours": nothing about other people's pubs leaks.
    if (!record || record.owner !== q.author) {
      await answering.refuse({ ...q, viaPost: true, verb: 'status' }, 'unknown-pub', 'no such pub of yours')
      continue
    }
    const status = ledger.lastPostedStatus(record.request)
    await answering.answer(item, { ok: true, request: record.request, result: { message: status?.state ?? 'requested' } }, statusText(record, status))
  }
}

/** Messages addressed to us that fail the schema, and commands for pubs nobody requested: each gets a refusal. */
async function refuseUnanswerable(ledger: ControlLedger, answering: Answering): Promise<void> {
  for (const bad of ledger.unansweredInvalid()) {
    await answering.refuse(bad, bad.code ?? 'malformed', bad.viaPost ? bad.reason : `${bad.type}: ${bad.reason}`.slice(0, 300))
  }
  for (const cmd of ledger.unansweredOrphans()) {
    await answering.refuse(cmd, 'unknown-pub', `no pub ${cmd.content.request} is known to this provider`, cmd.content.request)
  }
}

/** Each record through the payment gate: what the runtime should make of it, and payment's words for its status. */
function gatePubs(deps: PassDeps, records: readonly PubRecord[], now: number): Map<MsgId, Gated> {
  const { ledger } = deps
  const placements = ledger.placements()
  const planOf = new Map(deps.config.plans.map((p) => [p.id, p]))
  const gated = new Map<MsgId, Gated>()
  for (const record of records) {
    const standing = deps.payment?.standing(record, ledger.paymentsOf(record.request), now)
    gated.set(
      record.request,
      gate(record, {
        memoryMiB: planOf.get(record.plan)?.memoryMiB ?? 0,
        ...planExtras(planOf.get(record.plan)),
        placement: placements.get(record.request),
        standing,
        paymentUrl: deps.payment?.paymentUrl(record),
        hops: planOf.get(record.plan)?.hops,
        // No standing: the plan needs no payment, or the provider takes none.
        free: standing === undefined || standing.state === 'free',
      }),
    )
  }
  // Free pubs beyond the cap (or their owner's share) wait: never handed to the runtime, so never given a port.
  holdWaitingFree(gated, { cap: deps.config.freePubs, perOwner: deps.config.pubsPerOwner })
  return gated
}

/** The plan's disk allowance and web view for the runtime (defaults applied, so every runtime reads the same). */
function planExtras(plan: Plan | undefined): { diskMiB?: number; webView?: boolean } {
  return plan ? { diskMiB: planDiskMiB(plan), webView: planWebView(plan) } : {}
}

/** Let the runtime converge on the gated pubs; undefined (and the reason kept) while its engine is unreachable. */
async function reconcile(deps: PassDeps, memory: PassMemory, gated: ReadonlyMap<MsgId, Gated>, now: number): Promise<Observations | undefined> {
  if (!deps.runtime) return undefined
  try {
    const observations = await deps.runtime.reconcile([...gated.values()].map((g) => g.pub), now)
    if (memory.engineError) deps.log(`runtime ${deps.runtime.name} reachable again`)
    memory.engineError = undefined
    memory.lastObservations = observations
    return observations
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    if (memory.engineError !== reason) deps.log(`runtime ${deps.runtime.name} failed: ${reason}`, {}, 'warn')
    memory.engineError = reason
    return undefined
  }
}

/** Answer the record's commands not answered yet, in order. */
async function answerCommands(deps: PassDeps, record: PubRecord, answering: Answering): Promise<void> {
  for (const cmd of record.commands) {
    if (deps.ledger.isAnswered(cmd.key)) continue
    await answerCommand(deps, record, cmd, answering)
  }
}

/**
 * Post the pub's status when it differs from the last one posted and the owner should hear of it: one private `post`
 * per transition, its text for people and the typed status (with the first invite once it is up) in its `buttcloud`
 * field. Changes the owner need not hear of (provisioning, moves in a queue) are not posted: the next posted status
 * compares against the last posted one. At most `noticesPerPubPerDay` per pub in any 24 hours, counted from the
 * provider's own posts by receive time (so a restart does not reset the count); past it, the change waits.
 */
async function postStatusIfChanged(
  deps: PassDeps,
  memory: PassMemory,
  record: PubRecord,
  g: Gated,
  observations: Observations | undefined,
): Promise<void> {
  if (record.silent) return
  const { ledger } = deps
  const body = g.status ?? withPaymentWords(statusFor(record, observe(deps, memory, record, g, observations)), g)
  const last = ledger.lastPostedStatus(record.request)
  if (!statusChanged(last, body)) return
  const draft: PostedStatus = { type: 'buttcloud/status', version: 1, ...body }
  if (!notificationText(last, { ...draft, recps: [record.owner] }, record)) return
  const now = deps.now()
  if (deps.config.noticesPerPubPerDay > 0 && ledger.noticesSince(record.request, now - DAY_MS) >= deps.config.noticesPerPubPerDay) return
  let invite: string | undefined
  // The first "up" carries an invite, and so does an "up" at a new address (a move): older codes name the old one.
  const invitedAt = ledger.lastInviteAddress(record.request)
  if (body.state === 'up' && deps.runtime && (invitedAt === undefined || (invitedAt !== '' && body.pub !== undefined && invitedAt !== body.pub.address))) {
    invite = await deps.runtime.invite(record, 1).catch((err: unknown) => {
      deps.log(`first invite for ${record.request} failed: ${err instanceof Error ? err.message : err}`, { request: record.request }, 'warn')
      return undefined
    })
  }
  const status = checkOutgoing('buttcloud/status', { ...draft, ...(invite ? { invite } : {}), recps: [record.owner, ledger.provider] })
  const { recps: _recps, ...carried } = status
  const post = privatePost(notificationText(last, status, record)!, record.owner, ledger.provider, carried)
  const posted = await deps.publisher.publish(post)
  ledger.notePosted(record.request, posted.sequence, status, now)
  ledger.noteNotice(posted.key, record.request, now)
  deps.onStatus?.(record.owner, status)
}

/**
 * A few days before a destroyed pub's data is purged (by the owner's destroy, or at the end of an ended
 * subscription's retention), its owner gets one reminder post. A destroyed pub's status never changes again, so this
 * is the one notice not beside a status; it is sent once because it is the only notice about a destroyed pub posted
 * after the reminder time, counted from the provider's own log. When the retention is shorter than the lead, the
 * destroyed notice itself is the one at the start of the retention.
 */
async function remindBeforePurge(deps: PassDeps, record: PubRecord, g: Gated): Promise<void> {
  const keep = deps.config.purgeAfterMs
  if (keep === undefined || g.pub.intent !== 'destroyed' || g.pub.destroyedAt === undefined || record.silent) return
  // Nothing to purge of a pub that never held a place, or whose place was already released (purged).
  const placed = deps.ledger.placements().get(record.request)
  if (!placed || placed.released) return
  const purgeAt = g.pub.destroyedAt + keep
  const remindAt = Math.max(g.pub.destroyedAt, purgeAt - PURGE_NOTICE_MS)
  const { ledger } = deps
  const now = deps.now()
  if (now < remindAt || now >= purgeAt || ledger.noticesSince(record.request, remindAt) > 0) return
  if (deps.config.noticesPerPubPerDay > 0 && ledger.noticesSince(record.request, now - DAY_MS) >= deps.config.noticesPerPubPerDay) return
  const posted = await deps.publisher.publish(privatePost(purgeReminderText(record, purgeAt), record.owner, ledger.provider, record.request))
  ledger.noteNotice(posted.key, record.request, now)
}

/**
 * One stats summary per running pub per interval, when the operator set one (`statsIntervalMs`, off by default: the
 * owner asks with the `stats` command; a week is the shortest period that keeps a pub under 100 bytes a day of
 * shared feed, see docs/PROTOCOL.md): bounded feed growth whatever the number of passes. The first one is due one interval after the pub came up, not at once. Summaries are boxed to the owner
 * alone, to keep them small, so the provider cannot read its own back: after a restart it counts from its start
 * (a summary may come late after a restart, never twice).
 */
async function postDueStats(deps: PassDeps, memory: PassMemory, records: readonly PubRecord[]): Promise<void> {
  const { runtime, ledger, config } = deps
  if (!runtime || config.statsIntervalMs <= 0) return
  const now = deps.now()
  for (const record of records) {
    const last = ledger.lastPostedStatus(record.request)
    if (last?.state !== 'up') continue
    const since = ledger.lastStatsAt(record.request) ?? Math.max(ledger.upSince(record.request) ?? now, memory.startedAt)
    if (now - since < config.statsIntervalMs) continue
    try {
      const summary = await runtime.stats(record)
      const content = checkOutgoing('buttcloud/stats', {
        type: 'buttcloud/stats',
        version: 1,
        request: record.request,
        summary,
        recps: [record.owner],
      })
      await deps.publisher.publish(content)
      ledger.noteStats(record.request, summary.window.to)
    } catch (err) {
      deps.log(`stats for ${record.request} failed: ${err instanceof Error ? err.message : String(err)}`, { request: record.request }, 'warn')
    }
  }
}

/** Payment's words win over the runtime's for a pub that payment stopped, destroyed, or is warning about. */
function withPaymentWords(body: StatusBody, g: Gated): StatusBody {
  const pay = g.paymentUrl ? { paymentUrl: g.paymentUrl } : {}
  // A pub whose subscription ended carries its pay link: paying again brings it back while its data is kept.
  if (g.reason && (body.state === 'stopped' || body.state === 'destroyed')) return { ...body, reason: g.reason, ...(body.state === 'stopped' ? pay : {}) }
  if (g.warning && body.state !== 'stopped' && body.state !== 'destroyed') return { ...body, reason: g.warning, ...pay }
  // The runtime's own words (why it is down) come first.
  if (g.note && !body.reason && (body.state === 'up' || body.state === 'provisioning')) return { ...body, reason: g.note }
  return body
}

/** The observation for one record: the runtime's, or "down" while the engine is unreachable. */
function observe(
  deps: PassDeps,
  memory: PassMemory,
  record: PubRecord,
  gated: Gated,
  observations: Observations | undefined,
): Observation | undefined {
  if (!deps.runtime) return undefined
  if (observations) return observations.get(record.request)
  // The engine is unreachable: say so for pubs that should be running; keep the words for the others.
  if (gated.pub.intent !== 'running') return undefined
  const last = memory.lastObservations?.get(record.request)
  return { state: 'down', pub: last?.pub, reason: 'the hosting engine is unreachable; the provider keeps retrying' }
}

async function answerCommand(
  deps: PassDeps,
  record: PubRecord,
  cmd: JudgedCommand,
  answering: Answering,
): Promise<void> {
  const { verdict } = cmd
  const item = { key: cmd.key, author: cmd.author, receivedAt: cmd.receivedAt, verb: cmd.verb, ...(cmd.viaPost ? { viaPost: cmd.viaPost } : {}) }
  const reply = (body: ReplyBody) => answering.answer(item, body)
  if (!verdict.ok) return answering.refuse(item, verdict.code, verdict.reason, record.request)
  const request = record.request
  if (cmd.verb === 'destroy' && deps.payment) {
    try {
      const now = deps.now()
      const standing = deps.payment.standing(record, deps.ledger.paymentsOf(request), now)
      const fact = await deps.payment.onDestroy(record, cmd.key, standing, now)
      if (fact) await deps.recordPayment?.(fact)
    } catch (err) {
      // Cancelling failed (Stripe unreachable): keep the command pending until the deadline, then say so.
      if (deps.now() - cmd.receivedAt < deps.config.oneShotDeadlineMs) return
      const reason = `destroyed, but cancelling the subscription failed: ${err instanceof Error ? err.message : String(err)}`
      return reply({ ok: true, request, result: { message: reason.slice(0, 300) } })
    }
  }
  if (cmd.verb === 'billing') {
    const portal = deps.payment?.billingPortalUrl
    if (!deps.payment || !portal) {
      return reply({ ok: false, request, error: { code: 'unavailable', reason: 'this provider takes no payments, so there is no billing to manage' } })
    }
    const standing = deps.payment.standing(record, deps.ledger.paymentsOf(request), deps.now())
    const payAgain = standing?.state === 'ended' && !standing.destroyDue && standing.endedAt !== undefined ? deps.payment.paymentUrl(record) : undefined
    if (payAgain) {
      // The subscription is over: the portal cannot start a new one, a Checkout through the pay link can (it revives the pub).
      const until = new Date(standing!.destroyDueAt ?? 0).toISOString().slice(0, 10)
      return reply({ ok: true, request, result: { billing: { url: payAgain }, message: `${RESUBSCRIBE_MESSAGE} before ${until} to bring the pub back with its data` } })
    }
    let url: string | undefined
    try {
      url = await portal(record, standing)
    } catch (err) {
      // Stripe unreachable: keep it pending (the next pass retries) until the deadline, then say so.
      if (deps.now() - cmd.receivedAt < deps.config.oneShotDeadlineMs) return
      const reason = `billing failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300)
      return reply({ ok: false, request, error: { code: 'internal', reason } })
    }
    if (!url) return reply({ ok: false, request, error: { code: 'invalid-state', reason: 'this pub has no subscription to manage yet' } })
    return reply({ ok: true, request, result: { billing: { url }, message: 'open this private link within a few minutes: it is valid only briefly' } })
  }
  if (cmd.verb !== 'invite' && cmd.verb !== 'stats' && cmd.verb !== 'backup') {
    return reply({ ok: true, request, result: { message: verdict.note } })
  }
  if (!deps.runtime) {
    return reply({
      ok: false,
      request,
      error: { code: 'unavailable', reason: `${cmd.verb} needs a running pub, and this provider runs none yet` },
    })
  }
  let result: ReplyResult
  try {
    if (cmd.verb === 'invite') {
      const uses = (cmd.args as { uses?: number } | undefined)?.uses ?? 1
      result = { invite: await deps.runtime.invite(record, uses) }
    } else if (cmd.verb === 'stats') {
      result = { stats: await deps.runtime.stats(record) }
    } else {
      result = { backup: await deps.runtime.backup(record, cmd.key) }
    }
  } catch (err) {
    // Still being carried out: a later pass (the runtime asks for one when it is done) answers it.
    if (err instanceof RuntimePending) return
    // A clear "no" (no room, one already running) is the owner's to hear now; retrying would not change it soon.
    if (err instanceof RuntimeRefusal) return reply({ ok: false, request, error: { code: 'unavailable', reason: err.message.slice(0, 300) } })
    // Leave it pending (the next pass retries) until the deadline; then say what went wrong.
    if (deps.now() - cmd.receivedAt < deps.config.oneShotDeadlineMs) return
    const reason = `${cmd.verb} failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300)
    return reply({ ok: false, request, error: { code: 'internal', reason } })
  }
  return reply({ ok: true, request, result })
}
