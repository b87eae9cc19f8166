/**
 * The payment site: pay links, the Stripe Checkout hand-off, the webhook, terms and privacy. A factory over
 * interfaces (web/types.ts) so the control plane can mount it and tests can call `app.request()` without a port.
 */
import { createHash } from 'node:crypto'
import { Hono, type Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { bodyLimit } from 'hono/body-limit'
import { createLogger, logTo } from '../src/log/logger.js'
import type { MsgId } from '../src/protocol/ids.js'
import { Offer, type Plan } from '../src/protocol/offer.js'
import { FINAL_STATES } from '../src/protocol/status.js'
import { isPayLinkTokenShape, openPayLinkToken } from '../src/payment/links.js'
import { checkoutIdempotencyKey, checkoutParams, liveSubscriptionsOf } from './checkout.js'
import { defaultPrivacy, defaultTerms } from './defaults.js'
import { CancelPage, ErrorPage, LandingPage, PayPage, STYLE_HASH, SuccessPage, TextPage, type Brand, type PayPageMode } from './pages.js'
import type { DirectoryEntry, Logger, PaymentSiteOptions } from './types.js'
import { META_REQUEST } from './stripe-events.js'
import { stripeWebhookHandler } from './webhook.js'
import { clientAddress, hsts, rateLimit, sameOriginPosts } from './guards.js'
import { countWebhooks, mountMetrics } from './metrics.js'

/** An error that is the visitor's to fix (or to know about): shown as a page with its status. */
class PageError extends HTTPException {
  constructor(
    status: 400 | 404 | 409 | 410,
    readonly title: string,
    message: string,
  ) {
    super(status, { message })
  }
}


const SESSION_ID_RE = /^cs_[A-Za-z0-9_]{1,250}$/

function checkOptions(o: PaymentSiteOptions): { baseUrl: string; offer: Offer } {
  if (Buffer.byteLength(o.linkSecret) < 32) throw new Error('linkSecret must be at least 32 bytes')
  if (o.stripe && !o.webhookSecret) throw new Error('a Stripe client needs its webhookSecret')
  if (!/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(o.baseUrl)) throw new Error('baseUrl must be an http(s) URL')
  const offer = Offer.safeParse(o.offer)
  if (!offer.success) throw new Error('the offer does not match the buttcloud/offer schema', { cause: offer.error })
  return { baseUrl: o.baseUrl.replace(/\/+$/, ''), offer: offer.data }
}

/** What every route of the site works from: the checked options, resolved once. */
interface Site {
  baseUrl: string
  offer: Offer
  /** The provider's name and operator, shown on every page. */
  provider: Brand
  stripe: PaymentSiteOptions['stripe']
  directory: PaymentSiteOptions['directory']
  linkSecret: string
  log: Logger
  now: () => number
}

/** Build the payment site's Hono app. */
export function createPaymentSite(options: PaymentSiteOptions): Hono {
  const { baseUrl, offer } = checkOptions(options)
  const provider: Brand = { name: offer.name, ...(offer.operator ? { operator: offer.operator } : {}) }
  const site: Site = { baseUrl, offer, provider, stripe: options.stripe, directory: options.directory, linkSecret: options.linkSecret, log: options.log ?? logTo(createLogger('site')), now: options.now ?? Date.now }
  const app = new Hono()
  app.use(securityHeaders)
  app.use(hsts(baseUrl))
  if (options.metrics) countWebhooks(app, options.metrics)
  if (options.metrics && options.metricsRoute) mountMetrics(app, options.metrics)
  mountPostGuards(app, site, options)
  mountTextPages(app, site, options.termsText ?? defaultTerms(offer.name, offer.operator), options.privacyText ?? defaultPrivacy(offer.name, offer.operator))
  mountPayPages(app, site)
  if (site.stripe && options.webhookSecret) mountStripeWebhook(app, site, options, options.webhookSecret)
  mountErrorPages(app, site)
  return app
}

/** Limits for POST routes, per client and minute (see web/guards.ts and README). */
export const DEFAULT_POST_LIMITS = { payPerMinute: 20, webhooksPerMinute: 600, maxClients: 10_000 } as const

function mountPostGuards(app: Hono, site: Site, options: PaymentSiteOptions): void {
  const { provider } = site
  const limits = { ...DEFAULT_POST_LIMITS, ...options.postLimits }
  const key = clientAddress(options.trustProxy ?? false)
  const tooMany = (c: Context, retryAfterSec: number) => {
    c.header('Retry-After', String(retryAfterSec))
    return c.req.path.startsWith('/webhooks/')
      ? c.json({ error: 'too many requests' }, 429)
      : c.html(<ErrorPage provider={provider} title="Too many requests" message="Please wait a minute, then try again." />, 429)
  }
  const limiter = (limit: number) => rateLimit({ limit, windowMs: 60_000, maxClients: limits.maxClients, key, refuse: tooMany, ...(options.now ? { now: options.now } : {}) })
  app.on('POST', '/pay/*', limiter(limits.payPerMinute))
  app.on('POST', '/webhooks/*', limiter(limits.webhooksPerMinute))
  app.on(
    'POST',
    '/pay/*',
    sameOriginPosts(new URL(site.baseUrl).origin, (c) => {
      site.log('form post from another site refused', { path: safePath(c.req.path) }, 'warn')
      return c.html(<ErrorPage provider={provider} title="Form from another site" message="This form was sent from another site. Open your payment link and press Pay there." />, 403)
    }),
  )
}

async function securityHeaders(c: Context, next: () => Promise<void>): Promise<void> {
  await next()
  // No scripts, no framing, the one inline stylesheet by hash. No form-action: Chrome applies it to the
  // redirect after the Pay form, which goes to Stripe's Checkout on another origin.
  c.header('Content-Security-Policy', `default-src 'none'; style-src '${STYLE_HASH}'; base-uri 'none'; frame-ancestors 'none'`)
  c.header('X-Content-Type-Options', 'nosniff')
  // Pay links are capabilities: never hand one to another site in a Referer. Not `no-referrer`: under it a
  // browser sends `Origin: null` even with a same-origin form post, and the Pay form's Origin check needs the origin.
  c.header('Referrer-Policy', 'same-origin')
  c.header('Cache-Control', 'no-store')
}

const page = (c: Context, status: 200 | 400 | 404 | 409 | 410 | 413 | 500 | 502, node: ReturnType<typeof ErrorPage>) => c.html(node, status)

/** The request and plan a pay link stands for, or a page saying why not. */
async function resolvePayLink(site: Site, token: string): Promise<{ request: MsgId; entry: DirectoryEntry; plan: Plan }> {
  if (!isPayLinkTokenShape(token)) {
    throw new PageError(400, 'Broken payment link', 'This payment link is incomplete. Copy the whole link from the message in your Scuttlebutt app.')
  }
  const request = openPayLinkToken(site.linkSecret, token)
  const entry = request && (await site.directory.lookup(request))
  // A forged token and an unknown request look the same from outside: nothing to learn by probing.
  if (!request || !entry) throw new PageError(404, 'Unknown payment link', 'This payment link does not belong to any pub here.')
  const plan = site.offer.plans.find((p) => p.id === entry.plan)
  if (!plan) {
    throw new PageError(409, 'Plan no longer offered', `The plan "${entry.plan}" is not in the current offer. Please make a new request for one of the plans on offer.`)
  }
  return { request, entry, plan }
}

function modeFor(site: Site, entry: DirectoryEntry, plan: Plan): PayPageMode {
  if (FINAL_STATES.includes(entry.state)) return 'gone'
  if (!site.stripe || plan.price === 0) return 'free'
  if (entry.resubscribe && site.now() < entry.resubscribe.dataKeptUntil) return 'pay'
  return entry.state === 'awaiting-payment' ? 'pay' : 'settled'
}

function mountTextPages(app: Hono, site: Site, terms: string, privacy: string): void {
  const { provider } = site
  // Only that it answers: whether payments are on is nobody's business outside.
  app.get('/healthz', (c) => c.json({ ok: true }))
  app.get('/', (c) => page(c, 200, <LandingPage provider={provider} plans={site.offer.plans} />))
  app.get('/terms', (c) => page(c, 200, <TextPage provider={provider} title="Terms of service" text={terms} />))
  app.get('/privacy', (c) => page(c, 200, <TextPage provider={provider} title="Privacy" text={privacy} />))
}

/** The pay page, its form (to Stripe Checkout), and the pages Checkout returns to. */
function mountPayPages(app: Hono, site: Site): void {
  const { provider } = site
  app.get('/pay/:token', async (c) => {
    const token = c.req.param('token')
    const { entry, plan } = await resolvePayLink(site, token)
    const mode = modeFor(site, entry, plan)
    return page(c, mode === 'gone' ? 410 : 200, <PayPage provider={provider} entry={entry} plan={plan} token={token} mode={mode} />)
  })

  app.post(
    '/pay/:token',
    bodyLimit({
      maxSize: 4096,
      onError: (c) =>
        page(c, 413, <ErrorPage provider={provider} title="Too much data" message="The form sent more than it should. Go back and try again." />),
    }),
    (c) => startCheckout(c, site),
  )

  app.get('/pay/:token/success', async (c) => {
    const token = c.req.param('token')
    const { request, entry } = await resolvePayLink(site, token)
    const confirmed = await checkoutConfirmed(site, request, c.req.query('session_id'))
    return page(c, 200, <SuccessPage provider={provider} confirmed={confirmed} name={entry.name} token={token} />)
  })

  app.post('/pay/:token/billing', bodyLimit({ maxSize: 1024, onError: (c) => c.text('too much data', 413) }), (c) => openBillingPortal(c, site))

  app.get('/pay/:token/cancel', async (c) => {
    const token = c.req.param('token')
    await resolvePayLink(site, token)
    return page(c, 200, <CancelPage provider={provider} token={token} />)
  })
}

/** The Pay form: a Checkout session for this request (one per request, by idempotency key), then off to Stripe. */
async function startCheckout(c: Context, site: Site): Promise<Response> {
  const { provider, stripe, log } = site
  const token = c.req.param('token')!
  const { request, entry, plan } = await resolvePayLink(site, token)
  const mode = modeFor(site, entry, plan)
  if (mode !== 'pay' || !stripe) {
    throw new PageError(409, 'Nothing to pay', 'This pub needs no payment now. Open the payment link again to see where it stands.')
  }
  const form = await c.req.parseBody()
  if (form.accept !== 'yes') {
    throw new PageError(400, 'Please accept the terms', 'To subscribe, tick the box to accept the terms of service, then press Pay again.')
  }
  let url: string | null | undefined
  try {
    if ((await liveSubscriptionsOf(stripe, request)).length > 0) {
      log('checkout refused: the request already has a live subscription', { request }, 'warn')
      throw new PageError(409, 'Already subscribed', 'This pub already has a subscription, so there is nothing more to pay. Open the payment link again in a minute to see where it stands.')
    }
    const session = await stripe.checkout.sessions.create(checkoutParams({ entry, plan, offer: site.offer, baseUrl: site.baseUrl, token }), {
      idempotencyKey: checkoutIdempotencyKey(request, entry.resubscribe),
    })
    url = session.url
  } catch (err) {
    if (err instanceof PageError) throw err
    // Stripe's error type and code say enough to debug; its message may quote our parameters, so it stays out.
    const e = err as { type?: string; code?: string; statusCode?: number }
    log('checkout session could not be created', { request, type: e?.type ?? 'unknown', code: e?.code ?? '', status: e?.statusCode ?? 0 }, 'error')
    return page(c, 502, <ErrorPage provider={provider} title="Payment is unavailable" message="We could not reach the payment provider. Nothing was charged; please try again in a few minutes." />)
  }
  if (!url) {
    log('checkout session came back without a URL', { request }, 'error')
    return page(c, 502, <ErrorPage provider={provider} title="Payment is unavailable" message="The payment provider gave us no checkout page. Nothing was charged; please try again later." />)
  }
  log('checkout started', { request }, 'info')
  return c.redirect(url, 303)
}

/**
 * The Manage button: a Stripe Customer Portal session for the customer paying for this request, then off to it.
 * A POST, not a link: each press makes a fresh short-lived session, and nothing should make one by prefetching.
 */
async function openBillingPortal(c: Context, site: Site): Promise<Response> {
  const { provider, stripe, log } = site
  const token = c.req.param('token')!
  const { request } = await resolvePayLink(site, token)
  if (!stripe) throw new PageError(409, 'Nothing to manage', 'Payments are not taken here, so there is no subscription to manage.')
  let url: string
  try {
    const customer = (await liveSubscriptionsOf(stripe, request))[0]?.customer
    if (!customer) throw new PageError(409, 'No subscription yet', 'This pub has no live subscription to manage. If you have just paid, try again in a minute.')
    url = (await stripe.billingPortal.sessions.create({ customer, return_url: `${site.baseUrl}/pay/${token}` })).url
  } catch (err) {
    if (err instanceof PageError) throw err
    const e = err as { type?: string; code?: string; statusCode?: number }
    log('billing portal session could not be created', { request, type: e?.type ?? 'unknown', code: e?.code ?? '', status: e?.statusCode ?? 0 }, 'error')
    return page(c, 502, <ErrorPage provider={provider} title="Billing is unavailable" message="We could not reach the payment provider. Please try again in a few minutes." />)
  }
  log('billing portal opened', { request }, 'info')
  return c.redirect(url, 303)
}

/** The session id comes from the address bar: ask Stripe, and believe it only for this very request. */
async function checkoutConfirmed(site: Site, request: MsgId, sessionId: string | undefined): Promise<boolean> {
  if (!site.stripe || !sessionId || !SESSION_ID_RE.test(sessionId)) return false
  try {
    const session = await site.stripe.checkout.sessions.retrieve(sessionId)
    return session.status === 'complete' && session.metadata?.[META_REQUEST] === request
  } catch (err) {
    site.log('could not confirm a checkout session', { request, type: (err as { type?: string })?.type ?? 'unknown' }, 'warn')
    return false
  }
}

function mountStripeWebhook(app: Hono, site: Site, options: PaymentSiteOptions, webhookSecret: string): void {
  app.post(
    '/webhooks/stripe',
    // Stripe's events are a few kB; a megabyte is generous and still bounds what one request can make us hold.
    bodyLimit({ maxSize: 1024 * 1024, onError: (c) => c.json({ error: 'payload too large' }, 413) }),
    stripeWebhookHandler({
      stripe: site.stripe!,
      webhookSecret,
      toleranceSec: options.webhookToleranceSec,
      provider: options.provider,
      directory: site.directory,
      ledger: options.ledger,
      log: site.log,
    }),
  )
}

/** Not found, the visitor's errors as pages, and anything else as a 500 that is logged with a safe path. */
function mountErrorPages(app: Hono, site: Site): void {
  const { provider } = site
  app.notFound((c) => page(c, 404, <ErrorPage provider={provider} title="Not found" message="There is no page at this address." />))
  app.onError((err, c) => {
    if (err instanceof PageError) return page(c, err.status as 400, <ErrorPage provider={provider} title={err.title} message={err.message} />)
    if (err instanceof HTTPException && err.status < 500) {
      return page(c, err.status as 400, <ErrorPage provider={provider} title="Bad request" message="The request could not be understood." />)
    }
    site.log('unexpected error', { path: safePath(c.req.path), error: err.message.slice(0, 200) }, 'error')
    return page(c, 500, <ErrorPage provider={provider} title="Something went wrong" message="This is our fault, not yours. Please try again later." />)
  })
}

/** A path fit for the log: pay-link tokens replaced by a short hash (enough to correlate, useless to replay). */
function safePath(path: string): string {
  return path.replace(/\/pay\/([^/]+)/, (_m, token: string) => `/pay/#${createHash('sha256').update(token).digest('hex').slice(0, 8)}`)
}

