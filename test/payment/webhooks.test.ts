import type Stripe from 'stripe'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createPaymentSite } from '../../web/site.js'
import { serveSite, type RunningSite } from '../../web/server.js'
import type { PaymentSiteOptions } from '../../web/types.js'
import { cancelSubscription } from '../../src/drivers/stripe-billing.js'
import type { PubRecord } from '../../src/control/record.js'
import { gate } from '../../src/control/gate.js'
import { paymentConfigFromEnv } from '../../src/payment/config.js'
import { paymentHooks } from '../../src/provider/payment.js'
import { paymentStanding } from '../../src/payment/lifecycle.js'
import { DEFAULT_TIMERS } from '../../src/payment/config.js'
import { payLinkToken } from '../../src/payment/links.js'
import { deliverWebhook, signWebhook, startFakeStripe, type FakeEvent, type FakeStripe } from '../../testkit/fake-stripe.js'
import { ENTRY, LINK_SECRET, MemoryDirectory, MemoryLedger, OFFER, WEBHOOK_SECRET, memoryLog } from '../../testkit/payment-fixtures.js'
import { OWNER, PROVIDER, REQUEST, fact, feedId, msgId } from '../../testkit/payment-ids.js'

/**
 * Each test gets its own fake Stripe, site (served over HTTP, so the raw body really comes off a socket) and
 * ledger; the fake's emitted events are delivered, signed, to the current site as Stripe would.
 */
let fake: FakeStripe
let running: RunningSite | undefined
let ledger: MemoryLedger
let directory: MemoryDirectory
let lines: string[]
let hook = ''
/** Stripe's clock (seconds), moved by hand: a renewal comes a month after the checkout, not a millisecond. */
let stripeClock = 0
const DAY_S = 86_400
const delivered: Array<{ type: string; status: number; outcome?: string }> = []

async function start(overrides: Partial<PaymentSiteOptions> = {}, ledgerOptions = {}) {
  await running?.close()
  await fake?.close()
  stripeClock = Math.floor(Date.now() / 1000)
  fake = await startFakeStripe({
    nowSeconds: () => stripeClock,
    onEvents: async (events) => {
      for (const e of events) {
        const r = await deliver(e)
        delivered.push({ type: e.type, status: r.status, outcome: r.outcome })
      }
    },
  })
  ledger = new MemoryLedger(ledgerOptions)
  directory = new MemoryDirectory()
  const logged = memoryLog()
  lines = logged.lines
  const app = createPaymentSite({
    stripe: fake.client(),
    webhookSecret: WEBHOOK_SECRET,
    linkSecret: LINK_SECRET,
    baseUrl: 'http://127.0.0.1:1',
    provider: PROVIDER,
    offer: OFFER,
    directory,
    ledger,
    log: logged.log,
    ...overrides,
  })
  running = await serveSite(app)
  hook = `${running.url}/webhooks/stripe`
  delivered.length = 0
}

async function deliver(event: FakeEvent | string, secret = WEBHOOK_SECRET, timestamp?: number) {
  const payload = typeof event === 'string' ? event : JSON.stringify(event)
  const res = await deliverWebhook({ url: hook, payload, secret, timestamp })
  const body = (await res.json()) as { outcome?: string; error?: string }
  return { status: res.status, ...body }
}

/** Walk a checkout through the fake: create the session via the site, press Pay on the fake's page. */
async function checkoutAndPay(): Promise<string> {
  const token = payLinkToken(LINK_SECRET, REQUEST)
  const res = await fetch(`${running?.url}/pay/${token}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'accept=yes',
    redirect: 'manual',
  })
  expect(res.status).toBe(303)
  const sessionUrl = res.headers.get('location') ?? ''
  const paid = await fetch(`${sessionUrl}/pay`, { method: 'POST', redirect: 'manual' })
  expect(paid.status).toBe(303)
  const session = fake.sessions.get(sessionUrl.split('/').at(-1) ?? '')
  return session?.subscription ?? ''
}

/** Press Pay on the pay page (terms accepted), without following the redirect. */
const pressPay = (token: string) =>
  fetch(`${running?.url}/pay/${token}`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'accept=yes', redirect: 'manual' })

const snapshot = () => JSON.stringify({ facts: ledger.facts, effects: [...ledger.effects] })
const standingNow = () =>
  paymentStanding(REQUEST, ledger.facts, { requestedAt: 0, now: stripeClock * 1000, timers: DEFAULT_TIMERS, free: false })

afterAll(async () => {
  await running?.close()
  await fake.close()
})
beforeEach(async () => {
  await start()
})
afterEach(() => {
  expect(fake.unhandled).toEqual([])
  for (const line of lines) {
    expect(line).not.toContain(WEBHOOK_SECRET)
    expect(line).not.toContain(fake.apiKey)
    expect(line).not.toMatch(/v1=[0-9a-f]{64}/)
  }
})

describe('Stripe webhooks: the full subscription story', () => {
  it('records checkout and first invoice once each; the pub may run', async () => {
    const subscription = await checkoutAndPay()
    expect(delivered).toEqual([
      { type: 'customer.subscription.created', status: 200, outcome: 'ignored' },
      { type: 'invoice.paid', status: 200, outcome: 'recorded' },
      { type: 'checkout.session.completed', status: 200, outcome: 'recorded' },
    ])
    expect(ledger.facts.map((f) => f.kind).sort()).toEqual(['checkout-completed', 'invoice-paid'])
    const checkout = ledger.facts.find((f) => f.kind === 'checkout-completed')
    const sub = fake.subscriptions.get(subscription)
    expect(checkout).toEqual({
      type: 'buttcloud/payment',
      version: 1,
      request: REQUEST,
      event: fake.events.find((e) => e.type === 'checkout.session.completed')?.id,
      kind: 'checkout-completed',
      subscription,
      customer: sub?.customer,
      status: 'paid',
      created: (sub?.created ?? 0) * 1000,
      recps: [PROVIDER],
    })
    expect(ledger.facts.find((f) => f.kind === 'invoice-paid')?.periodEnd).toBe((sub?.items.data[0]?.current_period_end ?? 0) * 1000)
    expect(standingNow()).toMatchObject({ state: 'active', runAllowed: true, subscription })
  })

  it.each([
    ['a failed renewal', 'failed', ['invoice.payment_failed']],
    // Held for the customer's authentication (3-D Secure): not paid, so it counts as a failure and starts the grace.
    ['a renewal held for authentication', 'action-required', ['invoice.payment_failed', 'invoice.payment_action_required']],
  ] as const)('maps %s to grace (one grace from the attempt), a paid one back to active', async (_name, outcome, invoiceEvents) => {
    const subscription = await checkoutAndPay()
    stripeClock += 30 * DAY_S
    await fake.renew(subscription, outcome)
    expect(delivered.slice(-invoiceEvents.length - 1)).toEqual([
      ...invoiceEvents.map((type) => ({ type, status: 200, outcome: 'recorded' })),
      { type: 'customer.subscription.updated', status: 200, outcome: 'recorded' },
    ])
    expect(ledger.facts.at(-1)).toMatchObject({ kind: 'subscription-updated', status: 'past_due', subscription })
    expect(standingNow()).toMatchObject({ state: 'grace', runAllowed: true, graceEndsAt: stripeClock * 1000 + DEFAULT_TIMERS.graceMs, warn: { reason: 'payment-failed' } })
    stripeClock += 2 * DAY_S
    await fake.renew(subscription, 'paid')
    expect(ledger.facts.at(-2)).toMatchObject({ kind: 'invoice-paid', subscription })
    expect(standingNow()).toMatchObject({ state: 'active', runAllowed: true })
    expect(standingNow()).not.toHaveProperty('graceEndsAt')
  })

  it('cancel at period end: runs with a warning until the end, renewing undoes it, the end stops it (data kept)', async () => {
    const subscription = await checkoutAndPay()
    const periodEnd = fake.subscriptions.get(subscription)?.items.data[0]?.current_period_end ?? 0
    stripeClock += 10 * DAY_S
    await fake.cancelAtPeriodEnd(subscription, true)
    expect(delivered.at(-1)).toEqual({ type: 'customer.subscription.updated', status: 200, outcome: 'recorded' })
    expect(ledger.facts.at(-1)).toMatchObject({ kind: 'subscription-updated', status: 'active', cancelAt: periodEnd * 1000 })
    const cancelling = standingNow()
    expect(cancelling).toMatchObject({ state: 'active', runAllowed: true, cancelAt: periodEnd * 1000, warn: { reason: 'cancel-scheduled' } })
    // What the owner reads in the pub's status.
    const record = { request: REQUEST, intent: 'running', rejected: undefined } as Partial<PubRecord> as PubRecord
    expect(gate(record, { memoryMiB: 128, standing: cancelling }).warning).toContain(`runs until ${new Date(periodEnd * 1000).toISOString().slice(0, 10)}`)

    stripeClock += 5 * DAY_S
    await fake.cancelAtPeriodEnd(subscription, false)
    expect(ledger.facts.at(-1)).not.toHaveProperty('cancelAt')
    expect(standingNow()).toMatchObject({ state: 'active' })
    expect(standingNow()).not.toHaveProperty('warn')

    stripeClock += DAY_S
    await fake.cancelAtPeriodEnd(subscription, true)
    stripeClock = periodEnd
    await fake.endPeriod(subscription)
    expect(standingNow()).toMatchObject({ state: 'ended', runAllowed: false, destroyDue: false, destroyDueAt: periodEnd * 1000 + DEFAULT_TIMERS.retentionMs })
  })

  it('after the subscription ended at period end, a new Checkout through the same pay link revives the pub (while its data is kept)', async () => {
    const first = await checkoutAndPay()
    const periodEnd = fake.subscriptions.get(first)?.items.data[0]?.current_period_end ?? 0
    stripeClock += 10 * DAY_S
    await fake.cancelAtPeriodEnd(first, true)
    stripeClock = periodEnd
    await fake.endPeriod(first)
    const ended = standingNow()
    expect(ended).toMatchObject({ state: 'ended', runAllowed: false, destroyDue: false, endedAt: periodEnd * 1000 })
    // What the provider's directory says of such a pub (src/provider/payment.ts): stopped, and payable again.
    directory.set({ ...ENTRY, state: 'stopped', resubscribe: { endedAt: ended.endedAt!, dataKeptUntil: ended.destroyDueAt! } })
    const page = await (await fetch(`${running?.url}/pay/${payLinkToken(LINK_SECRET, REQUEST)}`)).text()
    expect(page).toContain('Subscribe again')
    expect(page).toContain(`kept until ${new Date(ended.destroyDueAt!).toISOString().slice(0, 10)}`)

    stripeClock += 2 * DAY_S
    const second = await checkoutAndPay()
    expect(second).not.toBe(first)
    expect(delivered.slice(-3).map((d) => [d.type, d.outcome])).toEqual([
      ['customer.subscription.created', 'ignored'],
      ['invoice.paid', 'recorded'],
      ['checkout.session.completed', 'recorded'],
    ])
    expect(standingNow()).toMatchObject({ state: 'active', runAllowed: true, subscription: second, revivedAt: stripeClock * 1000 })
    // Two Checkouts of one request, each under its own idempotency key (a replayed first session would be useless).
    const keys = fake.calls.filter((c) => c.path === '/v1/checkout/sessions').map((c) => c.idempotencyKey)
    expect(new Set(keys).size).toBe(2)
  })

  it('after payment failed past the grace and Stripe gave up, paying again revives the pub', async () => {
    const first = await checkoutAndPay()
    stripeClock += 30 * DAY_S
    await fake.renew(first, 'failed')
    stripeClock += 8 * DAY_S
    expect(standingNow()).toMatchObject({ state: 'lapsed', runAllowed: false })
    // While the failed subscription lives, a second one is refused: the open invoice is paid in the portal instead.
    const token = payLinkToken(LINK_SECRET, REQUEST)
    directory.set({ ...ENTRY, state: 'stopped' })
    const refused = await pressPay(token)
    expect(refused.status).toBe(409)
    await fake.giveUp(first)
    const ended = standingNow()
    expect(ended).toMatchObject({ state: 'ended', destroyDue: false })
    directory.set({ ...ENTRY, state: 'stopped', resubscribe: { endedAt: ended.endedAt!, dataKeptUntil: ended.destroyDueAt! } })
    stripeClock += DAY_S
    const second = await checkoutAndPay()
    expect(standingNow()).toMatchObject({ state: 'active', runAllowed: true, subscription: second })
    expect(standingNow()).not.toHaveProperty('graceEndsAt')
  })

  it('once the data is gone, the pay link offers no Checkout: a new request is needed', async () => {
    directory.set({ ...ENTRY, state: 'stopped', resubscribe: { endedAt: Date.now() - 40 * DAY_S * 1000, dataKeptUntil: Date.now() - 10 * DAY_S * 1000 } })
    const token = payLinkToken(LINK_SECRET, REQUEST)
    const res = await pressPay(token)
    expect(res.status).toBe(409)
    directory.set({ ...ENTRY, state: 'destroyed' })
    expect((await fetch(`${running?.url}/pay/${token}`)).status).toBe(410)
    expect(fake.calls.filter((c) => c.path === '/v1/checkout/sessions')).toEqual([])
  })

  it("the owner's destroy cancels the subscription; Stripe's deletion event ends it", async () => {
    const subscription = await checkoutAndPay()
    const result = await cancelSubscription(fake.client(), subscription, { idempotencyKey: 'destroy-1' })
    expect(result).toMatchObject({ outcome: 'cancelled', subscription, status: 'canceled' })
    expect(delivered.at(-1)).toEqual({ type: 'customer.subscription.deleted', status: 200, outcome: 'recorded' })
    expect(ledger.facts.at(-1)).toMatchObject({ kind: 'subscription-deleted', status: 'canceled', subscription })
    expect(standingNow()).toMatchObject({ state: 'ended', runAllowed: false })
  })
})

describe('Stripe webhooks: what must change nothing', () => {
  /** A real, recordable event: the checkout of a paid session. */
  async function recordable(): Promise<FakeEvent> {
    const subscription = await checkoutAndPay()
    const event = fake.events.find((e) => e.type === 'checkout.session.completed' && (e.data.object as { subscription?: string }).subscription === subscription)
    if (!event) throw new Error('no checkout event')
    // Start again from an empty ledger (and a fresh fake), so this event is new to the site under test.
    await start()
    return event
  }

  it('rejects a delivery without a signature (400)', async () => {
    const event = await recordable()
    const res = await fetch(hook, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(event) })
    expect(res.status).toBe(400)
    expect(ledger.facts).toEqual([])
    expect(ledger.recordCalls).toBe(0)
  })

  it('rejects a forged event signed with a made-up secret (400)', async () => {
    const event = await recordable()
    expect(await deliver(event, 'whsec_forged_by_someone_else')).toEqual({ status: 400, error: 'signature verification failed' })
    expect(ledger.facts).toEqual([])
  })

  it('rejects a genuine signature over a tampered body (400)', async () => {
    const event = await recordable()
    const payload = JSON.stringify(event)
    const header = signWebhook(payload, WEBHOOK_SECRET)
    const tampered = payload.replace(REQUEST, msgId('attacker'))
    expect(tampered).not.toBe(payload)
    const res = await fetch(hook, { method: 'POST', headers: { 'Stripe-Signature': header }, body: tampered })
    expect(res.status).toBe(400)
    expect(ledger.facts).toEqual([])
  })

  it('rejects a stale event, signed longer ago than the tolerance (400)', async () => {
    const event = await recordable()
    const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600
    expect((await deliver(event, WEBHOOK_SECRET, tenMinutesAgo)).status).toBe(400)
    expect(ledger.facts).toEqual([])
    // Within the tolerance the very same event is accepted: the age was the only problem.
    expect(await deliver(event, WEBHOOK_SECRET, tenMinutesAgo + 400)).toMatchObject({ status: 200, outcome: 'recorded' })
  })

  it('ignores a replay of the same signed delivery: recorded once', async () => {
    const event = await recordable()
    const payload = JSON.stringify(event)
    const header = signWebhook(payload, WEBHOOK_SECRET)
    const send = () => fetch(hook, { method: 'POST', headers: { 'Stripe-Signature': header }, body: payload })
    expect(await (await send()).json()).toEqual({ received: true, outcome: 'recorded' })
    const after = snapshot()
    for (let i = 0; i < 3; i++) expect(await (await send()).json()).toEqual({ received: true, outcome: 'duplicate' })
    // Stripe's own retry comes with a fresh signature: still the same event id, still once.
    expect(await deliver(event)).toMatchObject({ status: 200, outcome: 'duplicate' })
    expect(snapshot()).toBe(after)
    expect(ledger.effects.get(event.id)).toBe(1)
  })

  it('records one event delivered 20 times at once, even with a ledger whose check and write race', async () => {
    const event = await recordable()
    await start({}, { atomic: false, delayMs: 5 })
    // The control: this ledger on its own does record twice when asked twice at once.
    const control = new MemoryLedger({ atomic: false, delayMs: 5 })
    const sample = fact('invoice-paid', 1, { event: 'evt_control' })
    await Promise.all([control.record(sample), control.record(sample)])
    expect(control.doubleEffects()).toEqual(['evt_control'])

    const outcomes = await Promise.all(Array.from({ length: 20 }, () => deliver(event)))
    expect(outcomes.filter((o) => o.outcome === 'recorded')).toHaveLength(1)
    expect(outcomes.filter((o) => o.outcome === 'duplicate')).toHaveLength(19)
    expect(ledger.doubleEffects()).toEqual([])
    expect(ledger.facts).toHaveLength(1)
  })

  it('acknowledges event types it does not use (200) and records nothing', async () => {
    const event = fake.makeEvent('charge.refunded', { object: 'charge', id: 'ch_1', metadata: { buttcloud_request: REQUEST } })
    expect(await deliver(event)).toEqual({ status: 200, received: true, outcome: 'ignored' })
    expect(ledger.recordCalls).toBe(0)
  })

  it.each([
    ['no ButtCloud metadata (another product on the same Stripe account)', {}],
    ['an owner that is not the request author', { buttcloud_request: REQUEST, buttcloud_owner: feedId('mallory') }],
    ['a request id that is not a message id', { buttcloud_request: 'pub-1' }],
  ])('ignores a handled type with %s', async (_name, metadata) => {
    const sub = { object: 'subscription', id: 'sub_meta1', customer: 'cus_1', status: 'active', metadata, items: { data: [] } }
    expect(await deliver(fake.makeEvent('customer.subscription.updated', sub))).toMatchObject({ status: 200, outcome: 'ignored' })
    expect(ledger.recordCalls).toBe(0)
  })

  it('ignores a handled type whose object is not what the type says', async () => {
    const event = fake.makeEvent('invoice.paid', { object: 'charge', id: 'ch_1' })
    expect(await deliver(event)).toMatchObject({ status: 200, outcome: 'ignored' })
    expect(ledger.recordCalls).toBe(0)
  })

  it('answers 500 when the ledger fails, so Stripe retries; the retry records it', async () => {
    const event = await recordable()
    ledger.failNext = 1
    expect(await deliver(event)).toMatchObject({ status: 500 })
    expect(ledger.facts).toEqual([])
    expect(await deliver(event)).toMatchObject({ status: 200, outcome: 'recorded' })
    expect(ledger.facts).toHaveLength(1)
  })

  it('answers 413 to a body over a megabyte, before verifying anything', async () => {
    const res = await fetch(hook, { method: 'POST', headers: { 'Stripe-Signature': 't=1,v1=00' }, body: 'x'.repeat(1024 * 1024 + 1) })
    expect(res.status).toBe(413)
  })
})

describe('webhook edge cases', () => {
  const hourS = 3600
  it('refuses a signature dated an hour in the future, accepts one within the tolerance (either way)', async () => {
    const event = fake.makeEvent('customer.subscription.updated', { object: 'subscription', id: 'sub_fut1', customer: 'cus_1', status: 'active', metadata: { buttcloud_request: REQUEST, buttcloud_owner: OWNER } })
    const nowS = Math.floor(Date.now() / 1000)
    expect(await deliver(event, WEBHOOK_SECRET, nowS + hourS)).toEqual({ status: 400, error: 'signature verification failed' })
    expect(lines.some((l) => l.includes('signature dated in the future'))).toBe(true)
    expect(ledger.recordCalls).toBe(0)
    expect(await deliver(event, WEBHOOK_SECRET, nowS + 200)).toMatchObject({ status: 200, outcome: 'recorded' })
  })

  it.each([
    ['a JSON array', '[1,2,3]'],
    ['a JSON string', '"evt_1"'],
    ['null', 'null'],
    ['an object that is not an event', '{"id":"evt_1","type":"invoice.paid","created":1,"data":[]}'],
  ])('answers a signed %s with 400, not 500', async (_name, payload) => {
    expect(await deliver(payload)).toEqual({ status: 400, error: 'not a Stripe event' })
    expect(lines.some((l) => l.includes('signed, but not a Stripe event'))).toBe(true)
    expect(ledger.recordCalls).toBe(0)
  })

  it('logs a signed body that is not JSON as malformed, not as a bad signature', async () => {
    expect(await deliver('{"id": "evt_1", ')).toEqual({ status: 400, error: 'malformed JSON' })
    expect(lines.filter((l) => l.includes('webhook rejected'))).toEqual([expect.stringContaining('malformed JSON')])
  })

  it('asks Stripe to retry (503) a fresh event for a request not indexed yet, and records it once the request is known', async () => {
    const late = msgId('restored-later')
    const sub = { object: 'subscription', id: 'sub_late1', customer: 'cus_1', status: 'active', metadata: { buttcloud_request: late, buttcloud_owner: OWNER } }
    const event = fake.makeEvent('customer.subscription.updated', sub)
    expect(await deliver(event)).toMatchObject({ status: 503, outcome: 'retry-later' })
    expect(ledger.recordCalls).toBe(0)
    // The provider indexes the request (a restore finished); Stripe's retry now lands.
    directory.set({ ...ENTRY, request: late })
    expect(await deliver(event)).toMatchObject({ status: 200, outcome: 'recorded' })
    expect(ledger.facts).toEqual([expect.objectContaining({ request: late, event: event.id })])
  })

  it('acknowledges and ignores an event for an unknown request once it is older than the retry window', async () => {
    const sub = { object: 'subscription', id: 'sub_old2', customer: 'cus_1', status: 'active', metadata: { buttcloud_request: msgId('unknown'), buttcloud_owner: OWNER } }
    const dayAndAMinuteAgo = Math.floor(Date.now() / 1000) - 24 * hourS - 60
    expect(await deliver(fake.makeEvent('customer.subscription.updated', sub, dayAndAMinuteAgo))).toMatchObject({ status: 200, outcome: 'ignored' })
    expect(ledger.recordCalls).toBe(0)
  })
})

describe('one subscription per pub', () => {
  it('refuses a second Checkout for a pub that already has a live subscription, whatever the idempotency key', async () => {
    await checkoutAndPay()
    const sessionsBefore = fake.calls.filter((c) => c.path === '/v1/checkout/sessions').length
    const res = await fetch(`${running?.url}/pay/${payLinkToken(LINK_SECRET, REQUEST)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'accept=yes',
      redirect: 'manual',
    })
    expect(res.status).toBe(409)
    expect(await res.text()).toContain('Already subscribed')
    // It looked the subscription up at Stripe and made no new session (which the idempotency key would only stop for 24 h).
    expect(fake.calls.filter((c) => c.path === '/v1/subscriptions/search')).toHaveLength(2)
    expect(fake.calls.filter((c) => c.path === '/v1/checkout/sessions')).toHaveLength(sessionsBefore)
  })

  it("the owner's destroy cancels every subscription of that pub, not only the latest, and no other pub's", async () => {
    const first = await checkoutAndPay()
    // A second subscription for the same pub (made before this check existed, or by hand in the dashboard).
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'subscription',
      line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: 500, recurring: { interval: 'month' }, product_data: { name: 'pub' } } }],
      success_url: 'http://127.0.0.1:1/ok',
      cancel_url: 'http://127.0.0.1:1/no',
    }
    const payFor = async (request: string) => {
      const session = await fake.client().checkout.sessions.create({ ...params, subscription_data: { metadata: { buttcloud_request: request, buttcloud_owner: OWNER } } })
      expect((await fetch(`${session.url}/pay`, { method: 'POST', redirect: 'manual' })).status).toBe(303)
      return fake.sessions.get(session.id)?.subscription ?? ''
    }
    const second = await payFor(REQUEST)
    const otherPub = await payFor(msgId('another-pub'))
    const standing = standingNow()
    // The ledger knows one of the two as the latest (same second: the tie is broken by id); the other one is found at Stripe.
    expect([first, second]).toContain(standing.subscription)

    const config = paymentConfigFromEnv({ STRIPE_SECRET_KEY: fake.apiKey, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, BUTTCLOUD_PAY_LINK_SECRET: LINK_SECRET })
    const hooks = paymentHooks({ config, stripe: fake.client(), linkSecret: LINK_SECRET, baseUrl: 'http://127.0.0.1:1' }, OFFER.plans, PROVIDER)
    const record = { request: REQUEST, owner: OWNER, provider: PROVIDER, plan: 'small' } as Partial<PubRecord> as PubRecord
    const command = msgId('destroy-command')
    expect(await hooks.onDestroy(record, command, standing, stripeClock * 1000)).toMatchObject({ kind: 'cancel-requested', request: REQUEST })
    expect(fake.subscriptions.get(first)?.status).toBe('canceled')
    expect(fake.subscriptions.get(second)?.status).toBe('canceled')
    expect(fake.subscriptions.get(otherPub)?.status).toBe('active')
    // A retried destroy is safe: nothing live is left, and the ones cancelled stay cancelled.
    expect(await hooks.onDestroy(record, command, standing, stripeClock * 1000)).toMatchObject({ kind: 'cancel-requested' })
    expect([...fake.subscriptions.values()].filter((s) => s.status === 'active').map((s) => s.id)).toEqual([otherPub])
  })
})

describe('older webhook shapes (endpoints pinned to an API version before basil)', () => {
  it('reads the subscription and metadata from the invoice itself, and the period from the subscription', async () => {
    const meta = { buttcloud_request: REQUEST, buttcloud_owner: OWNER }
    const invoice = { object: 'invoice', customer: 'cus_old1', subscription: 'sub_old1', subscription_details: { metadata: meta }, lines: { data: [{ period: { end: 2_000_000 } }] } }
    const sub = { object: 'subscription', id: 'sub_old1', customer: { id: 'cus_old1' }, status: 'active', metadata: meta, current_period_end: 2_000_000 }
    expect(await deliver(fake.makeEvent('invoice.payment_failed', invoice, 1000))).toMatchObject({ status: 200, outcome: 'recorded' })
    expect(await deliver(fake.makeEvent('customer.subscription.updated', sub, 1001))).toMatchObject({ status: 200, outcome: 'recorded' })
    expect(ledger.facts).toEqual([
      expect.objectContaining({ kind: 'invoice-payment-failed', subscription: 'sub_old1', customer: 'cus_old1', periodEnd: 2_000_000_000, created: 1_000_000 }),
      expect.objectContaining({ kind: 'subscription-updated', subscription: 'sub_old1', customer: 'cus_old1', periodEnd: 2_000_000_000, status: 'active' }),
    ])
  })
})

describe('the directory entry is what the webhook checks against', () => {
  it('uses the entry of the request the event names', async () => {
    const lookupsBefore = directory.lookups
    const sub = { object: 'subscription', id: 'sub_dir1', customer: 'cus_1', status: 'past_due', metadata: { buttcloud_request: ENTRY.request, buttcloud_owner: ENTRY.owner } }
    expect(await deliver(fake.makeEvent('customer.subscription.updated', sub))).toMatchObject({ outcome: 'recorded' })
    expect(directory.lookups).toBe(lookupsBefore + 1)
  })
})
