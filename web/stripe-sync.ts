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
/** How long Stripe keeps retrying a webhook that was not answered 2xx (live mode: up to three days). */
export const STRIPE_RETRIES_SEC = 3 * 24 * 3600

/**
 * Where to start reading (seconds): the newest fact held (Stripe's `created`, ms), less the time Stripe retries a
 * delivery, or 30 days back when that is later or no fact is held. Every event the journal lacks was answered after
 * the journal's newest fact was written, so it was created at most the retry time before that: nothing is missed,
 * and an ordinary restart reads days, not a month.
 */
export function readBackSince(nowMs: number, newestFactMs?: number): number {
  const kept = nowMs / 1000 - STRIPE_EVENTS_KEPT_SEC
  return newestFactMs === undefined ? kept : Math.max(kept, newestFactMs / 1000 - STRIPE_RETRIES_SEC)
}

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
