/** Deterministic SSB ids and payment facts for the payment tests (derived from labels, so failures are readable). */
import { createHash } from 'node:crypto'
import type { FeedId, MsgId } from '../src/protocol/ids.js'
import type { PaymentFact, PaymentKind } from '../src/protocol/payment.js'

function b64(label: string): string {
  return createHash('sha256').update(label).digest('base64')
}

/** A valid message id derived from a label. */
export function msgId(label: string): MsgId {
  return `%${b64(`msg:${label}`)}.sha256`
}

/** A valid feed id derived from a label. */
export function feedId(label: string): FeedId {
  return `@${b64(`feed:${label}`)}.ed25519`
}

export const PROVIDER = feedId('provider')
export const OWNER = feedId('owner')
export const REQUEST = msgId('request')

/** A payment fact for REQUEST with sensible defaults; `event` defaults to one derived from kind and time. */
export function fact(kind: PaymentKind, created: number, extra: Partial<PaymentFact> = {}): PaymentFact {
  return {
    type: 'buttcloud/payment',
    version: 1,
    request: REQUEST,
    event: kind === 'cancel-requested' ? msgId(`destroy-${created}`) : `evt_${kind.replace(/-/g, '_')}_${created}`,
    kind,
    subscription: 'sub_test1',
    customer: 'cus_test1',
    created,
    recps: [PROVIDER],
    ...extra,
  }
}
