import { createHash } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createPaymentSite } from '../../web/site.js'
import { checkoutIdempotencyKey } from '../../web/checkout.js'
import type { PaymentSiteOptions } from '../../web/types.js'
import { payLinkToken } from '../../src/payment/links.js'
import { startFakeStripe, type FakeStripe } from '../../testkit/fake-stripe.js'
import { ENTRY, LINK_SECRET, MemoryDirectory, MemoryLedger, OFFER, WEBHOOK_SECRET, memoryLog } from '../../testkit/payment-fixtures.js'
import { OWNER, PROVIDER, REQUEST, msgId } from '../../testkit/payment-ids.js'

const TOKEN = payLinkToken(LINK_SECRET, REQUEST)
const BASE = 'https://pay.example'

function site(overrides: Partial<PaymentSiteOptions> = {}) {
  const directory = new MemoryDirectory()
  const { log, lines } = memoryLog()
  const app = createPaymentSite({
    linkSecret: LINK_SECRET,
    baseUrl: BASE,
    provider: PROVIDER,
    offer: OFFER,
    directory,
    ledger: new MemoryLedger(),
    log,
    ...overrides,
  })
  return { app, directory, lines }
}

const form = (body: string) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body })

/** Every page body and log line a test produced, to check that no secret ever shows up. */
const seen: string[] = []
async function text(res: Response): Promise<string> {
  const body = await res.text()
  seen.push(body)
  return body
}

describe('payment site in the free mode (no Stripe keys)', () => {
  it('is healthy and does not say whether payments are on', async () => {
    for (const app of [site().app, site({ stripe: {} as never, webhookSecret: WEBHOOK_SECRET }).app]) {
      const res = await app.request('/healthz')
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ ok: true })
    }
  })

  it('shows the pub and says there is nothing to pay', async () => {
    const res = await site().app.request(`/pay/${TOKEN}`)
    const html = await text(res)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(html).toContain('Our Pub')
    expect(html).toContain(OWNER)
    expect(html).toContain('Small (128 MiB)')
    expect(html).toContain('This plan is free: there is nothing to pay')
    expect(html).not.toContain('<form')
  })

  it('refuses a Pay post: there is nothing to pay', async () => {
    const res = await site().app.request(`/pay/${TOKEN}`, form('accept=yes'))
    expect(res.status).toBe(409)
    expect(await text(res)).toContain('Nothing to pay')
  })

  it('has no webhook endpoint', async () => {
    const res = await site().app.request('/webhooks/stripe', { method: 'POST', body: '{}' })
    expect(res.status).toBe(404)
  })
})

describe('pay links at the edge', () => {
  it.each([
    ['a truncated token', `/pay/${TOKEN.slice(0, 50)}`, 400, 'Broken payment link'],
    ['garbage', '/pay/%3Cscript%3E', 400, 'Broken payment link'],
    ['a forged token (right shape, wrong MAC)', `/pay/${TOKEN.slice(0, 44)}${'A'.repeat(42)}A`, 404, 'Unknown payment link'],
    ['a genuine token for a request nobody made', `/pay/${payLinkToken(LINK_SECRET, msgId('nobody'))}`, 404, 'Unknown payment link'],
    ['a token made with another secret', `/pay/${payLinkToken(`${LINK_SECRET}x`, REQUEST)}`, 404, 'Unknown payment link'],
    ['the success page of a forged token', `/pay/${TOKEN.slice(0, 44)}${'A'.repeat(42)}A/success`, 404, 'Unknown payment link'],
    ['the cancel page of a broken token', '/pay/abc/cancel', 400, 'Broken payment link'],
    ['a page that does not exist', '/admin', 404, 'Not found'],
  ])('%s: %i page', async (_name, path, status, title) => {
    const res = await site().app.request(path)
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await text(res)
    expect(html).toContain(`<h1>${title}</h1>`)
    expect(html).not.toContain('<script')
  })

  it('says when the plan is no longer offered (409)', async () => {
    const { app, directory } = site()
    directory.set({ ...ENTRY, plan: 'gone-plan' })
    const res = await app.request(`/pay/${TOKEN}`)
    expect(res.status).toBe(409)
    expect(await text(res)).toContain('is not in the current offer')
  })

  it.each([
    ['destroyed', 'This pub has been destroyed; there is nothing to pay.'],
    ['failed', 'This request could not be carried out, so there is nothing to pay.'],
  ] as const)('says a %s pub is gone (410)', async (state, sentence) => {
    const { app, directory } = site({ stripe: {} as never, webhookSecret: WEBHOOK_SECRET })
    directory.set({ ...ENTRY, state })
    const res = await app.request(`/pay/${TOKEN}`)
    expect(res.status).toBe(410)
    const html = await text(res)
    expect(html).toContain(sentence)
    expect(html).not.toContain('<form')
  })

  it('sends security headers, and the CSP hash matches the inline stylesheet', async () => {
    const res = await site().app.request(`/pay/${TOKEN}`)
    const html = await text(res)
    const style = html.match(/<style>([\s\S]*?)<\/style>/)?.[1] ?? ''
    const hash = createHash('sha256').update(style).digest('base64')
    expect(res.headers.get('content-security-policy')).toContain(`style-src 'sha256-${hash}'`)
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(res.headers.get('referrer-policy')).toBe('same-origin')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(html).toContain('name="viewport"')
  })
})

describe('terms and privacy', () => {
  it('serve sensible defaults naming the provider', async () => {
    const { app } = site()
    const terms = await text(await app.request('/terms'))
    const privacy = await text(await app.request('/privacy'))
    expect(terms).toContain('These terms apply to pubs hosted by ButtCloud Test')
    expect(privacy).toContain('ButtCloud Test keeps as little about you as it can')
  })

  it("serve the operator's own text, paragraph by paragraph, escaped", async () => {
    const { app } = site({ termsText: 'First <b>bold</b> & more.\n\nSecond <script>alert(1)</script>', privacyText: 'Only this.' })
    const terms = await text(await app.request('/terms'))
    expect(terms).toContain('<p>First &lt;b&gt;bold&lt;/b&gt; &amp; more.</p><p>Second &lt;script&gt;alert(1)&lt;/script&gt;</p>')
    expect(await text(await app.request('/privacy'))).toContain('<p>Only this.</p>')
  })
})

describe('operator identity and the landing page', () => {
  const operator = { name: 'Example Pubs Ltd', contact: 'help@pay.example', jurisdiction: 'Ireland' }

  it('names the operator, its contact and jurisdiction on terms, privacy, landing, pay and success pages', async () => {
    const { app } = site({ offer: { ...OFFER, operator } })
    for (const path of ['/', '/terms', '/privacy', `/pay/${TOKEN}`, `/pay/${TOKEN}/success`]) {
      const res = await app.request(path)
      expect(res.status, path).toBe(200)
      expect(await text(res), path).toContain('Operated by Example Pubs Ltd (Ireland). Contact: help@pay.example')
    }
    // The default texts say it in words as well.
    expect(await text(await app.request('/terms'))).toContain('operated by Example Pubs Ltd, established in Ireland, whose law applies')
  })

  it('names no operator where none is configured, and the default terms say so', async () => {
    const { app } = site()
    expect(await text(await app.request('/'))).not.toContain('Operated by')
    expect(await text(await app.request('/terms'))).toContain('has not named its operator yet')
  })

  it('serves a plain landing page at / that says what the site is, lists the plans and links terms and privacy', async () => {
    const res = await site().app.request('/')
    const html = await text(res)
    expect(res.status).toBe(200)
    expect(html).toContain('<h1>Scuttlebutt pubs, hosted</h1>')
    expect(html).toContain('ButtCloud Test runs Scuttlebutt pubs')
    expect(html).toContain('Small: 128 MiB memory, 1024 MiB disk, a public web page, €5.00 per month')
    expect(html).toContain('Free: 64 MiB memory, 1024 MiB disk, a public web page, free')
    expect(html).toContain('<a href="/terms">terms of service</a>')
    expect(html).toContain('<a href="/privacy">privacy notice</a>')
    expect(html).not.toContain('<script')
  })

  it('says that Stripe emails the receipts, on the pay page, the success page and in the default terms', async () => {
    const { app } = site({ stripe: {} as never, webhookSecret: WEBHOOK_SECRET })
    expect(await text(await app.request(`/pay/${TOKEN}`))).toContain('emails you a receipt for every payment')
    expect(await text(await app.request(`/pay/${TOKEN}/success`))).toContain('Stripe emails the receipt')
    expect(await text(await app.request('/terms'))).toContain('Stripe emails you a receipt for every payment')
  })
})

describe('construction', () => {
  it.each([
    ['a short link secret', { linkSecret: 'short' }, /linkSecret/],
    ['Stripe without a webhook secret', { stripe: {} as never }, /webhookSecret/],
    ['a base URL that is not http(s)', { baseUrl: 'ftp://x' }, /baseUrl/],
    ['an offer that does not parse', { offer: { ...OFFER, plans: [] } }, /offer/],
  ])('refuses %s', (_name, change, message) => {
    expect(() => site(change as Partial<PaymentSiteOptions>)).toThrow(message)
  })
})

describe('paying through Stripe Checkout (real client, fake Stripe)', () => {
  let fake: FakeStripe
  beforeAll(async () => {
    fake = await startFakeStripe()
  })
  afterAll(async () => {
    await fake.close()
  })
  afterEach(() => {
    // A request the fake was not built for would mean the site calls Stripe in a way nobody checked.
    expect(fake.unhandled).toEqual([])
  })

  const paid = (overrides: Partial<PaymentSiteOptions> = {}) => site({ stripe: fake.client(), webhookSecret: WEBHOOK_SECRET, ...overrides })

  it('shows the price, the terms and a Pay form that works without JavaScript', async () => {
    const res = await paid().app.request(`/pay/${TOKEN}`)
    const html = await text(res)
    expect(res.status).toBe(200)
    expect(html).toContain('€5.00 per month')
    expect(html).toContain(`<form method="post" action="/pay/${TOKEN}">`)
    expect(html).toContain('<input type="checkbox" name="accept" value="yes" required=""/>')
    expect(html).toContain('href="/terms"')
    expect(html).toContain('<button type="submit">Pay €5.00 per month</button>')
  })

  it('asks to accept the terms first, without calling Stripe', async () => {
    const before = fake.calls.length
    const res = await paid().app.request(`/pay/${TOKEN}`, form('accept=no'))
    expect(res.status).toBe(400)
    expect(await text(res)).toContain('Please accept the terms')
    expect(fake.calls.length).toBe(before)
  })

  it('creates a subscription Checkout Session with request and owner in its metadata and redirects to it (303)', async () => {
    const res = await paid().app.request(`/pay/${TOKEN}`, form('accept=yes'))
    expect(res.status).toBe(303)
    const call = fake.calls.at(-1)
    expect(call).toMatchObject({ method: 'POST', path: '/v1/checkout/sessions', idempotencyKey: checkoutIdempotencyKey(REQUEST) })
    const params = call?.params as Record<string, unknown>
    // The ids are full of '+', '/' and '=': they must reach Stripe byte for byte.
    const metadata = { buttcloud_request: REQUEST, buttcloud_owner: OWNER, buttcloud_plan: 'small' }
    expect(params).toMatchObject({
      mode: 'subscription',
      metadata,
      subscription_data: { metadata },
      line_items: [{ quantity: '1', price_data: { currency: 'eur', unit_amount: '500', recurring: { interval: 'month' } } }],
      success_url: `${BASE}/pay/${TOKEN}/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${BASE}/pay/${TOKEN}/cancel`,
    })
    const session = [...fake.sessions.values()].find((s) => s.metadata.buttcloud_request === REQUEST)
    expect(res.headers.get('location')).toBe(session?.url)
  })

  it('hands out one session per request however often Pay is pressed', async () => {
    const { app } = paid()
    const locations = await Promise.all(
      [1, 2, 3].map(async () => (await app.request(`/pay/${TOKEN}`, form('accept=yes'))).headers.get('location')),
    )
    expect(new Set(locations).size).toBe(1)
    expect([...fake.sessions.values()].filter((s) => s.metadata.buttcloud_request === REQUEST)).toHaveLength(1)
  })

  it('offers no Pay button once the pub is paid for, and refuses the post', async () => {
    const { app, directory } = paid()
    directory.set({ ...ENTRY, state: 'up' })
    const html = await text(await app.request(`/pay/${TOKEN}`))
    expect(html).toContain('Nothing to pay here: this pub is up')
    // No Pay form; the one form left is the way to manage billing.
    expect(html).not.toContain(`<form method="post" action="/pay/${TOKEN}">`)
    expect(html).toContain(`<form method="post" action="/pay/${TOKEN}/billing">`)
    expect((await app.request(`/pay/${TOKEN}`, form('accept=yes'))).status).toBe(409)
  })

  it('treats a plan priced 0 as free even with Stripe configured', async () => {
    const { app, directory } = paid()
    directory.set({ ...ENTRY, plan: 'free' })
    expect(await text(await app.request(`/pay/${TOKEN}`))).toContain('This plan is free')
  })

  it('answers 413 to an oversized form', async () => {
    const res = await paid().app.request(`/pay/${TOKEN}`, form(`accept=yes&junk=${'x'.repeat(10_000)}`))
    expect(res.status).toBe(413)
    expect(await text(res)).toContain('Too much data')
  })

  it('answers 502 with a calm page when Stripe is unreachable, and logs no key', async () => {
    const down = await startFakeStripe({ apiKey: fake.apiKey })
    const client = down.client()
    await down.close()
    const { app, lines } = paid({ stripe: client })
    const res = await app.request(`/pay/${TOKEN}`, form('accept=yes'))
    expect(res.status).toBe(502)
    expect(await text(res)).toContain('Nothing was charged')
    expect(lines.join('\n')).toContain('checkout session could not be created')
    seen.push(...lines)
  })

  it('confirms on the success page only a completed session of this very request', async () => {
    const { app } = paid()
    const location = (await app.request(`/pay/${TOKEN}`, form('accept=yes'))).headers.get('location') ?? ''
    const sessionId = location.split('/').at(-1) ?? ''
    const before = await text(await app.request(`/pay/${TOKEN}/success?session_id=${sessionId}`))
    expect(before).toContain('it can take a minute for Stripe to confirm it')
    // Pay on the fake's checkout page: it redirects to our success URL with the session id filled in.
    const payRes = await fetch(`${fake.url}/checkout/${sessionId}/pay`, { method: 'POST', redirect: 'manual' })
    expect(payRes.headers.get('location')).toBe(`${BASE}/pay/${TOKEN}/success?session_id=${sessionId}`)
    const after = await text(await app.request(`/pay/${TOKEN}/success?session_id=${sessionId}`))
    expect(after).toContain('Stripe has confirmed your payment for Our Pub')
    // The same completed session shown under another request's link proves nothing for that request.
    const otherRequest = msgId('someone else')
    const { app: other, directory } = paid()
    directory.set({ ...ENTRY, request: otherRequest })
    const otherToken = payLinkToken(LINK_SECRET, otherRequest)
    expect(await text(await other.request(`/pay/${otherToken}/success?session_id=${sessionId}`))).toContain('it can take a minute')
    expect(await text(await app.request(`/pay/${TOKEN}/success?session_id=not-a-session`))).toContain('it can take a minute')
  })

  it('links the paid owner to a fresh Stripe Customer Portal session from the success page (303), and nobody else', async () => {
    const { app } = paid()
    // The earlier test paid for REQUEST: its subscription and customer are in the fake.
    const sub = [...fake.subscriptions.values()].find((x) => x.metadata.buttcloud_request === REQUEST && x.status === 'active')
    expect(sub).toBeDefined()
    const session = [...fake.sessions.values()].find((x) => x.subscription === sub?.id)
    const success = await text(await app.request(`/pay/${TOKEN}/success?session_id=${session?.id}`))
    expect(success).toContain(`<form method="post" action="/pay/${TOKEN}/billing">`)
    const res = await app.request(`/pay/${TOKEN}/billing`, { method: 'POST', headers: { Origin: BASE } })
    expect(res.status).toBe(303)
    const portal = [...fake.portalSessions.values()].at(-1)
    expect(res.headers.get('location')).toBe(portal?.url)
    expect(portal).toMatchObject({ customer: sub?.customer, return_url: `${BASE}/pay/${TOKEN}` })
    // A request with no subscription has nothing to manage; a forged link reaches nothing.
    const { app: other, directory } = paid()
    const unpaid = msgId('unpaid-billing')
    directory.set({ ...ENTRY, request: unpaid })
    const none = await other.request(`/pay/${payLinkToken(LINK_SECRET, unpaid)}/billing`, { method: 'POST' })
    expect(none.status).toBe(409)
    expect(await text(none)).toContain('No subscription yet')
    expect((await app.request(`/pay/${TOKEN.slice(0, 44)}${'A'.repeat(42)}A/billing`, { method: 'POST' })).status).toBe(404)
  })

  it('says on the cancel page that nothing was charged, with the way back', async () => {
    const html = await text(await paid().app.request(`/pay/${TOKEN}/cancel`))
    expect(html).toContain('No payment was made')
    expect(html).toContain(`href="/pay/${TOKEN}"`)
  })

  it('refuses a Pay post from another site (403) before calling Stripe; its own origin passes', async () => {
    const { app, lines, directory } = paid()
    // A request of its own: an earlier test paid for REQUEST, and a paid pub gets no second Checkout.
    const request = msgId('origin-check')
    directory.set({ ...ENTRY, request })
    const token = payLinkToken(LINK_SECRET, request)
    const before = fake.calls.length
    const from = (headers: Record<string, string>) => app.request(`/pay/${token}`, { ...form('accept=yes'), headers: { ...form('').headers, ...headers } })
    const evil = await from({ Origin: 'https://evil.example' })
    expect(evil.status).toBe(403)
    expect(await text(evil)).toContain('Form from another site')
    // The same origin on another scheme or port is another origin.
    expect((await from({ Origin: 'http://pay.example' })).status).toBe(403)
    expect((await from({ 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403)
    expect(fake.calls.length).toBe(before)
    expect(lines.some((l) => l.includes('form post from another site refused'))).toBe(true)
    expect((await from({ Origin: BASE, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(303)
  })

  it('limits POSTs per client per minute (429 with Retry-After), then lets the client in again', async () => {
    let now = 1_000_000
    const { app } = paid({ trustProxy: true, postLimits: { payPerMinute: 3 }, now: () => now })
    const post = (client: string) => app.request(`/pay/${TOKEN}`, { ...form('accept=no'), headers: { ...form('').headers, 'X-Forwarded-For': `203.0.113.9, ${client}` } })
    for (let i = 0; i < 3; i++) expect((await post('198.51.100.1')).status).toBe(400)
    const limited = await post('198.51.100.1')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('60')
    // Another client has its own budget; the first one's comes back with the next window.
    expect((await post('198.51.100.2')).status).toBe(400)
    now += 60_000
    expect((await post('198.51.100.1')).status).toBe(400)
  })

  it('keeps at most maxClients windows: the oldest client is forgotten first', async () => {
    const { app } = paid({ trustProxy: true, postLimits: { payPerMinute: 1, maxClients: 2 } })
    const post = (client: string) => app.request(`/pay/${TOKEN}`, { ...form('accept=no'), headers: { ...form('').headers, 'X-Forwarded-For': client } })
    expect((await post('a')).status).toBe(400)
    expect((await post('a')).status).toBe(429)
    await post('b')
    await post('c')
    // a's window was dropped to make room for c: the map stays at two entries, and a starts afresh.
    expect((await post('a')).status).toBe(400)
  })

  it('limits webhook POSTs per client too, with their own, larger budget', async () => {
    const { app } = paid({ postLimits: { webhooksPerMinute: 2 } })
    const hit = () => app.request('/webhooks/stripe', { method: 'POST', headers: { 'Stripe-Signature': 't=1,v1=00' }, body: '{}' })
    expect((await hit()).status).toBe(400)
    expect((await hit()).status).toBe(400)
    const limited = await hit()
    expect(limited.status).toBe(429)
    expect(await limited.json()).toEqual({ error: 'too many requests' })
  })

  it('sends HSTS when the public URL is https, and not over plain http', async () => {
    expect((await paid().app.request('/terms')).headers.get('strict-transport-security')).toBe('max-age=31536000')
    expect((await paid({ baseUrl: 'http://127.0.0.1:8119' }).app.request('/terms')).headers.get('strict-transport-security')).toBeNull()
  })

  it('never put a secret or key in any page or log line', () => {
    expect(seen.length).toBeGreaterThan(20)
    for (const body of seen) {
      expect(body).not.toContain(LINK_SECRET)
      expect(body).not.toContain(WEBHOOK_SECRET)
      expect(body).not.toContain(fake.apiKey)
    }
  })
})
