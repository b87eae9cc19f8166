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
import type { DirectoryEntry } from '../../web/types.js'
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
  })
  if (opts.backupsDir) serveBackups(app, opts.backupsDir)
  return serveSite(app, { host: opts.host, port: opts.port })
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
