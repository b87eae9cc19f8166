/** The seam between the control plane and payment (Stripe, when the provider takes it); the provider wires it. */
import type { PaymentStanding } from '../payment/lifecycle.js'
import type { MsgId } from '../protocol/ids.js'
import type { PaymentFact } from '../protocol/payment.js'
import type { PubRecord } from './record.js'

/** How payment reaches the control plane: standings the gate reads, pay links, and the destroy hook. */
export interface PaymentHooks {
  /** The pub's payment standing, or undefined when its plan needs no payment. */
  standing(record: PubRecord, payments: readonly PaymentFact[], now: number): PaymentStanding | undefined
  /** The pub's pay link, when it needs one. */
  paymentUrl(record: PubRecord): string | undefined
  /**
   * Before the owner's destroy is answered: cancel the pub's subscription. Resolves with the fact to record (the
   * cancellation, keyed by the command), or undefined when there was nothing to cancel. Throws to retry later.
   */
  onDestroy(record: PubRecord, command: MsgId, standing: PaymentStanding | undefined, now: number): Promise<PaymentFact | undefined>
  /**
   * For the owner's `billing` command: a fresh, short-lived Stripe Customer Portal link for the pub's customer,
   * or undefined when the pub has no customer yet. Throws to retry later.
   */
  billingPortalUrl?(record: PubRecord, standing: PaymentStanding | undefined): Promise<string | undefined>
}
