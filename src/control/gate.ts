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
  /** Where to pay, alongside the warning (or the reason, for a pub whose subscription ended). */
  paymentUrl?: string
  /** Words for a pub that runs normally but should say why (revived by a new subscription), unless the runtime has its own. */
  note?: string
}

/** A day as the owner reads it in a status (UTC). */
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/**
 * The first words of the payment reasons, so the notification texts (notify.ts) can tell them apart. The rest of
 * each reason holds its dates.
 */
export const PAYMENT_REASON = {
  cancelScheduled: 'the subscription is cancelled',
  ended: 'stopped: the subscription ended',
  retentionEnds: 'stopped: the data of this pub is deleted on',
  revived: 'running again on a new subscription',
  lapsed: 'stopped: payment failed',
} as const

/** Apply the owner's intent and the payment standing (absent = free) to one record. */
export function gate(
  record: PubRecord,
  opts: {
    memoryMiB: number
    /** The plan's disk allowance and web view, passed through to the runtime. */
    diskMiB?: number
    webView?: boolean
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
    ...(opts.diskMiB !== undefined ? { diskMiB: opts.diskMiB } : {}),
    ...(opts.webView !== undefined ? { webView: opts.webView } : {}),
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
    const deleteAfter = standing.warn?.reason === 'cancel-scheduled' ? standing.warn.destroyDueAt : standing.cancelAt
    return {
      pub: pub(record.intent),
      warning: `${PAYMENT_REASON.cancelScheduled}: the pub runs until ${day(standing.cancelAt)}, then stops; its data is kept until ${day(deleteAfter)}, then deleted. To undo it, renew in the billing portal (billing command) before ${day(standing.cancelAt)}`,
    }
  }
  if (standing?.state === 'active' && standing.revivedAt !== undefined) {
    return { pub: pub(record.intent), note: `${PAYMENT_REASON.revived} since ${day(standing.revivedAt)}, with its data, identity and address as before` }
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
      return { pub: pub('stopped'), reason: `${PAYMENT_REASON.lapsed} and the grace period is over; data is kept. Pay the open invoice in the billing portal (billing command) to start it again` }
    case 'ended': {
      if (standing.destroyDue) return { pub: pub('destroyed', standing.destroyDueAt), reason: 'destroyed: the subscription ended' }
      const pay = opts.paymentUrl ? { paymentUrl: opts.paymentUrl } : {}
      const keptUntil = day(standing.destroyDueAt ?? 0)
      if (standing.warn?.reason === 'retention-ends') {
        return {
          pub: pub('stopped'),
          reason: `${PAYMENT_REASON.retentionEnds} ${keptUntil}: its subscription ended on ${day(standing.warn.endedAt)}. Subscribe again through the pay link before then to bring it back as it was`,
          ...pay,
        }
      }
      const endedAt = standing.endedAt !== undefined ? ` on ${day(standing.endedAt)}` : ''
      return {
        pub: pub('stopped'),
        reason: `${PAYMENT_REASON.ended}${endedAt}; its data, identity and address are kept until ${keptUntil}. Subscribe again through the pay link to bring it back as it was`,
        ...pay,
      }
    }
  }
}
