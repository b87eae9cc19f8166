/**
 * A small local fake of the Stripe API, for the real `stripe` client pointed at it with
 * `new Stripe(key, { host: '127.0.0.1', port, protocol: 'http' })`. It knows exactly what ButtCloud uses: Checkout
 * Sessions (create, retrieve), Subscriptions (retrieve, cancel, search by metadata), Events (list: what a restored
 * provider reads back), Customer Portal sessions (create, and their page), and a hosted checkout page with a Pay button.
 * Everything else answers 500, is listed in `unhandled`, and is printed, so a test that strays fails loudly
 * instead of passing against behaviour the fake never had.
 *
 * It emits the events real Stripe would send, but does not deliver them: the test's `onEvents` decides (sign and
 * post them with `deliverWebhook`, drop them, reorder them).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import Stripe from 'stripe'

type Json = Record<string, unknown>

export interface FakeCheckoutSession extends Json {
  id: string
  object: 'checkout.session'
  mode: string
  status: 'open' | 'complete' | 'expired'
  payment_status: 'paid' | 'unpaid'
  url: string | null
  success_url: string
  cancel_url: string
  metadata: Record<string, string>
  client_reference_id: string | null
  customer: string | null
  subscription: string | null
  amount_total: number
  currency: string
  created: number
  livemode: false
}

export interface FakeSubscription extends Json {
  id: string
  object: 'subscription'
  status: 'active' | 'past_due' | 'canceled'
  customer: string
  metadata: Record<string, string>
  items: { object: 'list'; data: Array<{ id: string; object: 'subscription_item'; current_period_start: number; current_period_end: number }> }
  created: number
  canceled_at: number | null
  cancel_at_period_end: boolean
  cancel_at: number | null
  livemode: false
}

export interface FakePortalSession extends Json {
  id: string
  object: 'billing_portal.session'
  customer: string
  return_url: string | null
  url: string
  created: number
  livemode: false
}

export interface FakeEvent {
  id: string
  object: 'event'
  api_version: string
  created: number
  type: string
  data: { object: Json }
  livemode: false
  pending_webhooks: number
  request: { id: null; idempotency_key: null }
}

export interface FakeCall {
  method: string
  path: string
  idempotencyKey?: string
  params: Json
}

export interface FakeStripeOptions {
  /** The bearer key the fake accepts; anything else gets Stripe's 401. */
  apiKey?: string
  /** Seconds since the epoch, as Stripe counts; injectable so periods and event times are predictable. */
  nowSeconds?: () => number
  /** Receives the events of each change (checkout paid, renewal, cancel) before the fake answers the browser. */
  onEvents?: (events: FakeEvent[]) => void | Promise<void>
}

export interface FakeStripe {
  url: string
  port: number
  apiKey: string
  /** A real stripe client talking to this fake (no retries, so a 500 surfaces at once). */
  client(): Stripe
  sessions: Map<string, FakeCheckoutSession>
  subscriptions: Map<string, FakeSubscription>
  portalSessions: Map<string, FakePortalSession>
  /** Every API call, in order (the checkout page's own routes are not API calls). */
  calls: FakeCall[]
  /** Requests the fake was not built for: a test should end with this empty. */
  unhandled: string[]
  /** Every event emitted so far. */
  events: FakeEvent[]
  /**
   * A renewal of a subscription: paid, failed, or held for the customer's authentication (3-D Secure), with the
   * events Stripe sends for it (emitted to onEvents).
   */
  renew(subscriptionId: string, outcome: 'paid' | 'failed' | 'action-required'): Promise<FakeEvent[]>
  /** Every retry of a failed renewal failed, and the account's setting says to cancel: Stripe deletes it. */
  giveUp(subscriptionId: string): Promise<FakeEvent[]>
  /** The owner cancels (true) or renews (false) at period end in the portal: emits the update. */
  cancelAtPeriodEnd(subscriptionId: string, on: boolean): Promise<FakeEvent[]>
  /** The period of a subscription cancelled at period end is over: emits its deletion. */
  endPeriod(subscriptionId: string): Promise<FakeEvent[]>
  /** An event of any type around any object, as Stripe would shape it (not emitted). */
  makeEvent(type: string, object: Json, createdSeconds?: number): FakeEvent
  close(): Promise<void>
}

const API_VERSION = '2026-10-28.endive'
const PERIOD_SECONDS = 30 * 24 * 3600

function newId(prefix: string): string {
  return `${prefix}_fake${randomBytes(10).toString('hex')}`
}

/** Stripe's form encoding (`a[b][0][c]=v`) back into nested objects; URLSearchParams keeps `+` and `/` intact. */
export function parseStripeForm(body: string): Json {
  const root: Json = {}
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.replace(/\]/g, '').split('[')
    let node: Json = root
    path.forEach((part, i) => {
      if (i === path.length - 1) node[part] = value
      else node = (node[part] ??= {}) as Json
    })
  }
  return arrays(root) as Json
}

/** Objects whose keys are 0..n-1 become arrays (that is how Stripe encodes lists). */
function arrays(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  const entries = Object.entries(value as Json).map(([k, v]) => [k, arrays(v)] as const)
  const isList = entries.length > 0 && entries.every(([k], i) => k === String(i))
  return isList ? entries.map(([, v]) => v) : Object.fromEntries(entries)
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: Json = {},
  ) {
    super(message)
  }
}

function str(params: Json, key: string): string | undefined {
  const v = params[key]
  return typeof v === 'string' ? v : undefined
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {}
  return Object.fromEntries(Object.entries(value as Json).filter((e): e is [string, string] => typeof e[1] === 'string'))
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Start the fake on 127.0.0.1 and a free port. */
export async function startFakeStripe(options: FakeStripeOptions = {}): Promise<FakeStripe> {
  const apiKey = options.apiKey ?? `sk_test_fake${randomBytes(12).toString('hex')}`
  const now = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000))
  const sessions = new Map<string, FakeCheckoutSession>()
  const subscriptions = new Map<string, FakeSubscription>()
  const portalSessions = new Map<string, FakePortalSession>()
  const sessionExtras = new Map<string, { subscriptionMetadata: Record<string, string> }>()
  const idempotent = new Map<string, { fingerprint: string; status: number; body: Json }>()
  const calls: FakeCall[] = []
  const unhandled: string[] = []
  const events: FakeEvent[] = []
  let base = ''

  const makeEvent = (type: string, object: Json, createdSeconds = now()): FakeEvent => ({
    id: newId('evt'),
    object: 'event',
    api_version: API_VERSION,
    created: createdSeconds,
    type,
    data: { object: structuredClone(object) },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
  })

  const emit = async (list: FakeEvent[]) => {
    events.push(...list)
    await options.onEvents?.(list)
    return list
  }

  const invoiceFor = (sub: FakeSubscription, status: 'paid' | 'open', periodEnd: number): Json => ({
    id: newId('in'),
    object: 'invoice',
    customer: sub.customer,
    status,
    parent: { type: 'subscription_details', subscription_details: { metadata: { ...sub.metadata }, subscription: sub.id } },
    lines: { object: 'list', data: [{ id: newId('il'), object: 'line_item', period: { start: periodEnd - PERIOD_SECONDS, end: periodEnd } }] },
    livemode: false,
  })

  async function api(method: string, path: string, params: Json): Promise<{ status?: number; body: Json }> {
    let m: RegExpMatchArray | null
    if (method === 'POST' && path === '/v1/checkout/sessions') return { body: createSession(params) }
    if (method === 'GET' && (m = path.match(/^\/v1\/checkout\/sessions\/([^/]+)$/))) {
      const s = sessions.get(decodeURIComponent(m[1] as string))
      if (!s) throw new ApiError(404, 'invalid_request_error', `No such checkout.session: '${m[1]}'`, { code: 'resource_missing' })
      return { body: s }
    }
    if (method === 'GET' && path === '/v1/subscriptions/search') return { body: searchSubscriptions(params) }
    if (method === 'GET' && path === '/v1/events') return { body: listEvents(params) }
    if (method === 'POST' && path === '/v1/billing_portal/sessions') return { body: createPortalSession(params) }
    if ((m = path.match(/^\/v1\/subscriptions\/([^/]+)$/)) && (method === 'GET' || method === 'DELETE')) {
      const id = decodeURIComponent(m[1] as string)
      const sub = subscriptions.get(id)
      // Real Stripe answers a cancel of an already cancelled subscription with the same 404 as for an unknown one.
      if (!sub || (method === 'DELETE' && sub.status === 'canceled')) {
        throw new ApiError(404, 'invalid_request_error', `No such subscription: '${id}'`, { code: 'resource_missing', param: 'id' })
      }
      if (method === 'DELETE') {
        sub.status = 'canceled'
        sub.canceled_at = now()
        // Delivered before the API answers, so a test sees the webhook's effect as soon as the cancel returns.
        await emit([makeEvent('customer.subscription.deleted', sub)])
      }
      return { body: sub }
    }
    throw new Unhandled(`${method} ${path}`)
  }

  /**
   * Stripe Search over subscriptions, for the one query form we use: `metadata['key']:'value'` clauses joined by
   * AND. Real Search lags writes by up to a minute; the fake is immediate (a test of the lag would need a clock).
   */
  function searchSubscriptions(params: Json): Json {
    const query = str(params, 'query') ?? ''
    const clauses = query.split(' AND ').map((c) => /^metadata\['([A-Za-z0-9_]+)'\]:'([^'\\]*)'$/.exec(c.trim()))
    if (clauses.some((c) => !c)) throw new Unhandled(`subscription search query ${query.slice(0, 100)}`)
    const data = [...subscriptions.values()].filter((sub) => clauses.every((c) => sub.metadata[c![1] as string] === c![2]))
    return { object: 'search_result', url: '/v1/subscriptions/search', data, has_more: false, next_page: null }
  }

  /**
   * List events as Stripe does (GET /v1/events): newest first, going back up to 30 days, `limit` 1-100 (default 10),
   * paged with `starting_after` (an event id from the previous page); filtered by `types` (up to 20) and `created`.
   * Only the emitted events are listed (`makeEvent` alone emits nothing). Only the parameters ButtCloud sends are
   * known: any other (`type`, `ending_before`, `created[lt]`, ...) is "not built for".
   */
  function listEvents(params: Json): Json {
    for (const key of Object.keys(params)) if (!['limit', 'types', 'created', 'starting_after'].includes(key)) throw new Unhandled(`events list parameter ${key}`)
    const limit = params.limit === undefined ? 10 : Number(params.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ApiError(400, 'invalid_request_error', 'Invalid integer: limit must be between 1 and 100.', { param: 'limit' })
    const types = params.types === undefined ? undefined : Object.values(params.types as Json).map(String)
    if (types && (types.length === 0 || types.length > 20)) throw new ApiError(400, 'invalid_request_error', 'types must name 1 to 20 event types.', { param: 'types' })
    const created = (params.created ?? {}) as Json
    for (const key of Object.keys(created)) if (key !== 'gte') throw new Unhandled(`events list created[${key}]`)
    const gte = created.gte === undefined ? 0 : Number(created.gte)
    const oldest = Math.max(gte, now() - 30 * 24 * 3600)
    // Newest first; events of one second in the reverse of the order they happened.
    const all = events.map((e, i) => ({ e, i })).sort((a, b) => b.e.created - a.e.created || b.i - a.i).map((x) => x.e)
    let matching = all.filter((e) => e.created >= oldest && (!types || types.includes(e.type)))
    const after = str(params, 'starting_after')
    if (after !== undefined) {
      const at = matching.findIndex((e) => e.id === after)
      if (at < 0) throw new ApiError(400, 'invalid_request_error', `No such event: '${after}'`, { code: 'resource_missing', param: 'starting_after' })
      matching = matching.slice(at + 1)
    }
    return { object: 'list', url: '/v1/events', data: matching.slice(0, limit), has_more: matching.length > limit }
  }

  /** A Customer Portal session: a short-lived page where the customer manages card, invoices and cancellation. */
  function createPortalSession(params: Json): FakePortalSession {
    const customer = str(params, 'customer')
    if (!customer) throw new ApiError(400, 'invalid_request_error', 'Missing required param: customer.', { param: 'customer' })
    if (![...subscriptions.values()].some((sub) => sub.customer === customer)) {
      throw new ApiError(400, 'invalid_request_error', `No such customer: '${customer}'`, { code: 'resource_missing', param: 'customer' })
    }
    const id = newId('bps')
    const session: FakePortalSession = {
      id,
      object: 'billing_portal.session',
      customer,
      return_url: str(params, 'return_url') ?? null,
      url: `${base}/billing/${id}`,
      created: now(),
      livemode: false,
    }
    portalSessions.set(id, session)
    return session
  }

  function createSession(params: Json): FakeCheckoutSession {
    const need = (key: string) => {
      const v = str(params, key)
      if (!v) throw new ApiError(400, 'invalid_request_error', `Missing required param: ${key}.`, { param: key })
      return v
    }
    const mode = need('mode')
    if (mode !== 'subscription') throw new ApiError(400, 'invalid_request_error', 'This fake only does subscription mode.', { param: 'mode' })
    const items = params.line_items
    const first = Array.isArray(items) ? (items[0] as Json | undefined) : undefined
    const priceData = first?.price_data as Json | undefined
    const amount = Number(priceData?.unit_amount)
    const currency = typeof priceData?.currency === 'string' ? priceData.currency : ''
    const interval = ((priceData?.recurring as Json | undefined)?.interval as string | undefined) ?? ''
    if (!Number.isInteger(amount) || !/^[a-z]{3}$/.test(currency) || !['month', 'year'].includes(interval)) {
      throw new ApiError(400, 'invalid_request_error', 'line_items[0][price_data] needs unit_amount, currency and recurring[interval].', { param: 'line_items' })
    }
    const id = newId('cs_test')
    const session: FakeCheckoutSession = {
      id,
      object: 'checkout.session',
      mode,
      status: 'open',
      payment_status: 'unpaid',
      url: `${base}/checkout/${id}`,
      success_url: need('success_url'),
      cancel_url: need('cancel_url'),
      metadata: stringRecord(params.metadata),
      client_reference_id: str(params, 'client_reference_id') ?? null,
      customer: null,
      subscription: null,
      amount_total: amount * Number(first?.quantity ?? 1),
      currency,
      created: now(),
      livemode: false,
    }
    sessions.set(id, session)
    sessionExtras.set(id, { subscriptionMetadata: stringRecord((params.subscription_data as Json | undefined)?.metadata) })
    return session
  }

  /** The Pay button: what Stripe does when a customer completes Checkout. */
  async function pay(session: FakeCheckoutSession): Promise<void> {
    const t = now()
    const sub: FakeSubscription = {
      id: newId('sub'),
      object: 'subscription',
      status: 'active',
      customer: newId('cus'),
      metadata: { ...(sessionExtras.get(session.id)?.subscriptionMetadata ?? {}) },
      items: { object: 'list', data: [{ id: newId('si'), object: 'subscription_item', current_period_start: t, current_period_end: t + PERIOD_SECONDS }] },
      created: t,
      canceled_at: null,
      cancel_at_period_end: false,
      cancel_at: null,
      livemode: false,
    }
    subscriptions.set(sub.id, sub)
    Object.assign(session, { status: 'complete', payment_status: 'paid', customer: sub.customer, subscription: sub.id, url: null })
    await emit([
      makeEvent('customer.subscription.created', sub, t),
      makeEvent('invoice.paid', invoiceFor(sub, 'paid', t + PERIOD_SECONDS), t),
      makeEvent('checkout.session.completed', session, t),
    ])
  }

  async function renew(subscriptionId: string, outcome: 'paid' | 'failed' | 'action-required'): Promise<FakeEvent[]> {
    const sub = subscriptions.get(subscriptionId)
    if (!sub || sub.status === 'canceled') throw new Error(`fake-stripe: no live subscription ${subscriptionId}`)
    const item = sub.items.data[0]
    if (!item) throw new Error(`fake-stripe: subscription ${subscriptionId} has no items`)
    const t = now()
    const periodEnd = item.current_period_end + PERIOD_SECONDS
    if (outcome === 'paid') {
      item.current_period_start = item.current_period_end
      item.current_period_end = periodEnd
    }
    sub.status = outcome === 'paid' ? 'active' : 'past_due'
    const invoice = invoiceFor(sub, outcome === 'paid' ? 'paid' : 'open', periodEnd)
    // An off-session renewal that needs authentication fails its attempt and asks the customer to act.
    const invoiceEvents =
      outcome === 'paid'
        ? [makeEvent('invoice.paid', invoice, t)]
        : outcome === 'failed'
          ? [makeEvent('invoice.payment_failed', invoice, t)]
          : [makeEvent('invoice.payment_failed', invoice, t), makeEvent('invoice.payment_action_required', invoice, t)]
    return emit([...invoiceEvents, makeEvent('customer.subscription.updated', sub, t)])
  }

  async function giveUp(subscriptionId: string): Promise<FakeEvent[]> {
    const sub = subscriptions.get(subscriptionId)
    if (sub?.status !== 'past_due') throw new Error(`fake-stripe: ${subscriptionId} is not past due`)
    sub.status = 'canceled'
    sub.canceled_at = now()
    return emit([makeEvent('customer.subscription.deleted', sub)])
  }

  /** What the portal's "Cancel plan" (true) and "Renew plan" (false) do: an update, no deletion yet. */
  async function cancelAtPeriodEnd(subscriptionId: string, on: boolean): Promise<FakeEvent[]> {
    const sub = subscriptions.get(subscriptionId)
    if (!sub || sub.status === 'canceled') throw new Error(`fake-stripe: no live subscription ${subscriptionId}`)
    sub.cancel_at_period_end = on
    sub.cancel_at = on ? (sub.items.data[0]?.current_period_end ?? null) : null
    return emit([makeEvent('customer.subscription.updated', sub)])
  }

  /** The period ends: a subscription cancelled at period end is deleted (a renewal otherwise: use `renew`). */
  async function endPeriod(subscriptionId: string): Promise<FakeEvent[]> {
    const sub = subscriptions.get(subscriptionId)
    if (!sub?.cancel_at_period_end || sub.status === 'canceled') throw new Error(`fake-stripe: ${subscriptionId} is not cancelled at period end`)
    sub.status = 'canceled'
    sub.canceled_at = now()
    return emit([makeEvent('customer.subscription.deleted', sub)])
  }

  function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'Content-Length': Buffer.byteLength(body), ...headers })
    res.end(body)
  }

  function checkoutPage(s: FakeCheckoutSession): string {
    const price = `${(s.amount_total / 100).toFixed(2)} ${s.currency.toUpperCase()}`
    return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Fake Stripe Checkout</title></head><body><h1>Fake Stripe Checkout</h1>
<p id="status">${escapeHtml(s.status)}</p><p>Subscribe for ${escapeHtml(price)}</p>
<form method="post" action="/checkout/${escapeHtml(s.id)}/pay"><button type="submit">Pay</button></form>
<p><a href="${escapeHtml(s.cancel_url)}">Back</a></p></body></html>`
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake')
    const method = req.method ?? 'GET'
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')

    // The hosted checkout page and its Pay button: browser routes, no API key.
    let m: RegExpMatchArray | null
    if ((m = url.pathname.match(/^\/checkout\/([^/]+)(\/pay)?$/))) {
      const session = sessions.get(m[1] as string)
      if (!session) return send(res, 404, 'no such checkout session', { 'Content-Type': 'text/plain' })
      if (method === 'GET' && !m[2]) return send(res, 200, checkoutPage(session), { 'Content-Type': 'text/html; charset=utf-8' })
      if (method === 'POST' && m[2]) {
        if (session.status !== 'open') return send(res, 409, 'this checkout session is not open', { 'Content-Type': 'text/plain' })
        await pay(session)
        return send(res, 303, '', { Location: session.success_url.replace('{CHECKOUT_SESSION_ID}', session.id) })
      }
    }

    // The Customer Portal a portal session's URL opens (a browser route).
    if (method === 'GET' && (m = url.pathname.match(/^\/billing\/([^/]+)$/))) {
      const portal = portalSessions.get(m[1] as string)
      if (!portal) return send(res, 404, 'no such portal session', { 'Content-Type': 'text/plain' })
      const page = `<!doctype html><html><head><meta charset="utf-8"><title>Fake Stripe customer portal</title></head><body>
<h1>Fake Stripe customer portal</h1><p id="customer">${escapeHtml(portal.customer)}</p>
${portal.return_url ? `<p><a href="${escapeHtml(portal.return_url)}">Return</a></p>` : ''}</body></html>`
      return send(res, 200, page, { 'Content-Type': 'text/html; charset=utf-8' })
    }

    // Browsers ask for this on their own when showing the checkout page.
    if (method === 'GET' && url.pathname === '/favicon.ico') return send(res, 404, '', { 'Content-Type': 'text/plain' })
    if (!url.pathname.startsWith('/v1/')) throw new Unhandled(`${method} ${url.pathname}`)
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      throw new ApiError(401, 'invalid_request_error', 'Invalid API Key provided.')
    }
    const params = parseStripeForm(method === 'GET' || method === 'DELETE' ? url.search.slice(1) || body : body)
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined
    calls.push({ method, path: url.pathname, idempotencyKey: key, params })
    const fingerprint = `${method} ${url.pathname} ${JSON.stringify(params)}`
    const earlier = key ? idempotent.get(key) : undefined
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) {
        throw new ApiError(400, 'idempotency_error', 'Keys for idempotent requests can only be used with the same parameters they were first used with.')
      }
      return send(res, earlier.status, JSON.stringify(earlier.body), { 'Content-Type': 'application/json', 'Idempotent-Replayed': 'true' })
    }
    const result = await api(method, url.pathname, params)
    const status = result.status ?? 200
    // Stripe replays the response it first gave, not the object as it is now: keep a copy.
    if (key && method === 'POST') idempotent.set(key, { fingerprint, status, body: structuredClone(result.body) })
    return send(res, status, JSON.stringify(result.body), { 'Content-Type': 'application/json', 'Request-Id': newId('req') })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof ApiError) {
        const body = { error: { type: err.type, message: err.message, ...err.extra } }
        return send(res, err.status, JSON.stringify(body), { 'Content-Type': 'application/json', 'Stripe-Should-Retry': 'false' })
      }
      const what = err instanceof Unhandled ? `not built for ${err.message}` : `crashed: ${(err as Error)?.stack ?? String(err)}`
      unhandled.push(what)
      console.error(`fake-stripe: ${what}`)
      const body = { error: { type: 'api_error', message: `fake-stripe ${what}` } }
      send(res, 500, JSON.stringify(body), { 'Content-Type': 'application/json', 'Stripe-Should-Retry': 'false' })
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  base = `http://127.0.0.1:${port}`

  return {
    url: base,
    port,
    apiKey,
    client: () => new Stripe(apiKey, { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0, telemetry: false }),
    sessions,
    subscriptions,
    portalSessions,
    calls,
    unhandled,
    events,
    renew,
    giveUp,
    cancelAtPeriodEnd,
    endPeriod,
    makeEvent,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}

class Unhandled extends Error {}

export interface Delivery {
  /** The site's webhook URL. */
  url: string
  /** The exact JSON text to sign and send (the signature covers these bytes). */
  payload: string
  secret: string
  /** Signature time in seconds; now by default (older than the tolerance makes a stale delivery). */
  timestamp?: number
}

const signer = new Stripe('sk_test_signer_only_never_calls_the_api').webhooks

/** A signed webhook header for a payload, made by the stripe library's own test helper. */
export function signWebhook(payload: string, secret: string, timestamp?: number): string {
  return signer.generateTestHeaderString({ payload, secret, ...(timestamp !== undefined ? { timestamp } : {}) })
}

/** POST a payload to a webhook URL the way Stripe does, signed with `secret`. */
export function deliverWebhook(d: Delivery): Promise<Response> {
  return fetch(d.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Stripe-Signature': signWebhook(d.payload, d.secret, d.timestamp) },
    body: d.payload,
  })
}
