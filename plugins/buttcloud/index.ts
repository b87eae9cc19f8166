/**
 * The ButtCloud secret-stack plugin: indexes request and command messages, folds them into pub records,
 * answers commands, lets a runtime converge, and posts statuses. Over muxrpc it is read-only: owners may list
 * and watch their own pubs, the operator (master) may list all. User intent arrives only as signed messages.
 */
import { ControlLedger } from '../../src/control/ledger.js'
import { createLogger, logTo, type Log } from '../../src/log/logger.js'
import type { PubRuntime, RuntimeFactory } from '../../src/control/runtime.js'
import { checkOutgoing, type ButtcloudContent } from '../../src/protocol/parse.js'
import type { FeedId } from '../../src/protocol/ids.js'
import type { Offer } from '../../src/protocol/offer.js'
import type { PubStatus } from '../../src/protocol/status.js'
import { publish } from '../../src/ssb/db2.js'
import { isStatusPost } from '../../src/protocol/post.js'
import { BOX1_KEYS_FILE, installBox1KeyCache } from '../../src/ssb/box1-key-cache.js'
import { join } from 'node:path'
import type { SsbKeys } from '../../src/ssb/keys.js'
import { pull, pushable, type Source } from '../../src/ssb/pull.js'
import type { Sbot, SbotPlugin } from '../../src/ssb/server.js'
import { buildOffer, pluginConfig, type ButtcloudPluginConfig } from './config.js'
import { startIntake, type IntakeStats } from './intake.js'
import type { PaymentHooks } from '../../src/control/payment-hooks.js'
import { newPassMemory, runPass, type PassMemory, type Publisher } from './pass.js'
import type { PaymentFact } from '../../src/protocol/payment.js'
import type { StatsSummary } from '../../src/protocol/stats.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { createScheduler, type PassScheduler } from './scheduler.js'
import { crashPoint } from '../../src/faults/crash-point.js'
import { summarise, type PubSummary } from './views.js'
import { openPrivateRecords, type PrivateRecords } from './private-records.js'

export const manifest = {
  myPubs: 'async',
  watch: 'source',
  stats: 'source',
  listAll: 'async',
  health: 'async',
} as const

/** What the plugin's init returns; a test checks it matches the manifest. */
export interface ButtcloudApi {
  myPubs(cb: (err: Error | null, pubs?: PubSummary[]) => void): void
  watch(): Source<PubSummary>
  /** Live stats of one of the caller's own pubs, sampled every `liveStatsMs`. */
  stats(request: string): Source<StatsSummary>
  listAll(cb: (err: Error | null, pubs?: PubSummary[]) => void): void
  health(cb: (err: Error | null, health?: ProviderHealth) => void): void
  /** In-process only (not in the manifest): resolves once the log is read and one pass has run. */
  ready(): Promise<void>
  /** In-process only: resolves when no pass is running or queued. */
  settled(): Promise<void>
  /** In-process only: the ledger, for the payment site and the operator tools. */
  ledger(): ControlLedger
  /** In-process only: record a payment fact once (by its event), in the private records journal (on no feed). */
  recordPayment(fact: PaymentFact): Promise<'recorded' | 'duplicate'>
}

export interface ProviderHealth {
  caughtUp: boolean
  requests: number
  messages: number
  runtime: string
  engineError?: string
  failingPasses: number
  ignoredMessages: number
  indexedMessages: number
}

export interface PluginDeps {
  /** What runs pubs, built once the sbot exists; absent until one is configured (statuses then say "queued"). */
  runtime?: RuntimeFactory
  /** Payment hooks, when the provider takes payment (free mode otherwise). */
  payment?: PaymentHooks
  now?: () => number
  /** Where the plugin logs (default: JSON lines on stderr, component `provider`). */
  log?: Log
  /** Why the provider must not write now (its disk is nearly full), or undefined: passes and payment records wait meanwhile. */
  diskShortage?: () => string | undefined
}

/** Build the plugin with its collaborators passed in (no module-level singletons). */
export function createButtcloudPlugin(deps: PluginDeps = {}): SbotPlugin {
  return {
    name: 'buttcloud',
    version: '1.0.0',
    manifest: { ...manifest },
    // Strangers may ask only about their own pubs; listAll and health are for the operator (master).
    permissions: { anonymous: { allow: ['myPubs', 'watch', 'stats'] } },
    init(sbot: Sbot, config: { path: string; keys: SsbKeys; buttcloud?: Partial<ButtcloudPluginConfig> }): ButtcloudApi {
      // Before ssb-db2 reads the log: a rebuilt index then opens each private message with its remembered key.
      const keyCache = installBox1KeyCache(sbot, join(config.path, BOX1_KEYS_FILE))
      const cfg = pluginConfig(config.buttcloud)
      const now = deps.now ?? Date.now
      const log = deps.log ?? logTo(createLogger('provider'))
      const ledger = ledgerFor(sbot.id, cfg)
      const records = openPrivateRecords({ dataPath: config.path, ledger, now, feedLatest: () => feedLatest(sbot) })
      const own = ownRecords(sbot, ledger, records)
      const watchers = new Watchers(ledger)
      const memory = newPassMemory(now())
      const requestPass = () => loop.scheduler.request()
      const runtime = startRuntime(deps.runtime, sbot, config.keys, own, log, requestPass)
      const recordPayment = paymentRecorder(ledger, own, deps.diskShortage, requestPass)
      const loop = passLoop({ sbot, ledger, own, cfg, now, log, memory, runtime, watchers, payment: deps.payment, recordPayment, diskShortage: deps.diskShortage })
      const intake = startIntake(sbot.db, ledger, requestPass, cfg.plans.map((p) => p.id), config.keys)
      intake.caughtUp.then(() => {
        loop.caughtUp = true
        requestPass()
      })
      closeWithSbot(sbot, loop.scheduler, watchers, runtime, log, records, () => keyCache?.flush())
      return rpcApi({ sbot, ledger, cfg, log, runtime, watchers, loop, recordPayment, health: () => healthOf(loop, ledger, runtime, memory, intake.stats) })
    },
  }
}

function ledgerFor(provider: FeedId, cfg: ButtcloudPluginConfig): ControlLedger {
  return new ControlLedger({
    provider,
    plans: new Set(cfg.plans.map((p) => p.id)),
    versions: new Set(cfg.versions),
    pubsPerOwner: cfg.pubsPerOwner,
    inviteMaxUses: cfg.inviteMaxUses,
  })
}

/** How the provider writes its own records: the offer on its feed, placements and payments in its private journal. */
interface OwnRecords {
  /**
   * Publish the provider's offer, wait until it is on disk (ssb-db2 answers a publish before its write is flushed),
   * and put it into the ledger at once, so the next pass sees it even before the index has caught up.
   */
  publishOwn(content: ButtcloudContent & { recps?: FeedId[] }): Promise<void>
  /** Placements, releases and payment facts: only the provider reads them, so they stay off the feed. */
  records: PrivateRecords
  /** Replies, status posts and stats: the pass notes them in the ledger itself. */
  publisher: Publisher
  /** Resolves once everything published so far is written to the log on disk. */
  drained(): Promise<void>
}

function ownRecords(sbot: Sbot, ledger: ControlLedger, records: PrivateRecords): OwnRecords {
  const drained = () => new Promise<void>((resolve) => sbot.db.onDrain(() => resolve()))
  return {
    drained,
    records,
    async publishOwn(content) {
      const msg = await publish(sbot.db, content)
      crashPoint(`published:${content.type}`)
      await drained()
      const { value } = msg
      ledger.add({ key: msg.key, author: sbot.id, sequence: value.sequence, timestamp: value.timestamp, receivedAt: msg.timestamp, private: Boolean(content.recps), content })
    },
    publisher: {
      async publish(content) {
        const msg = await publish(sbot.db, content)
        // A status post is named by the status it carries, so crash points keep naming the step, whatever the form.
        crashPoint(`published:${isStatusPost(content) ? 'buttcloud/status' : content.type}`)
        return { key: msg.key, sequence: msg.value.sequence }
      },
    },
  }
}

/** The runtime the provider configured, given a host whose placements go on disk before anything is built on them. */
function startRuntime(
  factory: RuntimeFactory | undefined,
  sbot: Sbot,
  keys: SsbKeys,
  own: OwnRecords,
  log: Log,
  requestPass: () => void,
): PubRuntime | undefined {
  return factory?.({
    providerKeys: keys,
    providerId: sbot.id,
    log,
    requestPass,
    async recordPlacement(request, hub, port, why) {
      // On disk before anything is built on it.
      const content = { type: 'buttcloud/placement' as const, version: 1 as const, request, hub, port, recps: [sbot.id], ...(why ? { why } : {}) }
      await own.records.write(checkOutgoing('buttcloud/placement', content))
      // A journal write wakes nothing (a feed message used to, through the index): the next step is built on it now.
      requestPass()
    },
    async releasePlacement(request, hub, port) {
      // On disk before the next pass may hand the port out again.
      await own.records.write(checkOutgoing('buttcloud/release', { type: 'buttcloud/release', version: 1, request, hub, port, recps: [sbot.id] }))
      requestPass()
    },
  })
}

/** Records a payment fact once (by its event), on disk before it resolves; a second delivery is a duplicate. */
function paymentRecorder(
  ledger: ControlLedger,
  own: OwnRecords,
  diskShortage: (() => string | undefined) | undefined,
  requestPass: () => void,
): (fact: PaymentFact) => Promise<'recorded' | 'duplicate'> {
  // Facts being published right now: a second delivery of the same event waits for nothing and is a duplicate.
  const recording = new Set<string>()
  return async (fact) => {
    if (ledger.hasPaymentEvent(fact.event) || recording.has(fact.event)) return 'duplicate'
    // Not acknowledged, so Stripe retries: a fact that might not reach the disk must not be answered 200.
    const short = diskShortage?.()
    if (short) throw new Error(`not recorded: ${short}`)
    recording.add(fact.event)
    try {
      // On disk before the webhook is answered: Stripe then stops retrying, so this must not be lost.
      await own.records.write(checkOutgoing('buttcloud/payment', { ...fact, recps: [ledger.provider] }))
      requestPass()
      return 'recorded'
    } finally {
      recording.delete(fact.event)
    }
  }
}

/** Live `watch` streams per owner, fed every status posted for one of their pubs. */
class Watchers {
  private readonly byOwner = new Map<FeedId, Set<ReturnType<typeof pushable<PubSummary>>>>()

  constructor(private readonly ledger: ControlLedger) {}

  /** A stream of the owner's pubs now, then of each one whose status changes. */
  open(owner: FeedId): Source<PubSummary> {
    const set = this.byOwner.get(owner) ?? new Set()
    this.byOwner.set(owner, set)
    const stream = pushable<PubSummary>(() => set.delete(stream))
    for (const r of this.ledger.recordsOf(owner)) stream.push(summarise(this.ledger, r))
    set.add(stream)
    return stream.source
  }

  /** A status was posted: tell the owner's watchers. */
  onStatus(owner: FeedId, status: PubStatus): void {
    const record = this.ledger.record(status.request)
    if (!record) return
    for (const w of this.byOwner.get(owner) ?? []) w.push(summarise(this.ledger, record))
  }

  endAll(): void {
    for (const set of this.byOwner.values()) for (const w of set) w.end()
  }
}

interface PassLoop {
  scheduler: PassScheduler
  /** Set once the index has read the whole log: no pass plans from a half-read log. */
  caughtUp: boolean
  /** Resolves after the first pass (or at once on a full disk). */
  firstPassDone: Promise<void>
}

/** The scheduled reconcile pass: waits for the log, holds off while the disk is nearly full, publishes the offer. */
function passLoop(opts: {
  sbot: Sbot
  ledger: ControlLedger
  own: OwnRecords
  cfg: ButtcloudPluginConfig
  now: () => number
  log: Log
  memory: PassMemory
  runtime: PubRuntime | undefined
  watchers: Watchers
  payment: PaymentHooks | undefined
  recordPayment: (fact: PaymentFact) => Promise<unknown>
  diskShortage: (() => string | undefined) | undefined
}): PassLoop {
  const { ledger, own, cfg, now, log } = opts
  let firstPass: () => void = () => undefined
  const firstPassDone = new Promise<void>((resolve) => (firstPass = resolve))
  /** The disk shortage the last pass saw, to log only changes. */
  let shortage: string | undefined

  async function publishOfferIfChanged() {
    const offer: Offer = buildOffer(cfg)
    if (JSON.stringify(ledger.latestOwnOffer()) === JSON.stringify(offer)) return
    await own.publishOwn(offer)
  }

  const loop: PassLoop = {
    caughtUp: false,
    firstPassDone,
    scheduler: createScheduler(
      async () => {
        if (!loop.caughtUp) return
        const short = opts.diskShortage?.()
        if (short !== undefined) {
          if (shortage === undefined) log(`disk nearly full, writing nothing until space is freed: ${short}`, {}, 'warn')
          shortage = short
          // Start-up is not held up by a full disk: the provider serves what it has and waits for room.
          firstPass()
          return
        }
        if (shortage !== undefined) log('disk has room again: passes resume')
        shortage = undefined
        await publishOfferIfChanged()
        await runPass(
          {
            ledger,
            publisher: own.publisher,
            runtime: opts.runtime,
            config: cfg,
            now,
            log,
            onStatus: (owner, status) => opts.watchers.onStatus(owner, status),
            payment: opts.payment,
            recordPayment: opts.recordPayment,
          },
          opts.memory,
        )
        // A pass's replies and statuses are durable before the next pass reads the world again.
        await own.drained()
        firstPass()
      },
      {
        debounceMs: cfg.debounceMs,
        intervalMs: cfg.passIntervalMs,
        maxBackoffMs: cfg.maxBackoffMs,
        onError: (err) => log(`pass failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, {}, 'error'),
      },
    ),
  }
  return loop
}

/** On close: stop passing, end the watchers, write the key cache, close the runtime and the records journal, then let the sbot close. */
function closeWithSbot(sbot: Sbot, scheduler: PassScheduler, watchers: Watchers, runtime: PubRuntime | undefined, log: Log, records: PrivateRecords, flush: () => void): void {
  sbot.close.hook?.((fn: Function, args: unknown[]) => {
    scheduler.stop()
    watchers.endAll()
    flush()
    const closeRuntime = runtime?.close() ?? Promise.resolve()
    closeRuntime
      .catch((err) => log(`closing the runtime failed: ${err}`, {}, 'error'))
      .finally(() => {
        records.close()
        fn.apply(sbot, args)
      })
  })
}

/** The sequence of the provider's latest message on its feed (0 for a new feed). */
function feedLatest(sbot: Sbot): Promise<number> {
  const getFeedState = sbot.getFeedState as (id: FeedId, cb: (err: Error | null, state?: { sequence: number }) => void) => void
  return new Promise((resolve, reject) => getFeedState(sbot.id, (err, state) => (err || !state ? reject(err ?? new Error('no feed state')) : resolve(state.sequence))))
}

function healthOf(loop: PassLoop, ledger: ControlLedger, runtime: PubRuntime | undefined, memory: PassMemory, intake: IntakeStats): ProviderHealth {
  return {
    caughtUp: loop.caughtUp,
    ...ledger.size,
    runtime: runtime?.name ?? 'none',
    engineError: memory.engineError,
    failingPasses: loop.scheduler.failures,
    ignoredMessages: intake.ignored,
    indexedMessages: intake.stored,
  }
}

/** The muxrpc methods (and in-process extras): owners see only their own pubs; nothing here changes anything. */
function rpcApi(opts: {
  sbot: Sbot
  ledger: ControlLedger
  cfg: ButtcloudPluginConfig
  log: Log
  runtime: PubRuntime | undefined
  watchers: Watchers
  loop: PassLoop
  recordPayment: (fact: PaymentFact) => Promise<'recorded' | 'duplicate'>
  health: () => ProviderHealth
}): ButtcloudApi {
  const { sbot, ledger, runtime, log, cfg } = opts
  return {
    myPubs(this: { id?: FeedId } | undefined, cb) {
      const caller = this?.id ?? sbot.id
      cb(null, ledger.recordsOf(caller).map((r) => summarise(ledger, r)))
    },
    watch(this: { id?: FeedId } | undefined) {
      return opts.watchers.open(this?.id ?? sbot.id)
    },
    stats(this: { id?: FeedId } | undefined, request: string) {
      const caller = this?.id ?? sbot.id
      const record = typeof request === 'string' ? ledger.record(request as MsgId) : undefined
      let timer: NodeJS.Timeout | undefined
      let closed = false
      const stream = pushable<StatsSummary>(() => {
        closed = true
        clearTimeout(timer)
      })
      if (!record || record.owner !== caller) {
        // The same answer for "no such pub" and "not yours": nothing about other people's pubs leaks.
        return pull.error(new Error('no such pub of yours'))
      }
      if (!runtime) return pull.error(new Error('this provider runs no pubs yet'))
      const sample = async () => {
        if (closed) return
        try {
          stream.push(await runtime.stats(record))
        } catch (err) {
          log(`live stats for ${record.request} failed: ${err instanceof Error ? err.message : String(err)}`, { request: record.request }, 'warn')
        }
        if (closed) return
        timer = setTimeout(sample, cfg.liveStatsMs)
        timer.unref()
      }
      void sample()
      return stream.source
    },
    listAll(cb) {
      cb(null, ledger.records().map((r) => summarise(ledger, r)))
    },
    health(cb) {
      cb(null, opts.health())
    },
    ready: () => opts.loop.firstPassDone,
    settled: () => opts.loop.scheduler.idle(),
    ledger: () => ledger,
    recordPayment: opts.recordPayment,
  }
}
