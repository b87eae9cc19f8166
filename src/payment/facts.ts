/** Payment facts the provider makes itself (Stripe events become facts at the web edge, in web/stripe-events.ts). */
import type { FeedId, MsgId } from '../protocol/ids.js'
import { PaymentFact } from '../protocol/payment.js'

export interface CancelRequested {
  provider: FeedId
  request: MsgId
  /** The owner's destroy command: it keys the fact, so a command handled twice is recorded once. */
  command: MsgId
  subscription?: string
  customer?: string
  /** When the provider cancelled the subscription (ms). */
  at: number
}

/** The fact to record after cancelling a subscription on the owner's destroy command; throws if it would be invalid. */
export function cancelRequestedFact(c: CancelRequested): PaymentFact {
  const result = PaymentFact.safeParse({
    type: 'buttcloud/payment',
    version: 1,
    request: c.request,
    event: c.command,
    kind: 'cancel-requested',
    ...(c.subscription ? { subscription: c.subscription } : {}),
    ...(c.customer ? { customer: c.customer } : {}),
    status: 'canceled',
    created: Math.floor(c.at),
    recps: [c.provider],
  })
  if (!result.success) throw new Error('invalid cancel-requested fact', { cause: result.error })
  return result.data
}
