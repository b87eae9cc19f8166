/**
 * POST /webhooks/stripe: verify, record once, answer. Stripe retries anything but a 2xx for days, so the answer
 * says "try again" (5xx) only when trying again can help: our ledger failed. Whatever will never become useful
 * (a type we do not use, a payment for a request we do not know) is acknowledged and ignored.
 */
import type { Context } from 'hono'
import type Stripe from 'stripe'
import type { FeedId } from '../src/protocol/ids.js'
import { factFromEvent } from './stripe-events.js'
import type { Directory, Ledger, Logger } from './types.js'

export type WebhookOutcome = 'recorded' | 'duplicate' | 'ignored'

export interface WebhookDeps {
  stripe: Stripe
  webhookSecret: string
  toleranceSec?: number
  provider: FeedId
  directory: Directory
  ledger: Ledger
  log: Logger
}

/** The handler; it holds the in-flight map that coalesces concurrent deliveries of one event. */
export function stripeWebhookHandler(deps: WebhookDeps): (c: Context) => Promise<Response> {
  const inFlight = new Map<string, Promise<WebhookOutcome>>()

  async function process(event: Stripe.Event): Promise<WebhookOutcome> {
    if (await deps.ledger.has(event.id)) return 'duplicate'
    const mapped = factFromEvent(event, deps.provider)
    if (!mapped.ok) {
      deps.log('webhook ignored', { event: event.id, type: event.type, reason: mapped.ignore }, 'info')
      return 'ignored'
    }
    const entry = await deps.directory.lookup(mapped.fact.request)
    if (!entry) {
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

  return async (c) => {
    const signature = c.req.header('stripe-signature')
    if (!signature) return c.json({ error: 'missing Stripe-Signature header' }, 400)
    // The signature covers the exact bytes Stripe sent: verify the raw text, never a re-serialised JSON.
    const raw = await c.req.text()
    let event: Stripe.Event
    try {
      event = await deps.stripe.webhooks.constructEventAsync(raw, signature, deps.webhookSecret, deps.toleranceSec)
    } catch (err) {
      // Name the failure class only; the header and body stay out of the log.
      deps.log('webhook rejected: signature did not verify', { error: (err as Error)?.name ?? 'unknown' }, 'warn')
      return c.json({ error: 'signature verification failed' }, 400)
    }
    let pending = inFlight.get(event.id)
    if (!pending) {
      pending = process(event).finally(() => inFlight.delete(event.id))
      inFlight.set(event.id, pending)
    } else {
      // The same event is being handled right now (Stripe retried, or a replay raced it): wait for that outcome.
      pending = pending.then((outcome) => (outcome === 'recorded' ? 'duplicate' : outcome))
    }
    try {
      return c.json({ received: true, outcome: await pending })
    } catch (err) {
      deps.log('webhook could not be recorded; Stripe will retry', { event: event.id, error: (err as Error)?.message?.slice(0, 200) ?? 'unknown' }, 'error')
      return c.json({ error: 'could not record the event; retry later' }, 500)
    }
  }
}
