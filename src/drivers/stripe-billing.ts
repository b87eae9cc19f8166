/**
 * The Stripe calls the provider makes on its own (the web site makes the Checkout ones): cancelling every
 * subscription of a pub when the owner destroys it. The client is passed in, so tests hand it one that talks to a
 * local fake and the provider one with its real key.
 */
import type Stripe from 'stripe'
import type { MsgId } from '../protocol/ids.js'
import { ENDED_SUBSCRIPTION_STATUSES, StripeSubscriptionId, subscriptionSearchQuery } from '../protocol/payment.js'

export type CancelResult =
  /** We cancelled it now. */
  | { outcome: 'cancelled'; subscription: string; status: string; customer?: string }
  /** It had already ended (Stripe cancelled it, or an earlier attempt of ours did). */
  | { outcome: 'already-cancelled'; subscription: string; status: string; customer?: string }
  /** Stripe knows no such subscription: nothing to cancel. */
  | { outcome: 'missing'; subscription: string }

export interface CancelOptions {
  /** Derive it from the destroy command's id, so a retried destroy is one cancellation at Stripe. */
  idempotencyKey?: string
}

function isMissing(err: unknown): boolean {
  const e = err as { code?: string; statusCode?: number }
  return e?.code === 'resource_missing' || e?.statusCode === 404
}

function customerOf(s: Stripe.Subscription): string | undefined {
  return typeof s.customer === 'string' ? s.customer : s.customer?.id
}

/**
 * Cancel a subscription immediately; safe to repeat. Stripe answers "No such subscription" (404) both for an
 * unknown id and for one already cancelled, so on a 404 we look it up to tell the two apart.
 */
export async function cancelSubscription(stripe: Stripe, subscriptionId: string, options: CancelOptions = {}): Promise<CancelResult> {
  const id = StripeSubscriptionId.parse(subscriptionId)
  try {
    const s = await stripe.subscriptions.cancel(id, {}, options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : undefined)
    return { outcome: 'cancelled', subscription: s.id, status: s.status, customer: customerOf(s) }
  } catch (err) {
    if (!isMissing(err)) throw new Error(`cancelling subscription ${id} failed`, { cause: err })
  }
  let s: Stripe.Subscription
  try {
    s = await stripe.subscriptions.retrieve(id)
  } catch (err) {
    if (isMissing(err)) return { outcome: 'missing', subscription: id }
    throw new Error(`looking up subscription ${id} failed`, { cause: err })
  }
  if (s.status === 'canceled' || s.status === 'incomplete_expired') {
    return { outcome: 'already-cancelled', subscription: s.id, status: s.status, customer: customerOf(s) }
  }
  throw new Error(`subscription ${id} could not be cancelled and is still ${s.status}`)
}

/**
 * Cancel all of a request's subscriptions: the ones the provider's ledger knows (`known`) and every live one
 * Stripe Search finds by the request in its metadata (one whose events never reached us, a second Checkout).
 * Search lags writes by up to a minute; `known` covers the ones our webhooks already saw. Safe to repeat: each
 * cancellation has its own idempotency key derived from `keyBase` and the subscription.
 */
export async function cancelSubscriptionsOf(stripe: Stripe, request: MsgId, known: readonly string[], keyBase: string): Promise<CancelResult[]> {
  const found = await stripe.subscriptions.search({ query: subscriptionSearchQuery(request), limit: 100 })
  const live = found.data.filter((s) => !ENDED_SUBSCRIPTION_STATUSES.includes(s.status)).map((s) => s.id)
  const ids = [...new Set([...known, ...live])]
  const results: CancelResult[] = []
  // One at a time: a handful at most, and a failure stops the destroy so it is retried whole.
  for (const id of ids) results.push(await cancelSubscription(stripe, id, { idempotencyKey: `${keyBase}-${id}` }))
  return results
}
