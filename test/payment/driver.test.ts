import Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cancelSubscription } from '../../src/drivers/stripe-billing.js'
import { parseStripeForm, startFakeStripe, type FakeEvent, type FakeStripe } from '../../testkit/fake-stripe.js'
import { REQUEST } from '../../testkit/payment-ids.js'

let fake: FakeStripe
const emitted: FakeEvent[] = []

/** A live subscription in the fake, made the way the site makes one: a session, then Pay on the checkout page. */
async function liveSubscription(): Promise<string> {
  const session = await fake.client().checkout.sessions.create({
    mode: 'subscription',
    line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: 500, recurring: { interval: 'month' }, product_data: { name: 'pub' } } }],
    subscription_data: { metadata: { buttcloud_request: REQUEST } },
    success_url: 'http://127.0.0.1:1/ok',
    cancel_url: 'http://127.0.0.1:1/cancel',
  })
  const res = await fetch(`${session.url}/pay`, { method: 'POST', redirect: 'manual' })
  expect(res.status).toBe(303)
  return fake.sessions.get(session.id)?.subscription ?? ''
}

beforeAll(async () => {
  fake = await startFakeStripe({ onEvents: (events) => void emitted.push(...events) })
})
afterAll(async () => {
  await fake.close()
})

describe('cancelSubscription (the stripe-billing driver)', () => {
  it('cancels a live subscription at once, and Stripe announces the deletion', async () => {
    const id = await liveSubscription()
    const result = await cancelSubscription(fake.client(), id, { idempotencyKey: 'buttcloud-destroy-abc' })
    expect(result).toEqual({ outcome: 'cancelled', subscription: id, status: 'canceled', customer: fake.subscriptions.get(id)?.customer })
    expect(fake.calls.at(-1)).toMatchObject({ method: 'DELETE', path: `/v1/subscriptions/${id}`, idempotencyKey: 'buttcloud-destroy-abc' })
    expect(emitted.at(-1)).toMatchObject({ type: 'customer.subscription.deleted', data: { object: { id, status: 'canceled' } } })
  })

  it('is safe to repeat: a second cancel reports it already cancelled (Stripe answers 404 there)', async () => {
    const id = await liveSubscription()
    await cancelSubscription(fake.client(), id)
    const events = emitted.length
    expect(await cancelSubscription(fake.client(), id)).toMatchObject({ outcome: 'already-cancelled', subscription: id, status: 'canceled' })
    expect(emitted.length).toBe(events)
  })

  it('reports a subscription Stripe does not know as missing', async () => {
    expect(await cancelSubscription(fake.client(), 'sub_neverexisted')).toEqual({ outcome: 'missing', subscription: 'sub_neverexisted' })
  })

  it('refuses an id that is not a subscription id, before calling Stripe', async () => {
    const calls = fake.calls.length
    await expect(cancelSubscription(fake.client(), 'cus_123')).rejects.toThrow(/sub_/)
    expect(fake.calls.length).toBe(calls)
  })

  it('wraps other failures with the subscription id and the cause', async () => {
    // A client with a key the fake does not accept: Stripe's 401, which is neither success nor "missing".
    const rejected = new Stripe('sk_test_wrong_key_1234567', { host: '127.0.0.1', port: fake.port, protocol: 'http', maxNetworkRetries: 0 })
    const err = await cancelSubscription(rejected, 'sub_abc').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).message).toBe('cancelling subscription sub_abc failed')
    expect(((err as Error).cause as { statusCode?: number }).statusCode).toBe(401)
  })
})

describe('the fake Stripe itself', () => {
  it('answers 500 loudly to anything it was not built for, and lists it', async () => {
    const before = fake.unhandled.length
    const err = await fake.client().customers.create({ email: 'x@example.org' }).catch((e: unknown) => e)
    expect((err as { statusCode?: number }).statusCode).toBe(500)
    expect(fake.unhandled.slice(before)).toEqual(['not built for POST /v1/customers'])
    fake.unhandled.length = before
  })

  it("refuses a reused idempotency key with other parameters, as Stripe does", async () => {
    const params = (name: string) => ({
      mode: 'subscription' as const,
      line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: 500, recurring: { interval: 'month' as const }, product_data: { name } } }],
      success_url: 'http://127.0.0.1:1/ok',
      cancel_url: 'http://127.0.0.1:1/cancel',
    })
    const first = await fake.client().checkout.sessions.create(params('a'), { idempotencyKey: 'k-1' })
    const again = await fake.client().checkout.sessions.create(params('a'), { idempotencyKey: 'k-1' })
    expect(again.id).toBe(first.id)
    const err = await fake.client().checkout.sessions.create(params('b'), { idempotencyKey: 'k-1' }).catch((e: unknown) => e)
    expect((err as { type?: string }).type).toBe('StripeIdempotencyError')
  })

  it("decodes Stripe's form encoding with '+' and '/' intact", () => {
    const body = new URLSearchParams({ 'metadata[r]': '%a+b/c=.sha256', 'items[0][x]': '1', 'items[1][x]': '2' }).toString()
    expect(parseStripeForm(body)).toEqual({ metadata: { r: '%a+b/c=.sha256' }, items: [{ x: '1' }, { x: '2' }] })
  })
})
