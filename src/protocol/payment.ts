/**
 * `buttcloud/payment` v1: one payment fact about one request, as the provider learned it (a Stripe webhook event,
 * or the provider's own cancellation on the owner's destroy command). The provider writes it to its private records
 * journal (on no feed; recps: exactly the provider, as when it was boxed to itself on its feed), the one record of
 * who paid what and when: the planner folds these facts into a payment standing, and a restored provider rebuilds it
 * from the journal in its backup (docs/PROTOCOL.md, "Where things live").
 */
import { z } from 'zod'
import { FeedId, MsgId } from './ids.js'
import { Millis } from './common.js'

/** Stripe object ids: a short lowercase prefix, an underscore, then letters, digits and underscores. */
function stripeId(prefix: string) {
  return z
    .string()
    .max(255)
    .regex(new RegExp(`^${prefix}_[A-Za-z0-9_]{1,240}$`), `expected a Stripe id like ${prefix}_…`)
}

export const StripeEventId = stripeId('evt')
export const StripeSubscriptionId = stripeId('sub')
export const StripeCustomerId = stripeId('cus')

export const PAYMENT_KINDS = [
  'checkout-completed', // checkout.session.completed
  'invoice-paid', // invoice.paid
  'invoice-payment-failed', // invoice.payment_failed, invoice.payment_action_required (a renewal held for authentication)
  'subscription-updated', // customer.subscription.updated
  'subscription-deleted', // customer.subscription.deleted
  'cancel-requested', // the provider cancelled the subscription on the owner's destroy command
] as const
export const PaymentKind = z.enum(PAYMENT_KINDS)
export type PaymentKind = z.infer<typeof PaymentKind>

/**
 * What the source object said about the money: a subscription's status for subscription events, a checkout
 * session's payment_status for checkout-completed (`paid`, `unpaid`, `no_payment_required`).
 */
export const PAYMENT_STATUSES = [
  'incomplete',
  'incomplete_expired',
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'paused',
  'paid',
  'no_payment_required',
] as const
export const PaymentStatus = z.enum(PAYMENT_STATUSES)
export type PaymentStatus = z.infer<typeof PaymentStatus>

export const PaymentFact = z
  .strictObject({
    type: z.literal('buttcloud/payment'),
    version: z.literal(1),
    /** The request message the payment is for (the pub's id). */
    request: MsgId,
    /**
     * What makes this fact unique, and so the key it is recorded once by: the Stripe event id, or for
     * cancel-requested the id of the owner's destroy command (no Stripe event exists for our own call).
     */
    event: z.union([StripeEventId, MsgId]),
    kind: PaymentKind,
    subscription: StripeSubscriptionId.optional(),
    customer: StripeCustomerId.optional(),
    /** End of the paid period, when the event said. */
    periodEnd: Millis.optional(),
    status: PaymentStatus.optional(),
    /**
     * On a subscription update: when the owner's cancellation takes effect (they cancelled at the end of the
     * period, in Stripe's portal). Absent on an update means no cancellation is scheduled (any earlier one was undone).
     */
    cancelAt: Millis.optional(),
    /** When the event happened at the source (Stripe's `created`, in ms): facts are ordered by it, not by arrival. */
    created: Millis,
    /** The provider alone. */
    recps: z.array(FeedId).length(1),
  })
  .refine((f) => (f.kind === 'cancel-requested') === f.event.startsWith('%'), {
    message: 'cancel-requested is keyed by the destroy command id; every other kind by a Stripe event id',
    path: ['event'],
  })
export type PaymentFact = z.infer<typeof PaymentFact>

/** The metadata key on our Checkout Sessions and subscriptions that names the request they pay for. */
export const STRIPE_META_REQUEST = 'buttcloud_request'
/** The metadata key that names the request's author (checked against the request on every webhook). */
export const STRIPE_META_OWNER = 'buttcloud_owner'

/**
 * The Stripe Search query for the subscriptions of one request. Message ids hold only base64, `%`, `.` and
 * `=`, so nothing in one needs escaping inside the quotes.
 */
export function subscriptionSearchQuery(request: MsgId): string {
  return `metadata['${STRIPE_META_REQUEST}']:'${MsgId.parse(request)}'`
}

/** Subscription statuses that can never charge again; every other status is a live subscription. */
export const ENDED_SUBSCRIPTION_STATUSES: readonly string[] = ['canceled', 'incomplete_expired']
