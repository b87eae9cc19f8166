/**
 * The ButtCloud secret-stack plugin: indexes request and command messages, folds them into pub records,
 * answers commands, lets a runtime converge, and posts statuses. Over muxrpc it is read-only: owners may list
 * and watch their own pubs, the operator (master) may list all. User intent arrives only as signed messages.
 */
import { ControlLedger } from '../../src/control/ledger.js'
import type { PubRuntime, RuntimeFactory } from '../../src/control/runtime.js'
import { checkOutgoing, type ButtcloudContent } from '../../src/protocol/parse.js'
import type { FeedId } from '../../src/protocol/ids.js'
import type { Offer } from '../../src/protocol/offer.js'
import type { PubStatus } from '../../src/protocol/status.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import { pull, pushable, type Source } from '../../src/ssb/pull.js'
import type { Sbot, SbotPlugin } from '../../src/ssb/server.js'
import { buildOffer, pluginConfig, type ButtcloudPluginConfig } from './config.js'
import { startIntake } from './intake.js'
import type { PaymentHooks } from '../../src/control/payment-hooks.js'
import { newPassMemory, runPass, type Publisher } from './pass.js'
import type { PaymentFact } from '../../src/protocol/payment.js'
import type { StatsSummary } from '../../src/protocol/stats.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { createScheduler } from './scheduler.js'
import { summarise, type PubSummary } from './views.js'

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
  /** In-process only: record a payment fact once (by its event), as a message boxed to the provider alone. */
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
  log?: (line: string) => void
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
    init(sbot: Sbot, config: { keys: SsbKeys; buttcloud?: Partial<ButtcloudPluginConfig> }): ButtcloudApi {
      const cfg = pluginConfig(config.buttcloud)
      const now = deps.now ?? Date.now
      const log = deps.log ?? ((line: string) => console.error(`[buttcloud] ${line}`))
      const ledger = new ControlLedger({
        provider: sbot.id,
        plans: new Set(cfg.plans.map((p) => p.id)),
        versions: new Set(cfg.versions),
        pubsPerOwner: cfg.pubsPerOwner,
        inviteMaxUses: cfg.inviteMaxUses,
      })
      const watchers = new Map<FeedId, Set<ReturnType<typeof pushable<PubSummary>>>>()
      const memory = newPassMemory(now())
      let caughtUp = false
      let firstPass: () => void = () => undefined
      const firstPassDone = new Promise<void>((resolve) => (firstPass = resolve))

      /** Resolves once everything published so far is written to the log on disk. */
      const drained = () => new Promise<void>((resolve) => sbot.db.onDrain(() => resolve()))

      /**
       * Publish one of the provider's own records (offer, placement, payment), wait until it is on disk (ssb-db2
       * answers a publish before its write is flushed), and put it into the ledger at once, so the next pass sees
       * it even before the index has caught up.
       */
      async function publishOwn(content: ButtcloudContent & { recps?: FeedId[] }): Promise<void> {
        const msg = await publish(sbot.db, content)
        await drained()
        const { value } = msg
        ledger.add({ key: msg.key, author: sbot.id, sequence: value.sequence, timestamp: value.timestamp, receivedAt: msg.timestamp, private: Boolean(content.recps), content })
      }

      const publisher: Publisher = {
        async publish(content) {
          const msg = await publish(sbot.db, content)
          return { key: msg.key, sequence: msg.value.sequence }
        },
      }

      const runtime: PubRuntime | undefined = deps.runtime?.({
        providerKeys: config.keys,
        providerId: sbot.id,
        log,
        requestPass: () => scheduler.request(),
        async recordPlacement(request, hub, port) {
          // On disk before anything is built on it.
          await publishOwn(checkOutgoing('buttcloud/placement', { type: 'buttcloud/placement', version: 1, request, hub, port, recps: [sbot.id] }))
        },
        async releasePlacement(request, hub, port) {
          // On disk before the next pass may hand the port out again.
          await publishOwn(checkOutgoing('buttcloud/release', { type: 'buttcloud/release', version: 1, request, hub, port, recps: [sbot.id] }))
        },
      })

      // Facts being published right now: a second delivery of the same event waits for nothing and is a duplicate.
      const recordingPayments = new Set<string>()
      async function recordPayment(fact: PaymentFact): Promise<'recorded' | 'duplicate'> {
        if (ledger.hasPaymentEvent(fact.event) || recordingPayments.has(fact.event)) return 'duplicate'
        // Not acknowledged, so Stripe retries: a fact that might not reach the disk must not be answered 200.
        const short = deps.diskShortage?.()
        if (short) throw new Error(`not recorded: ${short}`)
        recordingPayments.add(fact.event)
        try {
          // On disk before the webhook is answered: Stripe then stops retrying, so this must not be lost.
          await publishOwn(checkOutgoing('buttcloud/payment', { ...fact, recps: [sbot.id] }))
          scheduler.request()
          return 'recorded'
        } finally {
          recordingPayments.delete(fact.event)
        }
      }

      const onStatus = (owner: FeedId, status: PubStatus) => {
        const record = ledger.record(status.request)
        if (!record) return
        for (const w of watchers.get(owner) ?? []) w.push(summarise(ledger, record))
      }

      /** The disk shortage the last pass saw, to log only changes. */
      let shortage: string | undefined
      const scheduler = createScheduler(
        async () => {
          if (!caughtUp) return
          const short = deps.diskShortage?.()
          if (short !== undefined) {
            if (shortage === undefined) log(`disk nearly full, writing nothing until space is freed: ${short}`)
            shortage = short
            // Start-up is not held up by a full disk: the provider serves what it has and waits for room.
            firstPass()
            return
          }
          if (shortage !== undefined) log('disk has room again: passes resume')
          shortage = undefined
          await publishOfferIfChanged()
          await runPass({ ledger, publisher, runtime, config: cfg, now, log, onStatus, payment: deps.payment, recordPayment }, memory)
          // A pass's replies and statuses are durable before the next pass reads the world again.
          await drained()
          firstPass()
        },
        {
          debounceMs: cfg.debounceMs,
          intervalMs: cfg.passIntervalMs,
          maxBackoffMs: cfg.maxBackoffMs,
          onError: (err) => log(`pass failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`),
        },
      )

      async function publishOfferIfChanged() {
        const offer: Offer = buildOffer(cfg)
        if (JSON.stringify(ledger.latestOwnOffer()) === JSON.stringify(offer)) return
        await publishOwn(offer)
      }

      const intake = startIntake(sbot.db, ledger, () => scheduler.request())
      intake.caughtUp.then(() => {
        caughtUp = true
        scheduler.request()
      })

      sbot.close.hook?.((fn: Function, args: unknown[]) => {
        scheduler.stop()
        for (const set of watchers.values()) for (const w of set) w.end()
        const closeRuntime = runtime?.close() ?? Promise.resolve()
        closeRuntime.catch((err) => log(`closing the runtime failed: ${err}`)).finally(() => fn.apply(sbot, args))
      })

      const health = (): ProviderHealth => ({
        caughtUp,
        ...ledger.size,
        runtime: runtime?.name ?? 'none',
        engineError: memory.engineError,
        failingPasses: scheduler.failures,
        ignoredMessages: intake.stats.ignored,
        indexedMessages: intake.stats.stored,
      })

      const api: ButtcloudApi = {
        myPubs(this: { id?: FeedId } | undefined, cb) {
          const caller = this?.id ?? sbot.id
          cb(null, ledger.recordsOf(caller).map((r) => summarise(ledger, r)))
        },
        watch(this: { id?: FeedId } | undefined) {
          const caller = this?.id ?? sbot.id
          const set = watchers.get(caller) ?? new Set()
          watchers.set(caller, set)
          const stream = pushable<PubSummary>(() => set.delete(stream))
          for (const r of ledger.recordsOf(caller)) stream.push(summarise(ledger, r))
          set.add(stream)
          return stream.source
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
              log(`live stats for ${record.request} failed: ${err instanceof Error ? err.message : String(err)}`)
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
          cb(null, health())
        },
        ready: () => firstPassDone,
        settled: () => scheduler.idle(),
        ledger: () => ledger,
        recordPayment,
      }
      return api
    },
  }
}
