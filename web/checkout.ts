/** The Checkout Session a pay link starts: one subscription per request, never two. */
import { createHash } from 'node:crypto'
import type Stripe from 'stripe'
import type { MsgId } from '../src/protocol/ids.js'
import type { Offer, Plan } from '../src/protocol/offer.js'
import { ENDED_SUBSCRIPTION_STATUSES, subscriptionSearchQuery } from '../src/protocol/payment.js'
import { META_OWNER, META_REQUEST } from './stripe-events.js'
import type { DirectoryEntry } from './types.js'

/**
 * One key per request: a double click, a reload or two tabs get the same session back from Stripe instead of a
 * second subscription. It is a hash, so the request id (with its `%`, `+`, `/`) never has to fit Stripe's key rules.
 */
export function checkoutIdempotencyKey(request: MsgId, resubscribe?: { endedAt: number }): string {
  // A resubscription after the subscription ended is a new Checkout: its own key, one per ended subscription.
  const episode = resubscribe ? `\nafter ${resubscribe.endedAt}` : ''
  return `buttcloud-checkout-${createHash('sha256').update(request + episode).digest('hex')}`
}

/**
 * The session parameters. They depend only on the request, plan and URLs, never on the clock: Stripe refuses a
 * repeated idempotency key whose parameters differ.
 */
export function checkoutParams(args: {
  entry: DirectoryEntry
  plan: Plan
  offer: Offer
  baseUrl: string
  token: string
}): Stripe.Checkout.SessionCreateParams {
  const { entry, plan, offer, baseUrl, token } = args
  const metadata = { [META_REQUEST]: entry.request, [META_OWNER]: entry.owner, buttcloud_plan: plan.id }
  return {
    mode: 'subscription',
    line_items: [
      {
        quantity: 1,
        price_data: {
          currency: plan.currency,
          unit_amount: plan.price,
          recurring: { interval: plan.interval },
          product_data: { name: `${offer.name}: ${plan.name} pub` },
        },
      },
    ],
    // The session and the subscription both carry the request: invoices and subscription events only see the latter.
    metadata,
    subscription_data: { metadata },
    client_reference_id: createHash('sha256').update(entry.request).digest('hex'),
    success_url: `${baseUrl}/pay/${token}/success?session_id={CHECKOUT_SESSION_ID}`,
    cancel_url: `${baseUrl}/pay/${token}/cancel`,
  }
}

/**
 * The live subscriptions Stripe holds for a request, looked up before a new Checkout: the idempotency key stops a
 * second session only for 24 hours. Stripe Search lags writes by up to a minute, which the key covers.
 */
export async function liveSubscriptionsOf(stripe: Stripe, request: MsgId): Promise<Array<{ id: string; customer: string }>> {
  const found = await stripe.subscriptions.search({ query: subscriptionSearchQuery(request), limit: 100 })
  return found.data
    .filter((s) => !ENDED_SUBSCRIPTION_STATUSES.includes(s.status))
    .map((s) => ({ id: s.id, customer: typeof s.customer === 'string' ? s.customer : s.customer.id }))
}
