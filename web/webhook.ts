/**
 * POST /webhooks/stripe: verify, record once, answer. Stripe retries anything but a 2xx for days, so the answer
 * says "try again" (5xx) only when trying again can help: our ledger failed, or the event names a request this
 * provider has not indexed yet (just after a restore, or before replication caught up) and is recent enough that
 * the request may still arrive. Whatever will never become useful (a type we do not use, a payment for a request
 * we still do not know after that window) is acknowledged and ignored.
 */
import type { Context } from 'hono'
import type Stripe from 'stripe'
import { z } from 'zod'
import type { FeedId } from '../src/protocol/ids.js'
import { factFromEvent } from './stripe-events.js'
import type { Directory, Ledger, Logger } from './types.js'

export type WebhookOutcome = 'recorded' | 'duplicate' | 'ignored' | 'retry-later'

/** Stripe's own default signature tolerance (seconds), used when none is configured. */
export const DEFAULT_TOLERANCE_SEC = 300
/**
 * How long (seconds after Stripe created the event) an event for an unknown request is answered 503 so Stripe
 * retries. Stripe retries for up to three days with growing gaps; a day covers a restore or a slow index rebuild
 * and still ends: after it, an event for a request we never learn of is acknowledged and ignored.
 */
export const DEFAULT_UNKNOWN_REQUEST_RETRY_SEC = 24 * 3600

/** The envelope of an event, checked after the signature: a signed array or string is not an event. */
export const EventEnvelope = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/),
  type: z.string().min(1).max(200),
  created: z.number().int().min(0),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
})

export interface WebhookDeps {
  stripe: Stripe
  webhookSecret: string
  toleranceSec?: number
  /** See DEFAULT_UNKNOWN_REQUEST_RETRY_SEC. */
  unknownRequestRetrySec?: number
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number
  provider: FeedId
  directory: Directory
  ledger: Ledger
  log: Logger
}

/** What handling a Stripe event needs besides its delivery: the same for a webhook and for an event read back from Stripe. */
export type EventDeps = Pick<WebhookDeps, 'unknownRequestRetrySec' | 'now' | 'provider' | 'directory' | 'ledger' | 'log'>

/**
 * Handle one Stripe event (its signature checked, or read from Stripe's API): record the fact it stands for once, or
 * say why not. The one path for webhooks and for the events a restored provider reads back (web/stripe-sync.ts).
 */
export function paymentEventProcessor(deps: EventDeps): (event: Stripe.Event) => Promise<WebhookOutcome> {
  const retryWindow = deps.unknownRequestRetrySec ?? DEFAULT_UNKNOWN_REQUEST_RETRY_SEC
  const now = deps.now ?? Date.now
  return async function process(event: Stripe.Event): Promise<WebhookOutcome> {
    if (await deps.ledger.has(event.id)) return 'duplicate'
    const mapped = factFromEvent(event, deps.provider)
    if (!mapped.ok) {
      deps.log('webhook ignored', { event: event.id, type: event.type, reason: mapped.ignore }, 'info')
      return 'ignored'
    }
    const entry = await deps.directory.lookup(mapped.fact.request)
    if (!entry) {
      const ageSec = now() / 1000 - event.created
      if (ageSec < retryWindow) {
        // Not indexed yet, perhaps: Stripe keeps the event and retries; nothing is stored meanwhile.
        deps.log('webhook for a request not known yet; asking Stripe to retry', { event: event.id, type: event.type, request: mapped.fact.request }, 'warn')
        return 'retry-later'
      }
      deps.log('webhook for an unknown request ignored', { event: event.id, type: event.type, request: mapped.fact.request }, 'warn')
      return 'ignored'
    }
    if (mapped.owner !== undefined && mapped.owner !== entry.owner) {
      deps.log('webhook owner does not match the request; ignored', { event: event.id, request: entry.request }, 'warn')
      return 'ignored'
    }
    const result = await deps.ledger.record(mapped.fact)
    deps.log(`webhook ${result}`, { event: event.id, type: event.type, kind: mapped.fact.kind, request: entry.request }, 'info')
    return result
  }
}

/** The handler; it holds the in-flight map that coalesces concurrent deliveries of one event. */
export function stripeWebhookHandler(deps: WebhookDeps): (c: Context) => Promise<Response> {
  const inFlight = new Map<string, Promise<WebhookOutcome>>()
  const tolerance = deps.toleranceSec ?? DEFAULT_TOLERANCE_SEC
  const now = deps.now ?? Date.now
  const process = paymentEventProcessor(deps)

  return async (c) => {
    const signature = c.req.header('stripe-signature')
    if (!signature) return c.json({ error: 'missing Stripe-Signature header' }, 400)
    // The signature covers the exact bytes Stripe sent: verify the raw text, never a re-serialised JSON.
    const raw = await c.req.text()
    let parsed: unknown
    try {
      parsed = await deps.stripe.webhooks.constructEventAsync(raw, signature, deps.webhookSecret, tolerance)
    } catch (err) {
      // The library verifies first and parses after: a failure that is not its signature error is a body that
      // was signed correctly but is not JSON. Name the failure class only; the header and body stay out of the log.
      if ((err as { type?: string })?.type !== 'StripeSignatureVerificationError') {
        deps.log('webhook rejected: malformed JSON', { error: (err as Error)?.name ?? 'unknown' }, 'warn')
        return c.json({ error: 'malformed JSON' }, 400)
      }
      deps.log('webhook rejected: signature did not verify', { error: (err as Error)?.name ?? 'unknown' }, 'warn')
      return c.json({ error: 'signature verification failed' }, 400)
    }
    // The library refuses only signatures older than the tolerance; one dated in the future is as suspect.
    const signedAt = Number(/(?:^|,)t=(\d{1,12})(?:,|$)/.exec(signature)?.[1])
    if (!Number.isFinite(signedAt) || signedAt - now() / 1000 > tolerance) {
      deps.log('webhook rejected: signature dated in the future', {}, 'warn')
      return c.json({ error: 'signature verification failed' }, 400)
    }
    const envelope = EventEnvelope.safeParse(parsed)
    if (!envelope.success) {
      deps.log('webhook rejected: signed, but not a Stripe event', { fields: [...new Set(envelope.error.issues.map((i) => i.path.join('.')))].join(', ').slice(0, 200) }, 'warn')
      return c.json({ error: 'not a Stripe event' }, 400)
    }
    const event = parsed as Stripe.Event
    let pending = inFlight.get(event.id)
    if (!pending) {
      pending = process(event).finally(() => inFlight.delete(event.id))
      inFlight.set(event.id, pending)
    } else {
      // The same event is being handled right now (Stripe retried, or a replay raced it): wait for that outcome.
      pending = pending.then((outcome) => (outcome === 'recorded' ? 'duplicate' : outcome))
    }
    try {
      const outcome = await pending
      if (outcome === 'retry-later') return c.json({ error: 'unknown request; retry later', outcome }, 503)
      return c.json({ received: true, outcome })
    } catch (err) {
      deps.log('webhook could not be recorded; Stripe will retry', { event: event.id, error: (err as Error)?.message?.slice(0, 200) ?? 'unknown' }, 'error')
      return c.json({ error: 'could not record the event; retry later' }, 500)
    }
  }
}
