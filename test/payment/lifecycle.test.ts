import { describe, expect, it } from 'vitest'
import type { PaymentFact } from '../../src/protocol/payment.js'
import type { PaymentTimers } from '../../src/payment/config.js'
import { orderFacts, paymentStanding, paymentStandings, type PaymentStanding } from '../../src/payment/lifecycle.js'
import { REQUEST, fact, msgId } from '../../testkit/payment-ids.js'

const H = 3_600_000
const D = 24 * H
const T0 = 1_800_000_000_000
const timers: PaymentTimers = { graceMs: 7 * D, retentionMs: 30 * D, unpaidExpiryMs: 3 * D }

function standing(facts: readonly PaymentFact[], now: number, free = false): PaymentStanding {
  return paymentStanding(REQUEST, facts, { requestedAt: T0, now, timers, free })
}

const paid = fact('checkout-completed', T0 + H, { status: 'paid', periodEnd: T0 + 31 * D })
const renewed = fact('invoice-paid', T0 + 31 * D, { status: 'paid', periodEnd: T0 + 62 * D })
const failed = fact('invoice-payment-failed', T0 + 31 * D)
const pastDue = fact('subscription-updated', T0 + 31 * D, { status: 'past_due' })
const paidLate = fact('invoice-paid', T0 + 33 * D, { status: 'paid', periodEnd: T0 + 64 * D })
const deleted = fact('subscription-deleted', T0 + 60 * D, { status: 'canceled' })
const cancelled = fact('cancel-requested', T0 + 40 * D, { status: 'canceled' })

// The owner cancels in Stripe's portal at the end of the period (T0 + 31 D): an update that says when.
const cancelScheduled = fact('subscription-updated', T0 + 10 * D, { status: 'active', cancelAt: T0 + 31 * D, periodEnd: T0 + 31 * D })
// …and renews before the end: a later update without cancelAt.
const cancelUndone = fact('subscription-updated', T0 + 20 * D, { status: 'active', periodEnd: T0 + 31 * D })
const endedAtPeriodEnd = fact('subscription-deleted', T0 + 31 * D, { status: 'canceled' })

type Row = [name: string, facts: PaymentFact[], now: number, expected: Partial<PaymentStanding>]

const table: Row[] = [
  ['nothing yet: unpaid until the expiry', [], T0 + H, { state: 'unpaid', runAllowed: false, expiresAt: T0 + 3 * D, changesAt: T0 + 3 * D }],
  ['nothing by the expiry: expired, final', [], T0 + 3 * D, { state: 'expired', runAllowed: false, changesAt: undefined }],
  ['checkout paid: active', [paid], T0 + 2 * H, { state: 'active', runAllowed: true, paidUntil: T0 + 31 * D, subscription: 'sub_test1' }],
  ['paid after the expiry time still counts (the payment came first)', [paid], T0 + 10 * D, { state: 'active', runAllowed: true }],
  [
    'checkout with an async method still settling: unpaid',
    [fact('checkout-completed', T0 + H, { status: 'unpaid' })],
    T0 + 2 * H,
    { state: 'unpaid', runAllowed: false },
  ],
  [
    'async method settled by invoice.paid: active',
    [fact('checkout-completed', T0 + H, { status: 'unpaid' }), fact('invoice-paid', T0 + 2 * H)],
    T0 + 3 * H,
    { state: 'active', runAllowed: true },
  ],
  ['a failure before any payment leaves it unpaid', [failed], T0 + 2 * D, { state: 'unpaid', runAllowed: false }],
  ['renewal paid: active, paid period extended', [paid, renewed], T0 + 32 * D, { state: 'active', paidUntil: T0 + 62 * D }],
  [
    'renewal failed: grace with a warning, still running',
    [paid, failed],
    T0 + 32 * D,
    {
      state: 'grace',
      runAllowed: true,
      graceEndsAt: T0 + 38 * D,
      changesAt: T0 + 38 * D,
      warn: { reason: 'payment-failed', key: `payment-failed:${T0 + 31 * D}`, since: T0 + 31 * D, graceEndsAt: T0 + 38 * D },
    },
  ],
  ['past_due subscription: grace too', [paid, pastDue], T0 + 32 * D, { state: 'grace', runAllowed: true }],
  ['failure and past_due of one episode share one grace', [paid, failed, pastDue], T0 + 32 * D, { graceEndsAt: T0 + 38 * D }],
  [
    'grace over: lapsed, stopped, data kept',
    [paid, failed],
    T0 + 38 * D,
    {
      state: 'lapsed',
      runAllowed: false,
      destroyDue: false,
      destroyDueAt: undefined,
      warn: { reason: 'stopped-unpaid', key: `stopped-unpaid:${T0 + 31 * D}`, since: T0 + 31 * D, stoppedAt: T0 + 38 * D },
    },
  ],
  ['paid within grace: active again', [paid, failed, paidLate], T0 + 34 * D, { state: 'active', runAllowed: true, warn: undefined }],
  ['paid after lapsing: active again', [paid, failed, fact('invoice-paid', T0 + 50 * D)], T0 + 51 * D, { state: 'active', runAllowed: true }],
  [
    'subscription updated back to active ends the grace',
    [paid, pastDue, fact('subscription-updated', T0 + 32 * D, { status: 'active' })],
    T0 + 40 * D,
    { state: 'active' },
  ],
  [
    'a failure and a payment in the same second: the payment wins',
    [paid, failed, fact('invoice-paid', T0 + 31 * D)],
    T0 + 40 * D,
    { state: 'active' },
  ],
  [
    'subscription deleted: ended, stopped, data kept for the retention',
    [paid, deleted],
    T0 + 61 * D,
    {
      state: 'ended',
      runAllowed: false,
      destroyDue: false,
      destroyDueAt: T0 + 90 * D,
      endedAt: T0 + 60 * D,
      // The next change by the clock: the reminder, three days before the data goes.
      changesAt: T0 + 87 * D,
      warn: { reason: 'subscription-ended', key: `subscription-ended:${T0 + 60 * D}`, endedAt: T0 + 60 * D, destroyDueAt: T0 + 90 * D },
    },
  ],
  [
    'three days before the retention ends: the owner is reminded that the data goes (once: one key)',
    [paid, deleted],
    T0 + 87 * D,
    {
      state: 'ended',
      runAllowed: false,
      destroyDue: false,
      changesAt: T0 + 90 * D,
      warn: { reason: 'retention-ends', key: `retention-ends:${T0 + 60 * D}`, endedAt: T0 + 60 * D, destroyDueAt: T0 + 90 * D },
    },
  ],
  [
    'ended, then a new subscription pays while the data is kept: the same pub is active again',
    [paid, deleted, fact('checkout-completed', T0 + 70 * D, { status: 'paid', subscription: 'sub_test2', event: 'evt_again' })],
    T0 + 71 * D,
    { state: 'active', runAllowed: true, destroyDue: false, subscription: 'sub_test2', revivedAt: T0 + 70 * D, destroyDueAt: undefined, warn: undefined },
  ],
  [
    'resubscribed by invoice.paid alone (the checkout event still on its way): active again',
    [paid, deleted, fact('invoice-paid', T0 + 70 * D, { subscription: 'sub_test2', event: 'evt_again_paid' })],
    T0 + 71 * D,
    { state: 'active', subscription: 'sub_test2', revivedAt: T0 + 70 * D },
  ],
  [
    'resubscribed while in the reminder window: active again, no warning left',
    [paid, deleted, fact('invoice-paid', T0 + 89 * D, { subscription: 'sub_test2', event: 'evt_again_late' })],
    T0 + 89 * D + H,
    { state: 'active', warn: undefined, changesAt: undefined },
  ],
  [
    'a new checkout still settling (async method) does not revive the pub yet',
    [paid, deleted, fact('checkout-completed', T0 + 70 * D, { status: 'unpaid', subscription: 'sub_test2', event: 'evt_again_unpaid' })],
    T0 + 71 * D,
    { state: 'ended', runAllowed: false },
  ],
  [
    'a new subscription after the retention: the data is gone, nothing revives (a new request is needed)',
    [paid, deleted, fact('invoice-paid', T0 + 90 * D, { subscription: 'sub_test2', event: 'evt_too_late' })],
    T0 + 91 * D,
    { state: 'ended', destroyDue: true, revivedAt: undefined },
  ],
  [
    'after the payment-failed lapse Stripe gives up (deletes it); a new subscription revives the pub',
    [paid, failed, fact('subscription-deleted', T0 + 45 * D, { status: 'canceled' }), fact('invoice-paid', T0 + 50 * D, { subscription: 'sub_test2', event: 'evt_after_lapse' })],
    T0 + 51 * D,
    { state: 'active', runAllowed: true, graceEndsAt: undefined, revivedAt: T0 + 50 * D },
  ],
  [
    "late events of the ended subscription do not touch the new one",
    [
      paid,
      deleted,
      fact('invoice-paid', T0 + 70 * D, { subscription: 'sub_test2', event: 'evt_new_paid' }),
      fact('invoice-payment-failed', T0 + 71 * D, { event: 'evt_old_failed' }),
      fact('subscription-deleted', T0 + 72 * D, { status: 'canceled', event: 'evt_old_deleted_again' }),
    ],
    T0 + 73 * D,
    { state: 'active', subscription: 'sub_test2' },
  ],
  [
    'the revived subscription ends too: a new retention counts from its end',
    [paid, deleted, fact('invoice-paid', T0 + 70 * D, { subscription: 'sub_test2', event: 'evt_new_paid' }), fact('subscription-deleted', T0 + 100 * D, { subscription: 'sub_test2', status: 'canceled', event: 'evt_new_deleted' })],
    T0 + 101 * D,
    { state: 'ended', destroyDue: false, destroyDueAt: T0 + 130 * D, revivedAt: undefined },
  ],
  [
    "after the owner's destroy nothing revives the pub",
    [paid, cancelled, fact('invoice-paid', T0 + 45 * D, { subscription: 'sub_test2', event: 'evt_after_destroy' })],
    T0 + 46 * D,
    { state: 'ended', destroyDue: true },
  ],
  ['retention over: destroy due', [paid, deleted], T0 + 90 * D, { state: 'ended', destroyDue: true, changesAt: undefined }],
  [
    'a subscription updated to canceled ends it like a deletion',
    [paid, fact('subscription-updated', T0 + 60 * D, { status: 'canceled' })],
    T0 + 61 * D,
    { state: 'ended', destroyDueAt: T0 + 90 * D },
  ],
  ['ended while in grace: still ended', [paid, failed, deleted], T0 + 61 * D, { state: 'ended', runAllowed: false }],
  ['late events after the deletion change nothing', [paid, deleted, fact('invoice-paid', T0 + 70 * D)], T0 + 71 * D, { state: 'ended' }],
  [
    "owner's destroy: ended, destroy due at once, no warning",
    [paid, cancelled],
    T0 + 40 * D,
    { state: 'ended', runAllowed: false, destroyDue: true, destroyDueAt: T0 + 40 * D, warn: undefined },
  ],
  [
    "owner's destroy after the subscription already ended: destroy at once, not after the retention",
    [paid, fact('subscription-deleted', T0 + 35 * D), cancelled],
    T0 + 40 * D,
    { state: 'ended', destroyDue: true, destroyDueAt: T0 + 40 * D },
  ],
  [
    'the deletion Stripe sends after our cancel changes nothing',
    [paid, cancelled, fact('subscription-deleted', T0 + 40 * D + 1000)],
    T0 + 41 * D,
    { state: 'ended', destroyDueAt: T0 + 40 * D },
  ],
  [
    'cancelled at period end: still active, and the owner is told when it ends and when the data goes',
    [paid, cancelScheduled],
    T0 + 11 * D,
    {
      state: 'active',
      runAllowed: true,
      cancelAt: T0 + 31 * D,
      warn: { reason: 'cancel-scheduled', key: `cancel-scheduled:${T0 + 31 * D}`, cancelAt: T0 + 31 * D, destroyDueAt: T0 + 61 * D },
    },
  ],
  ['cancelled, then renewed before the end: active, no cancellation, no warning', [paid, cancelScheduled, cancelUndone], T0 + 21 * D, { state: 'active', cancelAt: undefined, warn: undefined }],
  [
    'cancelled at period end, and the period ended: stopped, data kept for the retention period',
    [paid, cancelScheduled, endedAtPeriodEnd],
    T0 + 32 * D,
    { state: 'ended', runAllowed: false, destroyDue: false, destroyDueAt: T0 + 61 * D, cancelAt: undefined },
  ],
  ['cancelled at period end, then the retention is over: destroy due', [paid, cancelScheduled, endedAtPeriodEnd], T0 + 61 * D, { state: 'ended', destroyDue: true }],
  [
    'payment failed during the last (cancelled) period: grace wins, the pub still runs',
    [paid, cancelScheduled, fact('invoice-payment-failed', T0 + 12 * D)],
    T0 + 13 * D,
    { state: 'grace', runAllowed: true, warn: expect.objectContaining({ reason: 'payment-failed' }) },
  ],
  [
    'facts of another request are ignored',
    [fact('checkout-completed', T0 + H, { request: msgId('other') })],
    T0 + 2 * H,
    { state: 'unpaid' },
  ],
]

/** Every ordering of a list (n! of them). */
function* permutations<T>(items: readonly T[]): Generator<T[]> {
  if (items.length <= 1) {
    yield [...items]
    return
  }
  for (let i = 0; i < items.length; i++) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)]
    for (const p of permutations(rest)) yield [items[i] as T, ...p]
  }
}

describe('payment lifecycle', () => {
  it.each(table)('%s', (_name, facts, now, expected) => {
    const s = standing(facts, now)
    for (const [k, v] of Object.entries(expected)) expect(s[k as keyof PaymentStanding], k).toEqual(v)
  })

  it.each(table.filter(([, facts]) => facts.length > 1))(
    'every order and duplicates give the same standing: %s',
    (_name, facts, now) => {
      const reference = standing(facts, now)
      let orders = 0
      for (const order of permutations(facts)) {
        expect(standing(order, now)).toEqual(reference)
        // Each event delivered again (Stripe retries), and one event a third time, in another order.
        expect(standing([...order, ...[...order].reverse(), order[0] as PaymentFact], now)).toEqual(reference)
        orders++
      }
      expect(orders).toBeGreaterThan(1)
    },
  )

  it('two facts under one event id (a corrupt log) resolve the same way in any order', () => {
    const a = fact('invoice-paid', T0 + H, { event: 'evt_same' })
    const b = fact('invoice-payment-failed', T0 + H, { event: 'evt_same' })
    expect(orderFacts(REQUEST, [a, b])).toEqual(orderFacts(REQUEST, [b, a]))
    expect(orderFacts(REQUEST, [a, b])).toHaveLength(1)
  })

  it('free requests may run at once, whatever the facts say', () => {
    expect(standing([], T0, true)).toEqual({ state: 'free', runAllowed: true, destroyDue: false })
    expect(standing([paid, deleted], T0 + 100 * D, true).runAllowed).toBe(true)
  })

  it('with the clock alone the standing changes exactly at changesAt', () => {
    for (const [name, facts] of table) {
      const lastFact = Math.max(T0, ...facts.map((f) => f.created))
      let previous = standing(facts, lastFact)
      for (let now = lastFact + H; now <= T0 + 120 * D; now += H) {
        const current = standing(facts, now)
        if (JSON.stringify(current) !== JSON.stringify(previous)) {
          // Whatever changed was announced: the previous standing named this moment (or an earlier one).
          expect(previous.changesAt, name).toBeDefined()
          expect(previous.changesAt as number, name).toBeLessThanOrEqual(now)
          expect(previous.changesAt as number, name).toBeGreaterThan(now - H)
        }
        previous = current
      }
    }
  })

  it('with a retention shorter than the reminder lead, the reminder is due at once when the subscription ends', () => {
    const short = { ...timers, retentionMs: 2 * D }
    const s = paymentStanding(REQUEST, [paid, deleted], { requestedAt: T0, now: T0 + 60 * D, timers: short, free: false })
    expect(s).toMatchObject({ state: 'ended', destroyDueAt: T0 + 62 * D, changesAt: T0 + 62 * D, warn: { reason: 'retention-ends', destroyDueAt: T0 + 62 * D } })
  })

  it('walks one pub through its whole life with an injected clock', () => {
    const log: PaymentFact[] = []
    const at = (now: number) => standing(log, now)
    expect(at(T0).state).toBe('unpaid')
    log.push(paid)
    expect(at(T0 + 2 * H).state).toBe('active')
    log.push(failed)
    expect(at(T0 + 31 * D + H)).toMatchObject({ state: 'grace', runAllowed: true })
    expect(at(T0 + 38 * D - 1)).toMatchObject({ state: 'grace', runAllowed: true })
    expect(at(T0 + 38 * D)).toMatchObject({ state: 'lapsed', runAllowed: false })
    log.push(fact('invoice-paid', T0 + 45 * D))
    expect(at(T0 + 45 * D)).toMatchObject({ state: 'active', runAllowed: true })
    log.push(fact('subscription-deleted', T0 + 70 * D))
    expect(at(T0 + 70 * D)).toMatchObject({ state: 'ended', runAllowed: false, destroyDue: false })
    expect(at(T0 + 100 * D - 1).destroyDue).toBe(false)
    expect(at(T0 + 100 * D).destroyDue).toBe(true)
  })

  it('computes many requests in one pass', () => {
    const other = msgId('other')
    const result = paymentStandings(
      [
        { id: REQUEST, requestedAt: T0, free: false },
        { id: other, requestedAt: T0, free: false },
        { id: msgId('free'), requestedAt: T0, free: true },
      ],
      [paid, fact('invoice-paid', T0 + H, { request: other, event: 'evt_other' }), fact('subscription-deleted', T0 + 2 * H, { request: other, event: 'evt_other_end' })],
      T0 + 3 * H,
      timers,
    )
    expect([...result.values()].map((s) => s.state)).toEqual(['active', 'ended', 'free'])
  })
})
