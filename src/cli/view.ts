/**
 * The user's side of ButtCloud, folded from their own sbot's log: their requests and commands, and the offers,
 * statuses, replies and stats that providers sent them. Pure: messages in, a list of pubs out, so every CLI
 * command shows the same truth and the fold is tested without an sbot.
 *
 * Trust: a status, reply or stats message counts only when its author is the provider the request named, and only
 * for requests and commands the user posted. Anyone can write `buttcloud/status` about any request id; only the
 * named provider's word moves a pub.
 */
import type { Offer, Plan } from '../protocol/offer.js'
import type { PubState } from '../protocol/status.js'
import type { FeedId, InviteCode, MsgId, MultiserverAddress } from '../protocol/ids.js'
import type { ErrorCode, ReplyResult } from '../protocol/reply.js'
import type { StatsSummary } from '../protocol/stats.js'
import type { Verb } from '../protocol/command.js'
import type { Received } from '../protocol/parse.js'

/** A pub's state as the user sees it: the provider's last word, or `requested` before it has said anything. */
export type PubPhase = PubState | 'requested'

/** A provider's latest offer. */
export interface OfferView {
  provider: FeedId
  /** The offer message. */
  key: MsgId
  timestamp: number
  name: string
  plans: Plan[]
  paymentSite?: string
  terms: string
}

/** One status the provider sent, in the provider's order. */
export interface StatusEntry {
  key: MsgId
  state: PubState
  timestamp: number
  reason?: string
  paymentUrl?: string
}

/** A command the user sent, with the provider's reply once it came. */
export interface CommandView {
  key: MsgId
  verb: Verb
  args?: Record<string, unknown>
  timestamp: number
  reply?: { key: MsgId; ok: boolean; timestamp: number; error?: { code: ErrorCode; reason: string }; result?: ReplyResult }
}

/** One pub: the user's request and everything its provider said about it. */
export interface PubView {
  /** The request message id: the pub's id everywhere. */
  id: MsgId
  name?: string
  plan: string
  provider: FeedId
  /** The provider's name from its offer, when the user has one. */
  providerName?: string
  /** The request was boxed to owner and provider. */
  private: boolean
  requestedAt: number
  state: PubPhase
  /** When the current state began (the request's time while `requested`). */
  since: number
  reason?: string
  paymentUrl?: string
  /** The hosted pub's identity and address, the last the provider gave. */
  pub?: { id: FeedId; address: MultiserverAddress; web?: string }
  /** The latest invite code a status carried (statuses are private to owner and provider). */
  invite?: InviteCode
  history: StatusEntry[]
  commands: CommandView[]
  stats?: StatsSummary
}

/** Everything the CLI shows, folded from one read of the log. */
export interface UserView {
  me: FeedId
  pubs: PubView[]
  offers: OfferView[]
}

type Of<T extends Received['content']['type']> = Received<Extract<Received['content'], { type: T }>>

function bySequence(a: Received<unknown>, b: Received<unknown>): number {
  return a.sequence - b.sequence
}

/** Fold parsed messages (any order, any authors) into the user's pubs and the offers they have seen. */
export function foldView(me: FeedId, messages: readonly Received[]): UserView {
  const seen = new Set<MsgId>()
  const unique = messages.filter((m) => (seen.has(m.key) ? false : (seen.add(m.key), true)))
  const ofType = <T extends Received['content']['type']>(type: T): Of<T>[] =>
    unique.filter((m): m is Of<T> => m.content.type === type).sort(bySequence)

  const offers = latestOffers(ofType('buttcloud/offer'))
  const offerBy = new Map(offers.map((o) => [o.provider, o]))

  const pubs = new Map<MsgId, PubView>()
  for (const m of ofType('buttcloud/request')) {
    if (m.author !== me) continue
    const c = m.content
    pubs.set(m.key, {
      id: m.key,
      ...(c.name !== undefined && { name: c.name }),
      plan: c.plan,
      provider: c.provider,
      ...(offerBy.has(c.provider) && { providerName: offerBy.get(c.provider)!.name }),
      private: c.recps !== undefined,
      requestedAt: m.timestamp,
      state: 'requested',
      since: m.timestamp,
      history: [],
      commands: [],
    })
  }
  // Only the named provider speaks for a pub.
  const fromProvider = (request: MsgId, author: FeedId): PubView | undefined => {
    const pub = pubs.get(request)
    return pub && pub.provider === author ? pub : undefined
  }

  for (const m of ofType('buttcloud/status')) {
    const pub = fromProvider(m.content.request, m.author)
    if (!pub) continue
    const c = m.content
    const previous = pub.history[pub.history.length - 1]
    pub.history.push({
      key: m.key,
      state: c.state,
      timestamp: m.timestamp,
      ...(c.reason !== undefined && { reason: c.reason }),
      ...(c.paymentUrl !== undefined && { paymentUrl: c.paymentUrl }),
    })
    if (!previous || previous.state !== c.state) pub.since = m.timestamp
    pub.state = c.state
    // Reason and payment link describe the current state only; address and invite stay valid until replaced.
    delete pub.reason
    delete pub.paymentUrl
    if (c.reason !== undefined) pub.reason = c.reason
    if (c.paymentUrl !== undefined) pub.paymentUrl = c.paymentUrl
    if (c.pub) pub.pub = c.pub
    if (c.invite) pub.invite = c.invite
  }

  const commands = new Map<MsgId, { pub: PubView; view: CommandView }>()
  for (const m of ofType('buttcloud/command')) {
    const pub = pubs.get(m.content.request)
    if (m.author !== me || !pub) continue
    const view: CommandView = { key: m.key, verb: m.content.verb, timestamp: m.timestamp }
    if (m.content.args && Object.keys(m.content.args).length > 0) view.args = { ...m.content.args }
    pub.commands.push(view)
    commands.set(m.key, { pub, view })
  }
  for (const m of ofType('buttcloud/reply')) {
    const target = commands.get(m.content.command)
    // The first reply counts: the provider answers each command once.
    if (!target || target.pub.provider !== m.author || target.view.reply) continue
    const c = m.content
    target.view.reply = {
      key: m.key,
      ok: c.ok,
      timestamp: m.timestamp,
      ...(c.error && { error: c.error }),
      ...(c.result && { result: c.result }),
    }
  }

  for (const m of ofType('buttcloud/stats')) {
    const pub = fromProvider(m.content.request, m.author)
    if (pub) pub.stats = m.content.summary
  }

  return { me, pubs: [...pubs.values()], offers }
}

function latestOffers(messages: Of<'buttcloud/offer'>[]): OfferView[] {
  const latest = new Map<FeedId, Of<'buttcloud/offer'>>()
  for (const m of messages) latest.set(m.author, m)
  // Sequences only order one feed; across providers, list the offers by when they were posted.
  return [...latest.values()].sort((a, b) => a.timestamp - b.timestamp).map((m) => offerView(m.author, m.key, m.timestamp, m.content))
}

function offerView(provider: FeedId, key: MsgId, timestamp: number, c: Offer): OfferView {
  return {
    provider,
    key,
    timestamp,
    name: c.name,
    plans: c.plans,
    ...(c.paymentSite !== undefined && { paymentSite: c.paymentSite }),
    terms: c.terms,
  }
}

/** How a watch ends in a state: `undefined` while the pub is still on its way somewhere. */
export type Settled = 'up' | 'stopped' | 'destroyed' | 'failed' | 'awaiting-payment'

/** Whether a state is one a watcher stops at (final, or waiting on someone other than the provider). */
export function settledState(state: PubPhase): Settled | undefined {
  switch (state) {
    case 'up':
    case 'stopped':
    case 'destroyed':
    case 'failed':
    case 'awaiting-payment':
      return state
    case 'requested':
    case 'queued':
    case 'provisioning':
    case 'down':
      return undefined
  }
}

/** The result of looking a pub up by what the user typed. */
export type PubMatch = { ok: true; pub: PubView } | { ok: false; reason: 'none' | 'ambiguous'; candidates: PubView[] }

/**
 * Find a pub by its request id, its name, or a unique prefix of its id (with or without the `%`). An exact id wins,
 * then an exact name, then a prefix; the short ids the CLI prints are such prefixes.
 */
export function findPub(pubs: readonly PubView[], ref: string): PubMatch {
  const exact = pubs.find((p) => p.id === ref)
  if (exact) return { ok: true, pub: exact }
  const named = pubs.filter((p) => p.name === ref)
  if (named.length === 1) return { ok: true, pub: named[0]! }
  if (named.length > 1) return { ok: false, reason: 'ambiguous', candidates: named }
  const prefix = ref.startsWith('%') ? ref : `%${ref}`
  // Two characters of base64 would match most pubs by accident; ask for a few more.
  const prefixed = prefix.length >= 4 ? pubs.filter((p) => p.id.startsWith(prefix)) : []
  if (prefixed.length === 1) return { ok: true, pub: prefixed[0]! }
  return prefixed.length > 1 ? { ok: false, reason: 'ambiguous', candidates: prefixed } : { ok: false, reason: 'none', candidates: [] }
}

/** The plan the CLI picks when the user names none: the cheapest, the first listed on a tie. */
export function cheapestPlan(offer: OfferView): Plan {
  return offer.plans.reduce((best, p) => (p.price < best.price ? p : best))
}

/** The shortest prefix of an id people can type: `%` and eight characters. */
export function shortId(id: MsgId): string {
  return id.slice(0, 9)
}
