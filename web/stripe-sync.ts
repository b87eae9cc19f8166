/**
 * Payment facts read back from Stripe. Stripe stops delivering an event once an endpoint answered it, so the events
 * a provider answered after its last backup reach a restored provider no other way: it lists them (the Events API
 * keeps 30 days of them) and handles each exactly as a webhook (web/webhook.ts). Facts are recorded once by event
 * id, so the events it already holds are duplicates and change nothing; reading back is safe at any time.
 */
import type Stripe from 'stripe'
import { HANDLED_EVENTS } from './stripe-events.js'
import { EventEnvelope, type WebhookOutcome } from './webhook.js'

/** How far back Stripe's Events API lists events. */
export const STRIPE_EVENTS_KEPT_SEC = 30 * 24 * 3600

export interface StripeSyncResult {
  /** Events by what handling them did. */
  outcomes: Record<WebhookOutcome, number>
  /** The oldest event (Stripe's `created`, seconds) left for a request not known yet: read again from there later. */
  retryFrom?: number
}

/** List the handled event types created since `sinceSec` (newest first, every page) and handle each as a webhook. */
export async function syncStripeEvents(stripe: Stripe, handle: (event: Stripe.Event) => Promise<WebhookOutcome>, sinceSec: number): Promise<StripeSyncResult> {
  const outcomes: Record<WebhookOutcome, number> = { recorded: 0, duplicate: 0, ignored: 0, 'retry-later': 0 }
  let retryFrom: number | undefined
  const list = stripe.events.list({ types: Object.keys(HANDLED_EVENTS), created: { gte: Math.max(0, Math.floor(sinceSec)) }, limit: 100 })
  for await (const event of list) {
    // From Stripe's API over our key, but parsed all the same before anything acts on it.
    if (!EventEnvelope.safeParse(event).success) {
      outcomes.ignored++
      continue
    }
    const outcome = await handle(event)
    outcomes[outcome]++
    if (outcome === 'retry-later') retryFrom = Math.min(retryFrom ?? event.created, event.created)
  }
  return { outcomes, ...(retryFrom !== undefined ? { retryFrom } : {}) }
}
