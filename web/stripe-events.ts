/**
 * Stripe events -> payment facts. Only the few fields we use are read, each parsed (a verified signature proves
 * the sender, not the shape), and both the current API shape and the older one are understood: the shape of a
 * webhook follows the API version of the endpoint in Stripe's dashboard, not the version of this library.
 */
import { z } from 'zod'
import type Stripe from 'stripe'
import { MSG_ID_RE, type FeedId, type MsgId } from '../src/protocol/ids.js'
import { PAYMENT_STATUSES, PaymentFact, STRIPE_META_OWNER, STRIPE_META_REQUEST, type PaymentKind, type PaymentStatus } from '../src/protocol/payment.js'

/**
 * The Stripe event types we turn into facts, and the kind each becomes (the webhook endpoint must be subscribed to
 * each; docs/PROTOCOL.md lists them, and the ones deliberately left out). A renewal held for the customer's
 * authentication is not paid: it counts as a failed payment, so its grace period starts.
 */
export const HANDLED_EVENTS = {
  'checkout.session.completed': 'checkout-completed',
  'invoice.paid': 'invoice-paid',
  'invoice.payment_failed': 'invoice-payment-failed',
  'invoice.payment_action_required': 'invoice-payment-failed',
  'customer.subscription.updated': 'subscription-updated',
  'customer.subscription.deleted': 'subscription-deleted',
} as const satisfies Record<string, PaymentKind>
export type HandledEventType = keyof typeof HANDLED_EVENTS

/** Metadata keys we put on the Checkout Session and, through subscription_data, on the subscription. */
export const META_REQUEST = STRIPE_META_REQUEST
export const META_OWNER = STRIPE_META_OWNER

const Metadata = z.record(z.string(), z.string()).nullish()
/** A reference Stripe may send as an id or, when expanded, as the object. */
const Ref = z
  .union([z.string(), z.object({ id: z.string() })])
  .nullish()
  .transform((r) => (typeof r === 'string' ? r : r?.id))
const Seconds = z.number().int().min(0).max(8.64e12)

const CheckoutSession = z.object({
  object: z.literal('checkout.session'),
  mode: z.string(),
  metadata: Metadata,
  subscription: Ref,
  customer: Ref,
  payment_status: z.string().nullish(),
})

const Invoice = z.object({
  object: z.literal('invoice'),
  customer: Ref,
  // Current API: the subscription behind an invoice is under parent.subscription_details.
  parent: z.object({ subscription_details: z.object({ metadata: Metadata, subscription: Ref }).nullish() }).nullish(),
  // Before 2025-03-31 (basil) it was on the invoice itself.
  subscription: Ref,
  subscription_details: z.object({ metadata: Metadata }).nullish(),
  lines: z.object({ data: z.array(z.object({ period: z.object({ end: Seconds }).nullish() })) }).nullish(),
})

const Subscription = z.object({
  object: z.literal('subscription'),
  id: z.string(),
  customer: Ref,
  status: z.string(),
  metadata: Metadata,
  // Current API: the period lives on each item; before basil on the subscription.
  items: z.object({ data: z.array(z.object({ current_period_end: Seconds.nullish() })) }).nullish(),
  current_period_end: Seconds.nullish(),
  // Cancelled in the portal "at period end": still active until then; Stripe deletes it at `cancel_at`.
  cancel_at_period_end: z.boolean().nullish(),
  cancel_at: Seconds.nullish(),
})

/** What a verified event means for us: a fact to record, or why it changes nothing. */
export type MappedEvent =
  | { ok: true; fact: PaymentFact; owner?: string }
  | { ok: false; ignore: string }

interface Extracted {
  metadata: Record<string, string> | null | undefined
  subscription?: string
  customer?: string
  periodEnd?: number
  status?: string
  cancelAt?: number
}

function extract(type: HandledEventType, object: unknown): Extracted | string {
  switch (type) {
    case 'checkout.session.completed': {
      const s = CheckoutSession.safeParse(object)
      if (!s.success) return 'not a checkout session'
      if (s.data.mode !== 'subscription') return `checkout in ${s.data.mode.slice(0, 20)} mode`
      return { metadata: s.data.metadata, subscription: s.data.subscription, customer: s.data.customer, status: s.data.payment_status ?? undefined }
    }
    case 'invoice.paid':
    case 'invoice.payment_failed':
    case 'invoice.payment_action_required': {
      const i = Invoice.safeParse(object)
      if (!i.success) return 'not an invoice'
      const details = i.data.parent?.subscription_details
      const ends = (i.data.lines?.data ?? []).map((l) => l.period?.end).filter((e): e is number => typeof e === 'number')
      return {
        metadata: details?.metadata ?? i.data.subscription_details?.metadata,
        subscription: details?.subscription ?? i.data.subscription,
        customer: i.data.customer,
        periodEnd: ends.length ? Math.max(...ends) : undefined,
        status: type === 'invoice.paid' ? 'paid' : undefined,
      }
    }
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const s = Subscription.safeParse(object)
      if (!s.success) return 'not a subscription'
      const ends = (s.data.items?.data ?? []).map((i) => i.current_period_end).filter((e): e is number => typeof e === 'number')
      const legacy = s.data.current_period_end
      const periodEnd = ends.length ? Math.max(...ends) : (legacy ?? undefined)
      const cancelAt = s.data.cancel_at ?? (s.data.cancel_at_period_end ? periodEnd : undefined)
      return {
        metadata: s.data.metadata,
        subscription: s.data.id,
        customer: s.data.customer,
        periodEnd,
        status: s.data.status,
        ...(type === 'customer.subscription.updated' && s.data.status !== 'canceled' && cancelAt !== undefined ? { cancelAt } : {}),
      }
    }
  }
}

function isHandled(type: string): type is HandledEventType {
  return Object.hasOwn(HANDLED_EVENTS, type)
}

/** Turn a verified Stripe event into the payment fact it stands for (addressed to the provider alone). */
export function factFromEvent(event: Pick<Stripe.Event, 'id' | 'type' | 'created' | 'data'>, provider: FeedId): MappedEvent {
  if (!isHandled(event.type)) return { ok: false, ignore: `event type ${event.type.slice(0, 60)} is not one we use` }
  const got = extract(event.type, event.data?.object)
  if (typeof got === 'string') return { ok: false, ignore: got }
  const request = got.metadata?.[META_REQUEST]
  if (!request || !MSG_ID_RE.test(request)) return { ok: false, ignore: 'no ButtCloud request in the metadata' }
  const status = (PAYMENT_STATUSES as readonly string[]).includes(got.status ?? '') ? (got.status as PaymentStatus) : undefined
  const candidate = {
    type: 'buttcloud/payment',
    version: 1,
    request: request as MsgId,
    event: event.id,
    kind: HANDLED_EVENTS[event.type],
    ...(got.subscription ? { subscription: got.subscription } : {}),
    ...(got.customer ? { customer: got.customer } : {}),
    ...(got.periodEnd !== undefined ? { periodEnd: got.periodEnd * 1000 } : {}),
    ...(status ? { status } : {}),
    ...(got.cancelAt !== undefined ? { cancelAt: got.cancelAt * 1000 } : {}),
    created: event.created * 1000,
    recps: [provider],
  }
  const fact = PaymentFact.safeParse(candidate)
  if (!fact.success) {
    // Name the fields, not their values: this reason goes to the log.
    return { ok: false, ignore: `unusable fields: ${[...new Set(fact.error.issues.map((i) => i.path.join('.')))].join(', ')}` }
  }
  return { ok: true, fact: fact.data, owner: got.metadata?.[META_OWNER] }
}
