import { describe, expect, it } from 'vitest'
import { PaymentFact, checkOutgoing, describeIssues, parseContent } from '../../src/protocol/index.js'
import { OWNER, PROVIDER, fact, msgId } from '../../testkit/payment-ids.js'

const valid: PaymentFact = fact('invoice-paid', 1_700_000_000_000, {
  event: 'evt_1PqRsTuVwXyZ',
  subscription: 'sub_1AbC',
  customer: 'cus_9XyZ',
  periodEnd: 1_702_592_000_000,
  status: 'paid',
})

function reasonFor(content: unknown): string {
  const parsed = PaymentFact.safeParse(content)
  if (parsed.success) throw new Error('expected the schema to reject this')
  return describeIssues(parsed.error)
}

describe('buttcloud/payment v1', () => {
  it('accepts a valid fact through the one gate, typed by its type', () => {
    const parsed = parseContent(valid)
    expect(parsed).toEqual({ ok: true, content: valid })
    expect(checkOutgoing('buttcloud/payment', valid)).toEqual(valid)
  })

  it('accepts cancel-requested keyed by the destroy command id', () => {
    const c = fact('cancel-requested', 5, { event: msgId('destroy'), status: 'canceled' })
    expect(PaymentFact.safeParse(c).success).toBe(true)
  })

  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['request is not a message id', { request: '%nope.sha256' }, 'request: expected a message id'],
    ['event is not a Stripe event id', { event: 'ch_123' }, 'event:'],
    ['event is too long', { event: `evt_${'a'.repeat(300)}` }, 'event:'],
    ['a Stripe kind keyed by a message id', { event: msgId('x') }, 'event: cancel-requested is keyed by the destroy command id'],
    ['unknown kind', { kind: 'refund' }, 'kind:'],
    ['subscription id of another type', { subscription: 'cus_123' }, 'subscription: expected a Stripe id like sub_'],
    ['customer id with spaces', { customer: 'cus_12 3' }, 'customer: expected a Stripe id like cus_'],
    ['negative period end', { periodEnd: -1 }, 'periodEnd:'],
    ['fractional created', { created: 1.5 }, 'created:'],
    ['unknown status', { status: 'refunded' }, 'status:'],
    ['recps with the owner too (must be the provider alone)', { recps: [PROVIDER, OWNER] }, 'recps:'],
    ['no recps', { recps: [] }, 'recps:'],
    ['unknown field', { amount: 5 }, 'amount'],
    ['wrong type literal', { type: 'buttcloud/payments' }, 'type:'],
  ]
  it.each(invalid)('rejects %s', (_name, change, expected) => {
    expect(reasonFor({ ...valid, ...change })).toContain(expected)
  })

  it('rejects cancel-requested keyed by a Stripe event id', () => {
    expect(reasonFor(fact('cancel-requested', 1, { event: 'evt_abc' }))).toContain('event: cancel-requested')
  })

  it('rejects other versions before the schema runs', () => {
    expect(parseContent({ ...valid, version: 2 })).toEqual({
      ok: false,
      type: 'buttcloud/payment',
      reason: 'unsupported version 2 of buttcloud/payment',
    })
  })
})
