/**
 * Payment for a provider: settings from the environment, the hooks the control plane calls (standings, pay
 * links, cancelling on destroy) and the payment site over the control plane's ledger. Without Stripe keys
 * (the embedded default) every plan is free and the site only shows that, plus the terms and privacy pages.
 */
import { createHmac } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import type { Hono } from 'hono'
import Stripe from 'stripe'
import type { PaymentHooks } from '../control/payment-hooks.js'
import type { ButtcloudApi } from '../../plugins/buttcloud/index.js'
import { cancelRequestedFact } from '../payment/facts.js'
import { needsPayment, paymentConfigFromEnv, type PaymentConfig } from '../payment/config.js'
import { paymentStanding } from '../payment/lifecycle.js'
import { payLinkUrl } from '../payment/links.js'
import { cancelSubscriptionsOf } from '../drivers/stripe-billing.js'
import { findBackup } from '../orchestrator/backups.js'
import type { Log } from '../log/logger.js'
import type { FeedId } from '../protocol/ids.js'
import type { PaymentFact } from '../protocol/payment.js'
import type { PubRecord } from '../control/record.js'
import type { Directory, DirectoryEntry, Ledger } from '../../web/types.js'
import { paymentEventProcessor } from '../../web/webhook.js'
import { readBackSince, syncStripeEvents, type StripeSyncResult } from '../../web/stripe-sync.js'
import type { Offer, Plan } from '../protocol/offer.js'
import type { SsbKeys } from '../ssb/keys.js'
import { createPaymentSite, serveSite, type RunningSite } from '../../web/index.js'
import type { SiteMetrics } from '../../web/metrics.js'

export interface PaymentSetup {
  config: PaymentConfig
  /** The Stripe client; absent in free mode. */
  stripe?: Stripe
  linkSecret: string
  /** Public URL of the payment site (pay links, Checkout's return pages). */
  baseUrl: string
}

/**
 * Read payment settings from the environment. The pay-link secret defaults to one derived from the provider's
 * own key, so links survive restarts without another secret to manage. STRIPE_API_BASE points the client at
 * another Stripe endpoint (the tests' local fake).
 */
export function paymentSetup(env: NodeJS.ProcessEnv, keys: SsbKeys, baseUrl: string): PaymentSetup {
  const derived = createHmac('sha256', Buffer.from(keys.private.replace(/\.ed25519$/, ''), 'base64'))
    .update('buttcloud pay links v1')
    .digest('hex')
  const config = paymentConfigFromEnv({ ...env, BUTTCLOUD_PAY_LINK_SECRET: env.BUTTCLOUD_PAY_LINK_SECRET || derived })
  let stripe: Stripe | undefined
  if (config.stripe) {
    const api = env.STRIPE_API_BASE ? new URL(env.STRIPE_API_BASE) : undefined
    stripe = new Stripe(config.stripe.secretKey, {
      telemetry: false,
      ...(api ? { host: api.hostname, port: Number(api.port || (api.protocol === 'http:' ? 80 : 443)), protocol: api.protocol.replace(':', '') as 'http' | 'https' } : {}),
    })
  }
  return { config, stripe, linkSecret: config.linkSecret ?? derived, baseUrl: baseUrl.replace(/\/+$/, '') }
}

/** The control plane's payment hooks for these plans. */
export function paymentHooks(setup: PaymentSetup, plans: readonly Plan[], provider: FeedId): PaymentHooks {
  const price = new Map(plans.map((p) => [p.id, p.price]))
  const paid = (plan: string) => needsPayment(setup.config, price.get(plan) ?? 0)
  return {
    standing(record, payments, now) {
      if (!paid(record.plan)) return undefined
      return paymentStanding(record.request, payments, { requestedAt: record.requestedAt, now, timers: setup.config.timers, free: false })
    },
    paymentUrl(record) {
      return paid(record.plan) ? payLinkUrl(setup.baseUrl, setup.linkSecret, record.request) : undefined
    },
    async onDestroy(record, command, standing, now) {
      if (!setup.stripe || !standing?.subscription) return undefined
      await cancelSubscriptionsOf(setup.stripe, record.request, [standing.subscription], `buttcloud-cancel-${command}`)
      return cancelRequestedFact({ provider, request: record.request, command, subscription: standing.subscription, customer: standing.customer, at: now })
    },
    async billingPortalUrl(record, standing) {
      if (!setup.stripe || !standing?.customer) return undefined
      // The portal's Return button leads to the pay page, which shows the pub's state and the Manage button.
      const session = await setup.stripe.billingPortal.sessions.create({ customer: standing.customer, return_url: payLinkUrl(setup.baseUrl, setup.linkSecret, record.request) })
      return session.url
    },
  }
}

/** Serve the payment site over the running provider's ledger. */
export async function startPaymentSite(opts: {
  api: ButtcloudApi
  provider: FeedId
  offer: Offer
  setup: PaymentSetup
  host: string
  port: number
  termsText?: string
  privacyText?: string
  /** Where the site logs (default: JSON lines on stderr, component `site`). */
  log?: Log
  /** The folder of pub backups to serve under /backups (their names are unguessable tokens). */
  backupsDir?: string
  /** See PaymentSiteOptions.trustProxy. */
  trustProxy?: boolean
  /** See PaymentSiteOptions.metrics and metricsRoute. */
  metrics?: SiteMetrics
  metricsRoute?: boolean
}): Promise<RunningSite> {
  const { api, setup } = opts
  const app = createPaymentSite({
    stripe: setup.stripe,
    webhookSecret: setup.config.stripe?.webhookSecret,
    webhookToleranceSec: setup.config.webhookToleranceSec,
    linkSecret: setup.linkSecret,
    baseUrl: setup.baseUrl,
    provider: opts.provider,
    offer: opts.offer,
    termsText: opts.termsText,
    privacyText: opts.privacyText,
    ...(opts.log ? { log: opts.log } : {}),
    trustProxy: opts.trustProxy,
    ...(opts.metrics ? { metrics: opts.metrics, metricsRoute: opts.metricsRoute ?? false } : {}),
    ...siteBooks(api, setup),
  })
  if (opts.backupsDir) serveBackups(app, opts.backupsDir)
  return serveSite(app, { host: opts.host, port: opts.port })
}

/** The site's view of the provider's records: its pubs (directory) and its payment facts (ledger). */
function siteBooks(api: ButtcloudApi, setup: PaymentSetup): { directory: Directory; ledger: Ledger } {
  return {
    directory: {
      async lookup(request) {
        const record = api.ledger().record(request)
        if (!record) return undefined
        const state = api.ledger().lastPostedStatus(request)?.state ?? 'queued'
        return { request, owner: record.owner, plan: record.plan, name: record.name, state, ...resubscribable(setup, record, api.ledger().paymentsOf(request)) }
      },
    },
    ledger: {
      record: (fact) => api.recordPayment(fact),
      has: async (event) => api.ledger().hasPaymentEvent(event),
    },
  }
}

/** The first and the longest wait before reading Stripe's events again for requests not known yet. */
const SYNC_RETRY_FIRST_MS = 60_000
const SYNC_RETRY_MAX_MS = 15 * 60_000

export interface StripeSync {
  /** Resolves with the first read's outcome (or rejects with why it failed; it is logged either way). */
  first: Promise<StripeSyncResult>
  stop(): void
}

/**
 * Read back the payment events Stripe kept (30 days; from a few days before the newest fact held, see
 * `readBackSince`) and record the facts this provider lacks: after a restore from
 * an older backup, the events the old provider answered since. An event for a request not known yet (its owner's
 * feed is still being replicated) is read again later, from the oldest such event, until none is left; after a day
 * such an event is ignored, as a webhook's would be (web/webhook.ts).
 */
export function startStripeSync(opts: { api: ButtcloudApi; provider: FeedId; setup: PaymentSetup; log: Log; now?: () => number; retryFirstMs?: number }): StripeSync | undefined {
  const { setup, log } = opts
  if (!setup.stripe) return undefined
  const stripe = setup.stripe
  const now = opts.now ?? Date.now
  const handle = paymentEventProcessor({ provider: opts.provider, ...siteBooks(opts.api, setup), log, now })
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let waitMs = opts.retryFirstMs ?? SYNC_RETRY_FIRST_MS
  const read = async (sinceSec: number): Promise<StripeSyncResult> => {
    const result = await syncStripeEvents(stripe, handle, sinceSec)
    const o = result.outcomes
    log(`payment events read back from Stripe: ${o.recorded} recorded, ${o.duplicate} already known, ${o['retry-later']} for requests not known yet, ${o.ignored} ignored`, {}, o.recorded > 0 ? 'warn' : 'info')
    if (result.retryFrom !== undefined && !stopped) {
      const from = result.retryFrom
      timer = setTimeout(() => void read(from).catch((err: unknown) => log(`reading payment events from Stripe failed: ${String(err)}`, {}, 'error')), waitMs)
      timer.unref()
      waitMs = Math.min(waitMs * 2, SYNC_RETRY_MAX_MS)
    }
    return result
  }
  // Facts of pubs not known yet (their owners' feeds still replicating) are not counted: that only reads more.
  let newest: number | undefined
  for (const r of opts.api.ledger().records()) for (const f of opts.api.ledger().paymentsOf(r.request)) newest = Math.max(newest ?? 0, f.created)
  const first = read(readBackSince(now(), newest))
  first.catch((err: unknown) => log(`reading payment events from Stripe failed (read again at the next start): ${err instanceof Error ? err.message : String(err)}`, {}, 'error'))
  return {
    first,
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
}

/**
 * A pub whose subscription ended (Stripe deleted it; not the owner's destroy) while its data is kept may be paid
 * for again through its pay link: the new subscription revives the same pub (src/payment/lifecycle.ts).
 */
function resubscribable(setup: PaymentSetup, record: PubRecord, payments: readonly PaymentFact[]): Pick<DirectoryEntry, 'resubscribe'> {
  if (record.intent === 'destroyed' || record.rejected) return {}
  const s = paymentStanding(record.request, payments, { requestedAt: record.requestedAt, now: Date.now(), timers: setup.config.timers, free: false })
  if (s.state !== 'ended' || s.destroyDue || s.endedAt === undefined || s.destroyDueAt === undefined) return {}
  return { resubscribe: { endedAt: s.endedAt, dataKeptUntil: s.destroyDueAt } }
}

/**
 * Backups are served by name only: a name is 128 random bits (docs/orchestrator.md), so knowing it is the
 * permission, like a Stripe receipt link; the name is only ever sent privately to the owner. An expired one is
 * refused (410) even before the sweep has deleted it.
 */
function serveBackups(app: Hono, dir: string): void {
  app.get('/backups/:file{[0-9a-f]{32}\\.tar\\.gz}', async (c) => {
    const name = c.req.param('file')
    const found = findBackup(dir, name, Date.now())
    if (found.state === 'expired') {
      return c.text(`This backup expired on ${new Date(found.expired).toISOString()}. Ask your pub for a new one (buttcloud command <pub> backup).`, 410)
    }
    if (found.state === 'missing') return c.text('No such backup: backups expire, a newer backup of a pub replaces its older one, and a destroyed pub has none.', 404)
    return new Response(Readable.toWeb(createReadStream(found.file)) as ReadableStream, {
      headers: {
        'content-type': 'application/gzip',
        'content-length': String(found.bytes),
        'content-disposition': `attachment; filename="${name}"`,
        'cache-control': 'no-store',
      },
    })
  })
}
