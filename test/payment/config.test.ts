import { describe, expect, it } from 'vitest'
import {
  DEFAULT_PAYMENT_CONFIG,
  DEFAULT_TIMERS,
  needsPayment,
  paymentConfigFromEnv,
  paymentMode,
} from '../../src/payment/config.js'
import { cancelRequestedFact } from '../../src/payment/facts.js'
import { PROVIDER, REQUEST, msgId } from '../../testkit/payment-ids.js'

const KEY = 'sk_test_configtest123456'
const WHSEC = 'whsec_configtest123456'
const LINK = 'l'.repeat(64)

describe('payment config', () => {
  it('is free without Stripe keys: nothing needs payment', () => {
    const config = paymentConfigFromEnv({})
    expect(paymentMode(config)).toBe('free')
    expect(needsPayment(config, 500)).toBe(false)
    expect(config.timers).toEqual(DEFAULT_TIMERS)
    expect(config.currency).toBe(DEFAULT_PAYMENT_CONFIG.currency)
  })

  it('charges for priced plans only when Stripe is configured', () => {
    const config = paymentConfigFromEnv({ STRIPE_SECRET_KEY: KEY, STRIPE_WEBHOOK_SECRET: WHSEC, BUTTCLOUD_PAY_LINK_SECRET: LINK })
    expect(paymentMode(config)).toBe('stripe')
    expect(needsPayment(config, 500)).toBe(true)
    expect(needsPayment(config, 0)).toBe(false)
  })

  it('reads the timers in days', () => {
    const config = paymentConfigFromEnv({ BUTTCLOUD_GRACE_DAYS: '3', BUTTCLOUD_RETENTION_DAYS: '0.5', BUTTCLOUD_UNPAID_EXPIRY_DAYS: '2' })
    expect(config.timers).toEqual({ graceMs: 3 * 86_400_000, retentionMs: 43_200_000, unpaidExpiryMs: 2 * 86_400_000 })
  })

  it.each([
    ['half a Stripe configuration', { STRIPE_SECRET_KEY: KEY }, /both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET/],
    ['Stripe without a link secret', { STRIPE_SECRET_KEY: KEY, STRIPE_WEBHOOK_SECRET: WHSEC }, /BUTTCLOUD_PAY_LINK_SECRET is required/],
    ['a publishable key where the secret key goes', { STRIPE_SECRET_KEY: 'pk_test_abcdefghij', STRIPE_WEBHOOK_SECRET: WHSEC, BUTTCLOUD_PAY_LINK_SECRET: LINK }, /stripe.secretKey/],
    ['a short link secret', { BUTTCLOUD_PAY_LINK_SECRET: 'short' }, /linkSecret/],
    ['a grace that is not a number', { BUTTCLOUD_GRACE_DAYS: 'a week' }, /BUTTCLOUD_GRACE_DAYS must be a number/],
    ['a zero retention', { BUTTCLOUD_RETENTION_DAYS: '0' }, /timers.retentionMs/],
    ['an uppercase currency', { BUTTCLOUD_CURRENCY: 'EUR' }, /currency/],
  ])('rejects %s', (_name, env, message) => {
    expect(() => paymentConfigFromEnv(env)).toThrow(message)
  })

  it('never puts a secret value in its error messages', () => {
    const secretish = 'pk_live_THIS_MUST_NOT_LEAK_123'
    let message = ''
    try {
      paymentConfigFromEnv({ STRIPE_SECRET_KEY: secretish, STRIPE_WEBHOOK_SECRET: WHSEC, BUTTCLOUD_PAY_LINK_SECRET: LINK })
    } catch (err) {
      message = String((err as Error).message)
    }
    expect(message).toMatch(/stripe.secretKey/)
    expect(message).not.toContain(secretish)
  })
})

describe('cancel-requested facts', () => {
  it('are keyed by the destroy command and addressed to the provider alone', () => {
    const command = msgId('destroy command')
    const fact = cancelRequestedFact({ provider: PROVIDER, request: REQUEST, command, subscription: 'sub_x1', at: 1234.7 })
    expect(fact).toEqual({
      type: 'buttcloud/payment',
      version: 1,
      request: REQUEST,
      event: command,
      kind: 'cancel-requested',
      subscription: 'sub_x1',
      status: 'canceled',
      created: 1234,
      recps: [PROVIDER],
    })
  })

  it('refuse to build an invalid fact', () => {
    expect(() => cancelRequestedFact({ provider: PROVIDER, request: REQUEST, command: 'evt_1', at: 1 })).toThrow(/invalid cancel-requested/)
  })
})
