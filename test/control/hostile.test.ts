/**
 * Hostile input, generated: seeded fast-check runs feed well over 10,000 messages (valid, malformed, forged
 * provider records, forged and shuffled timestamps, replays, floods from many identities) through the real intake
 * gate (`classify`), the ledger and control-plane passes, with restarts in between. After every pass the
 * invariants must hold: no identity gets more than its share, only an owner changes a pub, every command is
 * answered at most once, refusals stay within their cap, and nothing is posted in public.
 */
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { applyEntry, classify } from '../../plugins/buttcloud/intake.js'
import { pluginConfig } from '../../plugins/buttcloud/config.js'
import { newPassMemory, runPass, type PassDeps, type PassMemory } from '../../plugins/buttcloud/pass.js'
import { ControlLedger } from '../../src/control/ledger.js'
import { foldPub } from '../../src/control/fold.js'
import type { FoldContext, PubRecord } from '../../src/control/record.js'
import type { Observation } from '../../src/control/observation.js'
import type { PubRuntime, RuntimePub } from '../../src/control/runtime.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import type { PubCommand, PubRequest, Received, StatsSummary } from '../../src/protocol/index.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { envelope, msgId, samples } from '../support/samples.js'

/** Identities from fixed seeds, so a seed reproduces a run whole (message keys, and so key order, included). */
const identity = (n: number) => generateKeys(Buffer.alloc(32, n + 1)).id
const PROVIDER = identity(100)
/** Three honest owners and five attackers. */
const IDS = Array.from({ length: 8 }, (_, n) => identity(n))
const CTX: FoldContext = { provider: PROVIDER, plans: new Set(['free']), versions: new Set(['1', '2']), pubsPerOwner: 3 }
const CONFIG = pluginConfig({ refusalsPerAuthor: 5, refusalWindowMs: 3_600_000, statsIntervalMs: 0 })
const START = 1_800_000_000_000
const INVITE = `127.0.0.1:20001:${PROVIDER}~${Buffer.alloc(32, 1).toString('base64')}`
const SEED = 20261130

/** One step of a generated history; indexes are reduced modulo what exists when the step runs. */
type Step =
  | { kind: 'request'; who: number; plan: 'free' | 'gold'; private: boolean; claim: number }
  | { kind: 'command'; who: number; target: number; verb: string; uses?: number; version?: string; claim: number }
  | { kind: 'garbage'; who: number; shape: number; claim: number }
  | { kind: 'forged'; who: number; type: number; target: number; claim: number }
  | { kind: 'replay'; pick: number }
  | { kind: 'wait'; ms: number }
  | { kind: 'pass' }
  | { kind: 'restart'; order: number }

/** Claimed timestamps an attacker might sign: far past, far future, negative, now-ish. */
const claim = fc.oneof(
  fc.constant(0),
  fc.integer({ min: -1e15, max: 1e15 }),
  fc.integer({ min: START - 1e10, max: START + 1e10 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e300),
)
const VERBS = ['start', 'stop', 'restart', 'invite', 'upgrade', 'backup', 'destroy', 'stats', 'explode', '']

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('request' as const), who: fc.nat(7), plan: fc.constantFrom('free' as const, 'gold' as const), private: fc.boolean(), claim }) },
  {
    weight: 8,
    arbitrary: fc.record(
      { kind: fc.constant('command' as const), who: fc.nat(7), target: fc.nat(), verb: fc.constantFrom(...VERBS), uses: fc.integer({ min: -5, max: 5000 }), version: fc.constantFrom('1', '2', '9', 'x y'), claim },
      { requiredKeys: ['kind', 'who', 'target', 'verb', 'claim'] },
    ),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('garbage' as const), who: fc.nat(7), shape: fc.nat(), claim }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('forged' as const), who: fc.nat(7), type: fc.nat(), target: fc.nat(), claim }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }) },
  // Mostly forward; now and then the provider's own clock is set back (an NTP step, a wrong RTC).
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 2 * 3_600_000 }) }, { weight: 1, arbitrary: fc.integer({ min: -3_600_000, max: -1 }) }) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'pass' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), order: fc.nat() }) },
)

/** Content shapes a broken or hostile client might send, addressed to the provider or not. */
function garbage(shape: number, author: FeedId, anyRequest: MsgId): Record<string, unknown> {
  const recps = [author, PROVIDER]
  const shapes: Array<Record<string, unknown>> = [
    { type: 'buttcloud/command', version: 1, request: anyRequest, verb: 'explode', recps },
    { type: 'buttcloud/command', version: 2, request: anyRequest, verb: 'stop', recps },
    { type: 'buttcloud/command', version: 1, request: 'not-an-id', verb: 'stop', recps },
    { type: 'buttcloud/command', version: 1, request: anyRequest, verb: 'invite', args: { uses: 1e9 }, recps },
    { type: 'buttcloud/command', version: 1, request: anyRequest, verb: 'stop', extra: true, recps },
    { type: 'buttcloud/request', version: 1, provider: PROVIDER, plan: 'x'.repeat(5000) },
    { type: 'buttcloud/request', version: 1, provider: PROVIDER, plan: ['free'], name: { evil: true } },
    { type: 'buttcloud/request', provider: PROVIDER },
    { type: 'buttcloud/request', version: 1, provider: PROVIDER, plan: 'free', recps: [author, PROVIDER, ...IDS] },
    { type: 'buttcloud/whatever', version: 1, recps },
    { type: 'buttcloud/', version: 1 },
    { type: 'buttcloud/command', version: 1, request: anyRequest, verb: 'stop', recps: [] },
    { type: 'not-ours', recps },
  ]
  return shapes[shape % shapes.length]!
}

/** Records only the provider may post, posted by someone else. */
function forged(type: number, author: FeedId, request: MsgId, command: MsgId): Record<string, unknown> {
  const recps = [author, PROVIDER]
  const all: Array<Record<string, unknown>> = [
    { ...samples['buttcloud/status'], request, recps },
    { type: 'buttcloud/reply', version: 1, command, ok: true, recps },
    { type: 'buttcloud/placement', version: 1, request, hub: 'hub-1', port: 20001, recps: [PROVIDER] },
    { type: 'buttcloud/payment', version: 1, request, event: 'evt_forged', kind: 'paid', at: 1, recps: [PROVIDER] },
    { ...samples['buttcloud/offer'] },
    { ...samples['buttcloud/stats'], request, recps: [author] },
  ]
  return all[type % all.length]!
}

/** Runs pubs in memory: every running pub is up, the rest are what they were asked to be. */
class ModelRuntime implements PubRuntime {
  readonly name = 'model'
  lastPubs: RuntimePub[] = []
  async reconcile(pubs: readonly RuntimePub[]) {
    this.lastPubs = [...pubs]
    const out = new Map<string, Observation>()
    for (const p of pubs) {
      if (p.intent === 'running') out.set(p.record.request, { state: 'up', pub: { id: PROVIDER, address: `net:127.0.0.1:20001~shs:${PROVIDER.slice(1, -8)}` } })
      else if (p.intent === 'stopped') out.set(p.record.request, { state: 'stopped' })
      else if (p.intent === 'destroyed') out.set(p.record.request, { state: 'destroyed' })
    }
    return out
  }
  async invite() {
    return INVITE
  }
  async stats(): Promise<StatsSummary> {
    return samples['buttcloud/stats'].summary
  }
  async backup() {
    return { url: 'https://pay.example.org/backups/x', expires: START, bytes: 1 }
  }
  async close() {}
}

/** A seeded permutation (a small LCG: the order only needs to differ from the log's, reproducibly). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items]
  let x = seed >>> 0
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    const j = x % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

interface Posted {
  key: MsgId
  content: Record<string, any>
}

/** One generated history, run to the end; returns how many messages it fed in. */
async function runHistory(steps: Step[]): Promise<number> {
  let clock = START
  /** The range of the provider's clock so far (it may be set back): refusal windows are counted over it. */
  let highest = START
  let lowest = START
  const seqs = new Map<FeedId, number>()
  const log: SsbMsg[] = []
  const authorOf = new Map<MsgId, FeedId>()
  const requests: Array<Received<PubRequest>> = []
  const commandsByRequest = new Map<MsgId, Array<Received<PubCommand>>>()
  const posted: Posted[] = []
  const runtime = new ModelRuntime()
  let ledger = new ControlLedger(CTX)
  let memory: PassMemory = newPassMemory(clock)
  let fed = 0

  const feed = (target: ControlLedger, raw: SsbMsg) => {
    const entry = classify(raw, PROVIDER)
    if (!entry) return
    applyEntry(target, entry)
  }
  const arrive = (author: FeedId, content: Record<string, unknown>, claimed: number) => {
    const sequence = (seqs.get(author) ?? 0) + 1
    seqs.set(author, sequence)
    const raw = { ...envelope(content, { author, sequence, timestamp: claimed, receivedAt: clock }), ...(content.recps ? { meta: { private: true } } : {}) } as unknown as SsbMsg
    log.push(raw)
    authorOf.set(raw.key, author)
    fed++
    feed(ledger, raw)
    const entry = classify(raw, PROVIDER)
    if (entry?.ok && 'm' in entry && entry.m.content.type === 'buttcloud/request' && entry.m.content.provider === PROVIDER) requests.push(entry.m as Received<PubRequest>)
    if (entry?.ok && 'm' in entry && entry.m.content.type === 'buttcloud/command') {
      const c = entry.m as Received<PubCommand>
      commandsByRequest.set(c.content.request, [...(commandsByRequest.get(c.content.request) ?? []), c])
    }
  }
  const deps = (): PassDeps => ({
    ledger,
    runtime,
    config: CONFIG,
    now: () => clock,
    log: () => undefined,
    publisher: {
      async publish(content) {
        const sequence = (seqs.get(PROVIDER) ?? 0) + 1
        seqs.set(PROVIDER, sequence)
        const raw = { ...envelope(content, { author: PROVIDER, sequence, receivedAt: clock }), meta: { private: true } } as unknown as SsbMsg
        log.push(raw)
        posted.push({ key: raw.key, content: content as Record<string, any> })
        feed(ledger, raw)
        return { key: raw.key, sequence }
      },
    },
  })
  const anyRequest = (n: number): MsgId => (requests.length ? requests[n % requests.length]!.key : msgId(`nothing ${n}`))

  for (const s of steps) {
    switch (s.kind) {
      case 'request':
        arrive(IDS[s.who]!, { type: 'buttcloud/request', version: 1, provider: PROVIDER, plan: s.plan, ...(s.private ? { recps: [IDS[s.who]!, PROVIDER] } : {}) }, s.claim)
        break
      case 'command': {
        const author = IDS[s.who]!
        const args = s.verb === 'invite' && s.uses !== undefined ? { uses: s.uses } : s.verb === 'upgrade' && s.version ? { version: s.version } : undefined
        arrive(author, { type: 'buttcloud/command', version: 1, request: anyRequest(s.target), verb: s.verb, ...(args ? { args } : {}), recps: [author, PROVIDER] }, s.claim)
        break
      }
      case 'garbage':
        arrive(IDS[s.who]!, garbage(s.shape, IDS[s.who]!, anyRequest(s.shape)), s.claim)
        break
      case 'forged': {
        const cmd = [...commandsByRequest.values()].flat()[s.target % Math.max(1, commandsByRequest.size)]
        arrive(IDS[s.who]!, forged(s.type, IDS[s.who]!, anyRequest(s.target), cmd?.key ?? msgId('no command')), s.claim)
        break
      }
      case 'replay':
        if (log.length) feed(ledger, log[s.pick % log.length]!)
        break
      case 'wait':
        clock += s.ms
        highest = Math.max(highest, clock)
        lowest = Math.min(lowest, clock)
        break
      case 'pass':
        await runPass(deps(), memory)
        checkInvariants(ledger, runtime, posted, authorOf, requests, commandsByRequest, highest - lowest)
        break
      case 'restart':
        // A new process: the ledger is read back from its index, in key order rather than log order (here: a seeded
        // shuffle of the log), and pass memory starts empty.
        ledger = new ControlLedger(CTX)
        for (const raw of shuffled(log, s.order)) feed(ledger, raw)
        memory = newPassMemory(clock)
        break
    }
  }
  await runPass(deps(), memory)
  checkInvariants(ledger, runtime, posted, authorOf, requests, commandsByRequest, highest - lowest)
  return fed
}

function checkInvariants(
  ledger: ControlLedger,
  runtime: ModelRuntime,
  posted: readonly Posted[],
  authorOf: ReadonlyMap<MsgId, FeedId>,
  requests: ReadonlyArray<Received<PubRequest>>,
  commandsByRequest: ReadonlyMap<MsgId, ReadonlyArray<Received<PubCommand>>>,
  clockSpan: number,
): void {
  // No identity holds more than its share: live pubs per owner, in the ledger and in what the runtime was handed.
  const live = new Map<FeedId, number>()
  for (const r of ledger.records()) if (!r.rejected && r.intent !== 'destroyed') live.set(r.owner, (live.get(r.owner) ?? 0) + 1)
  for (const [owner, n] of live) expect(n, `live pubs of ${owner}`).toBeLessThanOrEqual(CTX.pubsPerOwner)
  const handed = new Map<FeedId, number>()
  for (const p of runtime.lastPubs) if (p.intent === 'running' || p.intent === 'stopped') handed.set(p.record.owner, (handed.get(p.record.owner) ?? 0) + 1)
  for (const [owner, n] of handed) expect(n, `pubs of ${owner} given to the runtime`).toBeLessThanOrEqual(CTX.pubsPerOwner)

  // Only an owner changes a pub: its record is what the owner's own commands alone make of it.
  for (const req of requests) {
    const record = ledger.record(req.key)
    if (!record) continue
    const own = (commandsByRequest.get(req.key) ?? []).filter((c) => c.author === req.author)
    const alone = foldPub(req, own, CTX, 0, 0)
    const desired = (r: PubRecord) => ({ intent: r.intent, restartGeneration: r.restartGeneration, version: r.version, destroyedAt: r.destroyedAt })
    const show = (r: PubRecord) => JSON.stringify(r.commands.map((c) => [c.sequence, c.author.slice(0, 5), c.verb, c.args, c.verdict.ok]))
    if (!record.rejected) expect(desired(record), `ledger ${show(record)} alone ${show(alone)}`).toEqual(desired(alone))
  }

  // Every command is answered at most once, each reply goes to the command's author, and nothing is public.
  const replies = new Map<MsgId, number>()
  const refusals = new Map<FeedId, number>()
  for (const p of posted) {
    expect(p.content.recps, `${p.content.type} without recps`).toBeDefined()
    expect(p.content.recps.length).toBeGreaterThan(0)
    if (p.content.type === 'buttcloud/reply') {
      replies.set(p.content.command, (replies.get(p.content.command) ?? 0) + 1)
      const to = authorOf.get(p.content.command)
      expect(to, 'a reply to something nobody sent').toBeDefined()
      expect(p.content.recps).toEqual(to === PROVIDER ? [PROVIDER] : [to, PROVIDER])
      if (!p.content.ok) refusals.set(to!, (refusals.get(to!) ?? 0) + 1)
    }
    if (p.content.type === 'buttcloud/status') {
      const record = ledger.record(p.content.request)
      expect(record, 'a status for an unknown pub').toBeDefined()
      expect(p.content.recps).toEqual([record!.owner, PROVIDER])
    }
  }
  for (const [command, n] of replies) expect(n, `replies to ${command}`).toBe(1)
  // Refusals: at most the cap per window, over the windows the provider's clock spanned.
  const windows = Math.floor(clockSpan / CONFIG.refusalWindowMs) + 1
  for (const [to, n] of refusals) expect(n, `refusals to ${to}`).toBeLessThanOrEqual(CONFIG.refusalsPerAuthor * windows)
}

/** Feed messages into a fresh ledger and return its records without the shown-only fields. */
function recordsOf(messages: readonly SsbMsg[]): unknown[] {
  const ledger = new ControlLedger(CTX)
  for (const raw of messages) {
    const entry = classify(raw, PROVIDER)
    if (entry) applyEntry(ledger, entry)
  }
  return ledger
    .records()
    .map((r) => ({ ...r, commands: r.commands.map(({ timestamp: _shown, ...c }) => c) }))
    .sort((a, b) => (a.request < b.request ? -1 : 1))
}

let messagesTried = 0
afterAll(() => {
  console.log(`hostile input: ${messagesTried} generated messages fed through the control plane (seed ${SEED})`)
})

describe('the control plane under generated hostile input', () => {
  it('keeps every invariant through passes and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 200, maxLength: 350 }), async (steps) => {
        messagesTried += await runHistory(steps)
      }),
      { seed: SEED, numRuns: 70, endOnFailure: true },
    )
    expect(messagesTried).toBeGreaterThanOrEqual(10_000)
  }, 120_000)

  it('folds the same records whatever the arrival order and whatever timestamps the authors signed', () => {
    const message = fc.record({
      who: fc.nat(3),
      kind: fc.constantFrom('request', 'command'),
      target: fc.nat(),
      verb: fc.constantFrom('start', 'stop', 'restart', 'destroy', 'upgrade', 'invite'),
      claim,
    })
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 80 }), fc.infiniteStream(fc.nat()), fc.infiniteStream(claim), (items, order, claims) => {
        const seqs = new Map<FeedId, number>()
        const requestKeys: MsgId[] = []
        const made = items.map((m, i) => {
          const author = IDS[m.who]!
          const sequence = (seqs.get(author) ?? 0) + 1
          seqs.set(author, sequence)
          const content =
            m.kind === 'request' || requestKeys.length === 0
              ? { type: 'buttcloud/request', version: 1, provider: PROVIDER, plan: 'free' }
              : { type: 'buttcloud/command', version: 1, request: requestKeys[m.target % requestKeys.length], verb: m.verb, recps: [author, PROVIDER] }
          const raw = envelope(content, { author, sequence, timestamp: m.claim, receivedAt: START + i * 1000 }) as unknown as SsbMsg
          if (content.type === 'buttcloud/request') requestKeys.push(raw.key)
          return raw
        })
        messagesTried += made.length
        // Another arrival order, and every signed timestamp replaced: the receive times travel with the messages.
        const it = order[Symbol.iterator]()
        const shuffled = made.map((raw) => ({ raw, k: it.next().value as number })).sort((a, b) => a.k - b.k).map((x) => x.raw)
        const cit = claims[Symbol.iterator]()
        const reclaimed = shuffled.map((raw) => ({ ...raw, value: { ...raw.value, timestamp: cit.next().value as number } }))
        expect(recordsOf(reclaimed)).toEqual(recordsOf(made))
      }),
      { seed: SEED, numRuns: 200, endOnFailure: true },
    )
  })
})
