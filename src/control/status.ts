/**
 * What status a pub should show, and whether it differs from the last one we posted. Statuses are output:
 * they are posted when what we observe changes, never read back as desired state.
 */
import { FINAL_STATES, type PubStatus } from '../protocol/status.js'
import type { Observation } from './observation.js'
import type { PubRecord } from './record.js'
import { sameWait } from './room.js'

/** The status body (no type/version/recps) for a record and what the runtime observed of it. */
export type StatusBody = Pick<PubStatus, 'request' | 'state' | 'pub' | 'reason' | 'paymentUrl'>

export const NO_RUNTIME_REASON =
  'accepted; this provider is not running pubs yet, so the pub waits in the queue until it does'

/** The status a pub should show now. Desired state decides the final words; the runtime the rest. */
export function statusFor(record: PubRecord, observed: Observation | undefined): StatusBody {
  const base = { request: record.request }
  if (record.rejected) return { ...base, state: 'failed', reason: record.rejected }
  if (observed) {
    return { ...base, state: observed.state, pub: observed.pub, reason: observed.reason, paymentUrl: observed.paymentUrl }
  }
  if (record.intent === 'destroyed') return { ...base, state: 'destroyed', reason: 'destroyed by its owner' }
  if (record.intent === 'stopped') return { ...base, state: 'stopped', reason: 'stopped by its owner; data is kept' }
  return { ...base, state: 'queued', reason: NO_RUNTIME_REASON }
}

/** True when `next` tells the owner something `last` did not. */
export function statusChanged(last: PubStatus | undefined, next: StatusBody): boolean {
  if (!last) return true
  if (FINAL_STATES.includes(last.state) && last.state === next.state) return false
  return (
    last.state !== next.state ||
    !sameWait(last.reason ?? '', next.reason ?? '') ||
    (last.pub?.address ?? '') !== (next.pub?.address ?? '') ||
    (last.pub?.web ?? '') !== (next.pub?.web ?? '') ||
    (last.paymentUrl ?? '') !== (next.paymentUrl ?? '')
  )
}
