/**
 * Payment facts read back from Stripe, with the real `stripe` client against the fake: a subscriber pays, the
 * provider's records are backed up, then a renewal and a cancellation at period end reach the old provider (which
 * answers them, so Stripe never sends them again). A provider restored from the backup reads Stripe's events back
 * and knows the same standing as the old one; reading again records nothing; an event for a request not known yet
 * is left to be read again. The fake lists events as Stripe does (newest first, paged) and refuses what it was not
 * built for.
 */
import type Stripe from 'stripe'
import { afterEach, describe, expect, it } from 'vitest'
import { readBackSince, STRIPE_EVENTS_KEPT_SEC, STRIPE_RETRIES_SEC, syncStripeEvents } from '../../web/stripe-sync.js'
import { paymentEventProcessor } from '../../web/webhook.js'
import { paymentStanding } from '../../src/payment/lifecycle.js'
import { DEFAULT_TIMERS } from '../../src/payment/config.js'
import { HANDLED_EVENTS, META_OWNER, META_REQUEST } from '../../web/stripe-events.js'
import { startFakeStripe, type FakeEvent, type FakeStripe } from '../../testkit/fake-stripe.js'
import { ENTRY, MemoryDirectory, MemoryLedger, memoryLog } from '../../testkit/payment-fixtures.js'
import { OWNER, PROVIDER, REQUEST } from '../../testkit/payment-ids.js'
import type { MsgId } from '../../src/protocol/ids.js'

const fakes: FakeStripe[] = []
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.close()
})

/** A fake Stripe whose clock moves a day per `later()`, handing each event it emits to `deliver`. */
async function stripeWith(deliver: (events: FakeEvent[]) => Promise<void>) {
  let days = 0
  const fake = await startFakeStripe({ nowSeconds: () => Math.floor(Date.now() / 1000) + days * 86_400, onEvents: deliver })
  fakes.push(fake)
  return { fake, later: () => days++ }
}

/** What a provider holding these facts makes of the pub's payments now. */
const standingOf = (ledger: MemoryLedger, now: number) => paymentStanding(REQUEST, ledger.facts, { requestedAt: now - 86_400_000, now, timers: DEFAULT_TIMERS, free: false })

/** Checkout as the site starts it, and the customer's Pay at the hosted page. */
async function subscribe(fake: FakeStripe, request: MsgId = REQUEST): Promise<string> {
  const metadata = { [META_REQUEST]: request, [META_OWNER]: OWNER }
  const session = await fake.client().checkout.sessions.create({
    mode: 'subscription',
    line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: 500, recurring: { interval: 'month' }, product_data: { name: 'Small' } } }],
    success_url: 'https://pay.example/success?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://pay.example/pay',
    metadata,
    subscription_data: { metadata },
  })
  const paid = await fetch(`${fake.url}/checkout/${session.id}/pay`, { method: 'POST', redirect: 'manual' })
  expect(paid.status).toBe(303)
  return [...fake.subscriptions.values()].find((s) => s.metadata[META_REQUEST] === request)!.id
}

describe('payment facts read back from Stripe', () => {
  it('a provider restored from a backup made before a renewal and a cancellation knows the same standing as the old one', async () => {
    const old = new MemoryLedger()
    const directory = new MemoryDirectory([ENTRY])
    const { log } = memoryLog()
    const oldHandles = paymentEventProcessor({ provider: PROVIDER, directory, ledger: old, log })
    // The old provider answers every event as its webhook would: Stripe then never sends it again.
    const { fake, later } = await stripeWith(async (events) => {
      for (const e of events) await oldHandles(e as unknown as Stripe.Event)
    })
    const subscription = await subscribe(fake)
    expect(old.facts.map((f) => f.kind).sort()).toEqual(['checkout-completed', 'invoice-paid'])
    const backup = [...old.facts]

    later()
    await fake.renew(subscription, 'paid')
    later()
    await fake.cancelAtPeriodEnd(subscription, true)
    const now = Date.now() + 3 * 86_400_000
    const truth = standingOf(old, now)
    expect(truth.cancelAt, 'the old provider knows of the cancellation').toBeDefined()

    // Restored from the backup: the facts made since are gone, and with them what the owner did.
    const restored = new MemoryLedger()
    for (const f of backup) await restored.record(f)
    expect(standingOf(restored, now)).not.toEqual(truth)

    const restoredHandles = paymentEventProcessor({ provider: PROVIDER, directory, ledger: restored, log })
    const read = await syncStripeEvents(fake.client(), restoredHandles, Date.now() / 1000 - 30 * 86_400)
    const since = old.facts.length - backup.length
    expect(since, 'facts the old provider made after the backup').toBeGreaterThanOrEqual(2)
    expect(read).toEqual({ outcomes: { recorded: since, duplicate: backup.length, ignored: 0, 'retry-later': 0 } })
    expect(standingOf(restored, now)).toEqual(truth)
    expect(new Set(restored.facts.map((f) => f.event))).toEqual(new Set(old.facts.map((f) => f.event)))

    // Reading again is safe: every event is already known, and each took effect once.
    const again = await syncStripeEvents(fake.client(), restoredHandles, Date.now() / 1000 - 30 * 86_400)
    expect(again.outcomes).toEqual({ recorded: 0, duplicate: old.facts.length, ignored: 0, 'retry-later': 0 })
    expect(restored.doubleEffects()).toEqual([])
    // Listed with the handled types only (customer.subscription.created is not one), every page.
    for (const call of fake.calls.filter((c) => c.path === '/v1/events')) {
      expect(call.params.limit).toBe('100')
      expect(Object.values(call.params.types as Record<string, string>)).toEqual(Object.keys(HANDLED_EVENTS))
    }
    expect(fake.unhandled).toEqual([])
  })

  it('leaves an event for a request not known yet to be read again, from that event on', async () => {
    const { fake } = await stripeWith(async () => undefined)
    await subscribe(fake)
    const ledger = new MemoryLedger()
    const handles = paymentEventProcessor({ provider: PROVIDER, directory: new MemoryDirectory([]), ledger, log: memoryLog().log })
    const read = await syncStripeEvents(fake.client(), handles, 0)
    expect(read.outcomes).toEqual({ recorded: 0, duplicate: 0, ignored: 0, 'retry-later': 2 })
    expect(read.retryFrom).toBe(Math.min(...fake.events.map((e) => e.created)))
    expect(ledger.facts).toEqual([])
  })

  it('the fake lists events as Stripe does: newest first, paged, filtered by type and time, and refuses what it was not built for', async () => {
    const { fake, later } = await stripeWith(async () => undefined)
    const first = await subscribe(fake, REQUEST)
    later()
    await fake.renew(first, 'paid')
    const stripe = fake.client()
    const all: string[] = []
    for await (const e of stripe.events.list({ limit: 2 })) all.push(e.id)
    const newestFirst = [...fake.events].reverse().map((e) => e.id)
    expect(all).toEqual(newestFirst)
    const paid = await stripe.events.list({ types: ['invoice.paid'], limit: 100 })
    expect(paid.data.map((e) => e.type)).toEqual(['invoice.paid', 'invoice.paid'])
    const recent = await stripe.events.list({ created: { gte: fake.events.at(-1)!.created }, limit: 100 })
    expect(recent.data.map((e) => e.id)).toEqual(fake.events.filter((e) => e.created >= fake.events.at(-1)!.created).reverse().map((e) => e.id))
    await expect(stripe.events.list({ limit: 101 })).rejects.toThrow(/limit/)
    await expect(stripe.events.list({ type: 'invoice.paid' })).rejects.toThrow(/not built for/)
    expect(fake.unhandled).toEqual(['not built for events list parameter type'])
  })
  it('reads from the newest fact held less the days Stripe retries a delivery, never more than the 30 days Stripe keeps', () => {
    const now = 1_750_000_000_000
    expect(readBackSince(now)).toBe(now / 1000 - STRIPE_EVENTS_KEPT_SEC)
    expect(readBackSince(now, now - 86_400_000)).toBe(now / 1000 - 86_400 - STRIPE_RETRIES_SEC)
    expect(readBackSince(now, now - 60 * 86_400_000)).toBe(now / 1000 - STRIPE_EVENTS_KEPT_SEC)
  })
})
