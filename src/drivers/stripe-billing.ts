/**
 * The Stripe calls the provider makes on its own (the web site makes the Checkout ones): cancelling a
 * subscription when the owner destroys their pub. The client is passed in, so tests hand it one that talks to a
 * local fake and the provider one with its real key.
 */
import type Stripe from 'stripe'
import { StripeSubscriptionId } from '../protocol/payment.js'

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
