/**
 * Payment settings: the timers of the lifecycle and whether Stripe is configured at all. Pure data and checks; who
 * reads the environment or a config file hands the values in.
 */
import { z } from 'zod'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** Durations in ms: positive, at most ten years, so a typo cannot overflow a timestamp. */
const Duration = z.number().int().min(1).max(10 * 365 * DAY)

export const PaymentTimers = z.strictObject({
  /** How long a pub keeps running after a failed payment before it is stopped (data kept). */
  graceMs: Duration,
  /** How long a stopped pub's data is kept after its subscription ended, before it is destroyed. */
  retentionMs: Duration,
  /** How long a request may wait for its first payment before it expires. */
  unpaidExpiryMs: Duration,
})
export type PaymentTimers = z.infer<typeof PaymentTimers>

/** Stripe's default retry schedule spans about a week; a grace of the same length lets every retry land. */
export const DEFAULT_TIMERS: PaymentTimers = {
  graceMs: 7 * DAY,
  retentionMs: 30 * DAY,
  unpaidExpiryMs: 7 * DAY,
}

export const StripeSettings = z.strictObject({
  /** A secret (sk_…) or restricted (rk_…) API key. */
  secretKey: z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]{8,250}$/, 'expected a Stripe secret key (sk_… or rk_…)'),
  /** The signing secret of the webhook endpoint (whsec_…). */
  webhookSecret: z.string().regex(/^whsec_[A-Za-z0-9_+/=]{8,250}$/, 'expected a webhook signing secret (whsec_…)'),
})
export type StripeSettings = z.infer<typeof StripeSettings>

export const PaymentConfig = z.strictObject({
  /** Absent: the free-plan mode, where every request may run at once and the pay page says there is nothing to pay. */
  stripe: StripeSettings.optional(),
  /** Secret for pay-link tokens: make it from 32 random bytes (e.g. `openssl rand -hex 32`); shorter is refused. */
  linkSecret: z.string().min(43, 'the link secret needs at least 32 bytes of entropy').max(512).optional(),
  /** Currency the provider prices its offer's plans in (ISO 4217, lowercase); Checkout charges in the plan's currency. */
  currency: z.string().regex(/^[a-z]{3}$/, 'expected an ISO 4217 code in lowercase'),
  /** Accepted age of a webhook signature, in seconds (Stripe's own default is 300). */
  webhookToleranceSec: z.number().int().min(1).max(3600),
  timers: PaymentTimers,
})
export type PaymentConfig = z.infer<typeof PaymentConfig>

export const DEFAULT_PAYMENT_CONFIG: PaymentConfig = {
  currency: 'eur',
  webhookToleranceSec: 300,
  timers: DEFAULT_TIMERS,
}

export type PaymentMode = 'free' | 'stripe'

/** Stripe configured means paid plans cost money; without it every plan is free. */
export function paymentMode(config: Pick<PaymentConfig, 'stripe'>): PaymentMode {
  return config.stripe ? 'stripe' : 'free'
}

/** Does a request on a plan with this price need a payment before it may run? */
export function needsPayment(config: Pick<PaymentConfig, 'stripe'>, planPrice: number): boolean {
  return paymentMode(config) === 'stripe' && planPrice > 0
}

/**
 * Build a config from environment-style strings (the caller passes `process.env` or a test object).
 * Stripe is on only when both its keys are given: half a configuration is an error, not silently free.
 */
export function paymentConfigFromEnv(env: Readonly<Record<string, string | undefined>>): PaymentConfig {
  const secretKey = env.STRIPE_SECRET_KEY || undefined
  const webhookSecret = env.STRIPE_WEBHOOK_SECRET || undefined
  if (Boolean(secretKey) !== Boolean(webhookSecret)) {
    throw new Error('set both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or neither (free mode)')
  }
  const days = (name: string, fallback: number): number => {
    const raw = env[name]
    if (raw === undefined || raw === '') return fallback
    if (!/^[0-9]+(\.[0-9]+)?$/.test(raw)) throw new Error(`${name} must be a number of days, got ${JSON.stringify(raw.slice(0, 20))}`)
    return Math.round(Number(raw) * DAY)
  }
  const candidate = {
    stripe: secretKey && webhookSecret ? { secretKey, webhookSecret } : undefined,
    linkSecret: env.BUTTCLOUD_PAY_LINK_SECRET || undefined,
    currency: env.BUTTCLOUD_CURRENCY || DEFAULT_PAYMENT_CONFIG.currency,
    webhookToleranceSec: DEFAULT_PAYMENT_CONFIG.webhookToleranceSec,
    timers: {
      graceMs: days('BUTTCLOUD_GRACE_DAYS', DEFAULT_TIMERS.graceMs),
      retentionMs: days('BUTTCLOUD_RETENTION_DAYS', DEFAULT_TIMERS.retentionMs),
      unpaidExpiryMs: days('BUTTCLOUD_UNPAID_EXPIRY_DAYS', DEFAULT_TIMERS.unpaidExpiryMs),
    },
  }
  const parsed = PaymentConfig.safeParse(candidate)
  if (!parsed.success) {
    // Name the fields only: the values may be secrets and this message may reach a log.
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.')))].join(', ')
    throw new Error(`invalid payment configuration in: ${fields}`)
  }
  if (parsed.data.stripe && !parsed.data.linkSecret) {
    throw new Error('BUTTCLOUD_PAY_LINK_SECRET is required when Stripe is configured (pay links are signed with it)')
  }
  return parsed.data
}
