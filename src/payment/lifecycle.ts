/**
 * The payment lifecycle as a pure fold: payment facts (in any order, with duplicates) plus the request time and
 * the clock in, one standing per request out. The planner reads the standing; nothing here does I/O, so the same
 * log always gives the same answer, and tests drive the clock by hand.
 *
 *   unpaid --paid--> active --payment failed--> grace --grace over--> lapsed (stopped, data kept)
 *     |                 ^                          |                     |
 *     |                 +-------paid again---------+---------------------+
 *     +--unpaid expiry--> expired (final: nothing ever ran)
 *   any paid state --subscription deleted--> ended (stopped) --retention--> destroy due
 *   ended, data still kept --a new subscription pays--> active again (revived: same pub, data, identity, port)
 *   any paid state --owner's destroy (cancel-requested)--> ended for good, destroy due at once
 *   active --cancelled at period end--> active with cancelAt (runs; renewing undoes it) --Stripe deletes it--> ended
 */
import type { MsgId } from '../protocol/ids.js'
import type { PaymentFact, PaymentKind } from '../protocol/payment.js'
import type { PaymentTimers } from './config.js'

export const PAYMENT_STATES = ['free', 'unpaid', 'expired', 'active', 'grace', 'lapsed', 'ended'] as const
export type PaymentState = (typeof PAYMENT_STATES)[number]

/**
 * Something the owner should be told privately. `key` is stable for one episode, so the provider can send each
 * warning once (remember the keys it has sent) however often it recomputes the standing.
 */
export type PaymentWarning =
  | { reason: 'payment-failed'; key: string; since: number; graceEndsAt: number }
  | { reason: 'stopped-unpaid'; key: string; since: number; stoppedAt: number }
  | { reason: 'subscription-ended'; key: string; endedAt: number; destroyDueAt: number }
  | { reason: 'cancel-scheduled'; key: string; cancelAt: number; destroyDueAt: number }
  | { reason: 'retention-ends'; key: string; endedAt: number; destroyDueAt: number }

/**
 * How long before the end of the retention the owner of an ended subscription is reminded that the data goes (at the
 * start of the retention when it is shorter): time enough to pay again.
 */
export const RETENTION_NOTICE_MS = 3 * 24 * 3_600_000

export interface PaymentStanding {
  state: PaymentState
  /** May the pub run now? The planner stops a pub when this turns false and never starts one while it is false. */
  runAllowed: boolean
  /** In `ended`: when the pub's data may be destroyed. */
  destroyDueAt?: number
  /** `destroyDueAt` has passed. */
  destroyDue: boolean
  /** In `unpaid`: when the request expires. */
  expiresAt?: number
  /** In `grace`: when the pub will be stopped unless a payment arrives. */
  graceEndsAt?: number
  /** With no new facts, the standing changes by the clock alone at this time: a wake-up for the planner. */
  changesAt?: number
  /** End of the latest paid period any fact reported (informational; see `standingFrom` for why it stops nothing). */
  paidUntil?: number
  /** The owner cancelled at the end of the period: it runs until then, then ends (retention, then destroyed). */
  cancelAt?: number
  /** In `active`: when a new subscription brought the pub back after an earlier one had ended. */
  revivedAt?: number
  /** In `ended` (not by the owner's destroy): when the subscription ended; a new one revives the pub until `destroyDueAt`. */
  endedAt?: number
  /** The latest subscription seen: what the owner's destroy command cancels. */
  subscription?: string
  customer?: string
  warn?: PaymentWarning
}

export interface StandingOptions {
  /** When the request was made (its message timestamp): the unpaid expiry counts from here. */
  requestedAt: number
  now: number
  timers: PaymentTimers
  /** True when this request needs no payment (free mode, or a plan priced 0): it may run at once. */
  free: boolean
}

/**
 * Within one second Stripe often emits several events (checkout, subscription, invoice); `created` then ties and
 * this order decides. A payment beats a failure of the same second (Stripe retried and won), and the end of a
 * subscription beats everything.
 */
const RANK: Record<PaymentKind, number> = {
  'checkout-completed': 0,
  'subscription-updated': 1,
  'invoice-payment-failed': 2,
  'invoice-paid': 3,
  'subscription-deleted': 4,
  'cancel-requested': 5,
}

function compareFacts(a: PaymentFact, b: PaymentFact): number {
  return (
    a.created - b.created ||
    RANK[a.kind] - RANK[b.kind] ||
    (a.event < b.event ? -1 : a.event > b.event ? 1 : 0) ||
    // Only a corrupt log holds two different facts under one event id; still pick the same one whatever the order.
    (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0)
  )
}

/** The facts of one request in source order, one per event id: the same result for any order of the input. */
export function orderFacts(request: MsgId, facts: readonly PaymentFact[]): PaymentFact[] {
  const seen = new Set<string>()
  return facts
    .filter((f) => f.request === request)
    .sort(compareFacts)
    .filter((f) => (seen.has(f.event) ? false : (seen.add(f.event), true)))
}

interface Folded {
  paidAt?: number
  failingSince?: number
  endedAt?: number
  /** When the owner's destroy cancelled the subscription: the data goes then, whatever ended the subscription. */
  ownerCancelAt?: number
  paidUntil?: number
  subscription?: string
  customer?: string
  cancelAt?: number
  /** Subscriptions that ended: their late events change nothing. */
  endedSubscriptions: Set<string>
  revivedAt?: number
}

/** Does this fact say that money arrived (what a new subscription must show before it revives an ended pub)? */
function pays(f: PaymentFact): boolean {
  if (f.kind === 'invoice-paid') return true
  if (f.kind === 'checkout-completed') return f.status !== 'unpaid'
  return f.kind === 'subscription-updated' && (f.status === 'active' || f.status === 'trialing')
}

/** Does this fact end its subscription? */
function ends(f: PaymentFact): boolean {
  return f.kind === 'subscription-deleted' || (f.kind === 'subscription-updated' && f.status === 'canceled')
}

function fold(ordered: readonly PaymentFact[], retentionMs: number): Folded {
  const s: Folded = { endedSubscriptions: new Set() }
  const paid = (at: number) => {
    s.paidAt ??= at
    s.failingSince = undefined
  }
  // Before the first payment a failure changes nothing: the request simply stays unpaid.
  const failing = (at: number) => {
    if (s.paidAt !== undefined) s.failingSince ??= at
  }
  const end = (f: PaymentFact) => {
    s.endedAt = f.created
    s.cancelAt = undefined
    s.revivedAt = undefined
    if (f.subscription !== undefined) s.endedSubscriptions.add(f.subscription)
  }
  for (const f of ordered) {
    if (f.kind === 'cancel-requested') {
      s.endedAt ??= f.created
      s.ownerCancelAt ??= f.created
      continue
    }
    // The owner's destroy is final; so is a deleted subscription in Stripe: its own late events change nothing.
    if (s.ownerCancelAt !== undefined) continue
    if (f.subscription !== undefined && s.endedSubscriptions.has(f.subscription)) continue
    if (ends(f) && f.subscription !== undefined && s.subscription !== undefined && f.subscription !== s.subscription) {
      // The end of a subscription the pub no longer runs on (an older one) ends nothing else.
      s.endedSubscriptions.add(f.subscription)
      continue
    }
    if (s.endedAt !== undefined) {
      // While the data is kept, a new subscription that pays brings the same pub back (the owner paid again
      // through the pay link); after the retention the data is gone and nothing revives it.
      if (f.subscription === undefined || !pays(f) || f.created >= s.endedAt + retentionMs) continue
      s.endedAt = undefined
      s.failingSince = undefined
      s.cancelAt = undefined
      s.paidAt = undefined
      s.revivedAt = f.created
    }
    s.subscription = f.subscription ?? s.subscription
    s.customer = f.customer ?? s.customer
    if (f.periodEnd !== undefined) s.paidUntil = Math.max(s.paidUntil ?? 0, f.periodEnd)
    switch (f.kind) {
      case 'checkout-completed':
        // `unpaid` means an asynchronous payment method is still settling; invoice.paid will follow when it does.
        if (f.status !== 'unpaid') paid(f.created)
        break
      case 'invoice-paid':
        paid(f.created)
        break
      case 'invoice-payment-failed':
        failing(f.created)
        break
      case 'subscription-updated':
        // The latest update says whether a cancellation is scheduled: renewing in the portal before the end undoes it.
        s.cancelAt = f.cancelAt
        if (f.status === 'active' || f.status === 'trialing') paid(f.created)
        else if (f.status === 'past_due' || f.status === 'unpaid' || f.status === 'paused') failing(f.created)
        else if (f.status === 'canceled') end(f)
        break
      case 'subscription-deleted':
        end(f)
        break
    }
  }
  return s
}

/** The payment standing of one request at `now`. */
export function paymentStanding(request: MsgId, facts: readonly PaymentFact[], opts: StandingOptions): PaymentStanding {
  if (opts.free) return { state: 'free', runAllowed: true, destroyDue: false }
  return standingFrom(fold(orderFacts(request, facts), opts.timers.retentionMs), opts)
}

/**
 * Note what is not here: a paid period running out without a renewal event does not stop a pub. Stripe announces
 * every failed renewal (and retries webhooks for days); stopping on our own clock would punish paying owners for
 * a webhook outage.
 */
function standingFrom(s: Folded, { requestedAt, now, timers }: StandingOptions): PaymentStanding {
  const ids = { subscription: s.subscription, customer: s.customer, paidUntil: s.paidUntil, revivedAt: s.revivedAt }
  if (s.endedAt !== undefined) {
    // The owner asked for the destroy: nothing to keep. Otherwise keep the data for the retention period.
    const destroyDueAt = Math.min(s.ownerCancelAt ?? Infinity, s.endedAt + timers.retentionMs)
    const destroyDue = now >= destroyDueAt
    if (s.ownerCancelAt !== undefined) {
      return clean({ state: 'ended', runAllowed: false, destroyDueAt, destroyDue, changesAt: destroyDue ? undefined : destroyDueAt, ...ids })
    }
    const endedAt = s.endedAt
    // The reminder that the data goes: a few days before, or at once when the retention is shorter than that.
    const remindAt = Math.max(endedAt, destroyDueAt - RETENTION_NOTICE_MS)
    const reminding = now >= remindAt
    return clean({
      state: 'ended',
      runAllowed: false,
      destroyDueAt,
      destroyDue,
      endedAt,
      changesAt: destroyDue ? undefined : reminding ? destroyDueAt : remindAt,
      ...ids,
      warn: reminding
        ? { reason: 'retention-ends', key: `retention-ends:${endedAt}`, endedAt, destroyDueAt }
        : { reason: 'subscription-ended', key: `subscription-ended:${endedAt}`, endedAt, destroyDueAt },
    })
  }
  if (s.paidAt === undefined) {
    const expiresAt = requestedAt + timers.unpaidExpiryMs
    return now < expiresAt
      ? clean({ state: 'unpaid', runAllowed: false, destroyDue: false, expiresAt, changesAt: expiresAt, ...ids })
      : clean({ state: 'expired', runAllowed: false, destroyDue: false, ...ids })
  }
  if (s.failingSince !== undefined) {
    const graceEndsAt = s.failingSince + timers.graceMs
    const since = s.failingSince
    return now < graceEndsAt
      ? clean({
          state: 'grace',
          runAllowed: true,
          destroyDue: false,
          graceEndsAt,
          changesAt: graceEndsAt,
          ...ids,
          warn: { reason: 'payment-failed', key: `payment-failed:${since}`, since, graceEndsAt },
        })
      : clean({
          state: 'lapsed',
          runAllowed: false,
          destroyDue: false,
          ...ids,
          warn: { reason: 'stopped-unpaid', key: `stopped-unpaid:${since}`, since, stoppedAt: graceEndsAt },
        })
  }
  if (s.cancelAt !== undefined) {
    const cancelAt = s.cancelAt
    const destroyDueAt = cancelAt + timers.retentionMs
    return clean({
      state: 'active',
      runAllowed: true,
      destroyDue: false,
      cancelAt,
      ...ids,
      warn: { reason: 'cancel-scheduled', key: `cancel-scheduled:${cancelAt}`, cancelAt, destroyDueAt },
    })
  }
  return clean({ state: 'active', runAllowed: true, destroyDue: false, ...ids })
}

/** Drop undefined fields, so a standing compares and prints cleanly. */
function clean(s: PaymentStanding): PaymentStanding {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as unknown as PaymentStanding
}

export interface RequestForStanding {
  id: MsgId
  requestedAt: number
  free: boolean
}

/** Standings for many requests from one pass over the facts (the planner's entry point). */
export function paymentStandings(
  requests: readonly RequestForStanding[],
  facts: readonly PaymentFact[],
  now: number,
  timers: PaymentTimers,
): Map<MsgId, PaymentStanding> {
  const byRequest = new Map<MsgId, PaymentFact[]>()
  for (const f of facts) {
    const list = byRequest.get(f.request)
    if (list) list.push(f)
    else byRequest.set(f.request, [f])
  }
  return new Map(
    requests.map((r) => [
      r.id,
      paymentStanding(r.id, byRequest.get(r.id) ?? [], { requestedAt: r.requestedAt, now, timers, free: r.free }),
    ]),
  )
}
