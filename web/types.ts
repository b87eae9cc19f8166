/**
 * What the payment site needs from the provider, as interfaces: the site itself keeps no state, so it can be
 * restarted, tested with `app.request()`, and wired to the real control plane without knowing how it works.
 */
import type Stripe from 'stripe'
import type { Log } from '../src/log/logger.js'
import type { FeedId, MsgId } from '../src/protocol/ids.js'
import type { Offer } from '../src/protocol/offer.js'
import type { PaymentFact } from '../src/protocol/payment.js'
import type { PubState } from '../src/protocol/status.js'
import type { SiteMetrics } from './metrics.js'

/** One request as the provider knows it. */
export interface DirectoryEntry {
  request: MsgId
  owner: FeedId
  /** The plan id the request asked for (a slug of the offer). */
  plan: string
  name?: string
  /** The pub's current state, as in its latest `buttcloud/status`. */
  state: PubState
  /**
   * The pub's subscription ended (not by the owner's destroy) and its data is still kept: a new Checkout brings the
   * same pub back. Times in ms.
   */
  resubscribe?: { endedAt: number; dataKeptUntil: number }
}

/** Read-only view of the provider's requests. */
export interface Directory {
  lookup(requestId: MsgId): Promise<DirectoryEntry | undefined>
}

/**
 * Where payment facts go. The provider implements it by publishing each fact as a `buttcloud/payment` message
 * encrypted to itself alone: the log stays the one source of truth (the planner folds the same messages it reads
 * for everything else, backups and restores carry payments along, and no second database can disagree with it).
 *
 * Contract: `record` is idempotent by `fact.event` and says whether this call stored it; `has` may lag behind
 * `record` (an index catching up) but never claims an event it has not stored. The site coalesces concurrent
 * deliveries of one event, so a lagging `has` cannot cause a double record from this process.
 */
export interface Ledger {
  record(fact: PaymentFact): Promise<'recorded' | 'duplicate'>
  has(eventId: string): Promise<boolean>
}

/** The site logs through the one structured logger's `Log`. Fields never carry secrets, keys, tokens or signatures. */
export type Logger = Log

export interface PaymentSiteOptions {
  /** The Stripe client; undefined in the free mode (then there is nothing to pay and no webhook endpoint). */
  stripe?: Stripe
  /** The webhook endpoint's signing secret (whsec_…); required with `stripe`. */
  webhookSecret?: string
  /** Accepted age of a webhook signature in seconds; Stripe's default (300) when absent. */
  webhookToleranceSec?: number
  /** Secret the pay-link tokens are made with (see src/payment/links.ts). */
  linkSecret: string
  /** Public base URL of this site, e.g. https://pay.example.org: Checkout returns the owner there. */
  baseUrl: string
  /** The provider's feed id: payment facts are addressed to it alone. */
  provider: FeedId
  offer: Offer
  directory: Directory
  ledger: Ledger
  /** Operator-provided texts (plain text, blank lines between paragraphs); defaults in web/defaults.ts. */
  termsText?: string
  privacyText?: string
  log?: Logger
  /**
   * Behind our own TLS-terminating proxy: take the client's address for the rate limit from the last
   * `X-Forwarded-For` hop. Off by default (then every client behind a proxy shares one limit).
   */
  trustProxy?: boolean
  /** POST requests one client may make per minute; defaults in DEFAULT_POST_LIMITS (web/site.tsx). */
  postLimits?: { payPerMinute?: number; webhooksPerMinute?: number; maxClients?: number }
  /** Milliseconds since the epoch; injectable for tests of the rate limit. */
  now?: () => number
  /** Webhooks are counted here by outcome; with `metricsRoute`, GET /metrics serves the exposition text. */
  metrics?: SiteMetrics
  metricsRoute?: boolean
}
