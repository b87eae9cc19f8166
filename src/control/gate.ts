/**
 * Payment meets the owner's intent: what the runtime should do with a pub, and what to tell the owner when
 * the answer comes from payment rather than from the runtime. Pure.
 */
import type { PaymentStanding } from '../payment/lifecycle.js'
import type { RuntimePub } from './runtime.js'
import type { PubRecord } from './record.js'
import type { StatusBody } from './status.js'

export interface Gated {
  pub: RuntimePub
  /** The status when payment (or the request itself) decides it: no runtime observation is needed. */
  status?: StatusBody
  /** Words for a pub that payment stopped or destroyed, used in place of the runtime's. */
  reason?: string
  /** A warning for a pub that still runs (payment failed, grace period): shown with whatever state it is in. */
  warning?: string
  /** Where to pay, alongside the warning. */
  paymentUrl?: string
}

/** Apply the owner's intent and the payment standing (absent = free) to one record. */
export function gate(
  record: PubRecord,
  opts: {
    memoryMiB: number
    placement?: { hub: string; port: number; released?: true }
    standing?: PaymentStanding
    paymentUrl?: string
    /** Replication hops of the plan, counted from the owner (absent: the pub's default). */
    hops?: number | undefined
    /** The pub needs no payment (its plan is priced 0, or the provider takes none). */
    free?: boolean
  },
): Gated {
  const at = opts.placement
  const pub = (intent: RuntimePub['intent'], destroyedAt?: number): RuntimePub => ({
    record,
    intent,
    memoryMiB: opts.memoryMiB,
    ...(destroyedAt !== undefined ? { destroyedAt } : {}),
    ...(at ? { placement: { hub: at.hub, port: at.port, ...(at.released ? { released: true as const } : {}) } } : {}),
    ...(opts.free ? { free: true } : {}),
    ...(opts.hops !== undefined ? { hops: opts.hops } : {}),
  })
  const request = record.request
  if (record.rejected) return { pub: pub('hold'), status: { request, state: 'failed', reason: record.rejected } }
  if (record.intent === 'destroyed') return { pub: pub('destroyed', record.destroyedAt) }
  const standing = opts.standing
  if (standing?.state === 'active' && standing.cancelAt !== undefined) {
    // Cancelled at the end of the period: it runs until then; say what happens after, and when.
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
    const deleteAfter = standing.warn?.reason === 'cancel-scheduled' ? standing.warn.destroyDueAt : standing.cancelAt
    return {
      pub: pub(record.intent),
      warning: `the subscription was cancelled and ends on ${day(standing.cancelAt)}; the pub stops then and its data is deleted after ${day(deleteAfter)}; renew before the end (billing command) to keep it`,
    }
  }
  if (!standing || standing.state === 'free' || standing.state === 'active') return { pub: pub(record.intent) }
  switch (standing.state) {
    case 'unpaid':
      return {
        pub: pub('hold'),
        status: {
          request,
          state: 'awaiting-payment',
          reason: 'waiting for the first payment; the pub is created as soon as it arrives',
          ...(opts.paymentUrl ? { paymentUrl: opts.paymentUrl } : {}),
        },
      }
    case 'expired':
      return { pub: pub('hold'), status: { request, state: 'failed', reason: 'the request expired before it was paid' } }
    case 'grace':
      // Still running: the owner is warned privately and has until the grace period ends.
      return {
        pub: pub(record.intent),
        warning: `the last payment failed; pay before ${new Date(standing.graceEndsAt ?? 0).toISOString().slice(0, 10)} or the pub stops (data is kept)`,
        ...(opts.paymentUrl ? { paymentUrl: opts.paymentUrl } : {}),
      }
    case 'lapsed':
      return { pub: pub('stopped'), reason: 'stopped: payment failed and the grace period is over; data is kept' }
    case 'ended':
      if (standing.destroyDue) return { pub: pub('destroyed', standing.destroyDueAt), reason: 'destroyed: the subscription ended' }
      return { pub: pub('stopped'), reason: 'stopped: the subscription ended; data is kept for the retention period' }
  }
}
