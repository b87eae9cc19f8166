/** The plugin's own config section (`config.buttcloud`), with defaults. */
import type { Offer, Operator, Plan } from '../../src/protocol/offer.js'
import { checkOutgoing } from '../../src/protocol/parse.js'
import { NOTICES_PER_PUB_PER_DAY } from '../../src/control/notify.js'

export interface ButtcloudPluginConfig {
  /** The provider's name in its offer. */
  name: string
  plans: Plan[]
  /** The terms of service URL in the offer. */
  terms: string
  /** Where owners pay; absent when every plan is free. */
  paymentSite?: string
  /** Who operates the provider, named in the offer and on every page of the pay site. */
  operator?: Operator
  /** Pub versions an owner may upgrade to; the first is the default. */
  versions: string[]
  /** Live pubs one owner may have; also the free places one owner's free pubs may hold (see src/control/room.ts). */
  pubsPerOwner: number
  /** Free pubs (needing no payment) that may hold a place at once; more wait in a queue, oldest request first. */
  freePubs: number
  /** The most uses an owner's `invite` command may ask for; more is refused with a reply saying so. */
  inviteMaxUses: number
  /** A scheduled pass runs this often even when nothing arrives (level-triggered checks). */
  passIntervalMs: number
  /** Events within this window share one pass. */
  debounceMs: number
  /** Longest wait between retries of a failing pass. */
  maxBackoffMs: number
  /** A one-shot command (invite, stats, backup) that keeps failing is answered with an error after this long. */
  oneShotDeadlineMs: number
  /** Refusals (to strangers, malformed messages) one author gets per window before we stop answering them. */
  refusalsPerAuthor: number
  /** The refusal window, on the provider's clock; a message older than this when first looked at gets no answer. */
  refusalWindowMs: number
  /**
   * A stats summary per running pub is posted this often; 0 (the default) posts none: owners ask with `stats`.
   * WEEK_MS is the shortest period that keeps a pub within 100 bytes a day of the shared feed.
   */
  statsIntervalMs: number
  /** How often the owner's live stats stream samples. */
  liveStatsMs: number
  /** Status posts one pub gets per day at most (a change past it waits until the day allows); 0: no cap. */
  noticesPerPubPerDay: number
  /**
   * How long the runtime keeps a destroyed pub's data before it purges it (its retention), so the owner can be
   * reminded before the purge. Absent: no runtime purges anything, and there is nothing to remind of.
   */
  purgeAfterMs?: number
}

/** A week, the period for operators who want stats summaries posted (`statsIntervalMs`). */
export const WEEK_MS = 7 * 24 * 3600_000

export const DEFAULT_PLUGIN_CONFIG: ButtcloudPluginConfig = {
  name: 'ButtCloud',
  plans: [{ id: 'free', name: 'Free', memoryMiB: 128, price: 0, currency: 'usd', interval: 'month' }],
  terms: 'http://127.0.0.1:8119/terms',
  versions: ['1'],
  pubsPerOwner: 3,
  freePubs: 100,
  inviteMaxUses: 20,
  passIntervalMs: 30_000,
  debounceMs: 20,
  maxBackoffMs: 60_000,
  oneShotDeadlineMs: 10 * 60_000,
  refusalsPerAuthor: 20,
  refusalWindowMs: 24 * 3600_000,
  statsIntervalMs: 0,
  liveStatsMs: 10_000,
  noticesPerPubPerDay: NOTICES_PER_PUB_PER_DAY,
}

/** Merge a (partial) config section over the defaults. */
export function pluginConfig(section: Partial<ButtcloudPluginConfig> | undefined): ButtcloudPluginConfig {
  return { ...DEFAULT_PLUGIN_CONFIG, ...(section ?? {}) }
}

/** The public offer this config describes (checked against its schema: a bad config fails at start). */
export function buildOffer(cfg: ButtcloudPluginConfig): Offer {
  return checkOutgoing('buttcloud/offer', {
    type: 'buttcloud/offer',
    version: 1,
    name: cfg.name,
    plans: cfg.plans,
    ...(cfg.paymentSite ? { paymentSite: cfg.paymentSite } : {}),
    terms: cfg.terms,
    ...(cfg.operator ? { operator: cfg.operator } : {}),
  })
}
