/**
 * The control log as the provider sees it: every parsed ButtCloud message, grouped by pub, with records
 * folded on demand. Adding the same message twice changes nothing; adding messages in any order gives the
 * same records. No I/O: the plugin feeds it from ssb-db2, tests feed it directly.
 */
import type { FeedId, MsgId } from '../protocol/ids.js'
import type { ErrorCode } from '../protocol/reply.js'
import type { PubCommand } from '../protocol/command.js'
import type { PubRequest } from '../protocol/request.js'
import type { PubStatus } from '../protocol/status.js'
import type { Offer } from '../protocol/offer.js'
import type { PaymentFact } from '../protocol/payment.js'
import type { PubPlacement } from '../protocol/placement.js'
import type { PubRelease } from '../protocol/release.js'
import type { ButtcloudContent, Received } from '../protocol/parse.js'
import { byArrival, foldPub, wasLiveBefore } from './fold.js'
import type { FoldContext, PubRecord } from './record.js'

export const MAX_REQUESTS_PER_AUTHOR = 1000

/** A pub's recorded placement; `released` once the provider recorded that its port went back to the pool. */
export interface LedgerPlacement {
  hub: string
  port: number
  /** Feed sequence of the placement record: the first one recorded counts. */
  sequence: number
  released?: true
}

function placementKey(request: MsgId, hub: string, port: number): string {
  return `${request}\n${hub}\n${port}`
}

/** A message addressed to us that did not parse; it is owed a refusal. */
export interface InvalidInbound {
  key: MsgId
  author: FeedId
  type: string
  reason: string
  /** When the provider received it. */
  receivedAt: number
  /** The refusal's code when it is not `malformed` (a command post naming no pub of the author's). */
  code?: ErrorCode
  /** It was a private post: the refusal is a private post too. */
  viaPost?: true
}

/** A question asked by private post (`pubs`, `status <pub>`, `help`): answered once, changes nothing. */
export interface PostQuery {
  key: MsgId
  author: FeedId
  receivedAt: number
  ask: { kind: 'pubs' } | { kind: 'help' } | { kind: 'status'; request: MsgId }
}

/** How many times are kept per subject: more than any sane cap, so counts within a window stay exact. */
const TIMES_KEPT = 256

/**
 * When the provider posted messages of one kind, per subject (a refusal's recipient, a notice's pub), read back from
 * its own log so a cap on them holds across restarts. Each message counts once, whether the pass notes it first or
 * the log does; times are kept sorted and bounded.
 */
class PostedTimes {
  private readonly times = new Map<string, number[]>()
  private readonly counted = new Set<MsgId>()

  /** Count message `key`, about `subject`, posted at `at` (once). */
  note(key: MsgId, subject: string, at: number): void {
    if (this.counted.has(key)) return
    this.counted.add(key)
    const times = this.times.get(subject) ?? []
    times.push(at)
    if (times.length > 1 && times[times.length - 2]! > at) times.sort((a, b) => a - b)
    if (times.length > TIMES_KEPT) times.splice(0, times.length - TIMES_KEPT)
    this.times.set(subject, times)
  }

  /** How many were posted about `subject` at or after `since`. */
  since(subject: string, since: number): number {
    const times = this.times.get(subject)
    if (!times) return 0
    let n = 0
    for (let i = times.length - 1; i >= 0 && times[i]! >= since; i--) n++
    return n
  }
}

/** Something we published earlier, reduced to what later passes need. */
export interface PostedStatus {
  sequence: number
  /** When it was posted. */
  at: number
  content: PubStatus
}

export class ControlLedger {
  private readonly seen = new Set<MsgId>()
  private readonly ids = new Map<string, string>()
  private messages = 0
  private readonly requests = new Map<MsgId, Received<PubRequest>>()
  private readonly requestsByOwner = new Map<FeedId, MsgId[]>()
  private readonly commandsByRequest = new Map<MsgId, Received<PubCommand>[]>()
  /** Commands naming a request we do not know (yet), by that request: owed an unknown-pub refusal. */
  private readonly orphansByRequest = new Map<MsgId, Received<PubCommand>[]>()
  /**
   * The orphans still owed an answer, by key: answering one takes it out without a scan. An answered orphan stays in
   * `orphansByRequest` all the same: the index may hand its request over after it (and after its reply), and the
   * record must still get the command.
   */
  private readonly pendingOrphans = new Map<MsgId, Received<PubCommand>>()
  /** Unparseable messages addressed to us that are still owed a refusal (answered ones leave). */
  private readonly invalid = new Map<MsgId, InvalidInbound>()
  /** Questions asked by private post and still owed an answer. */
  private readonly queries = new Map<MsgId, PostQuery>()
  /** Keys of messages the provider has already answered (command replies and refusals). */
  private readonly answered = new Set<MsgId>()
  /**
   * When the provider posted each refusal, per recipient (oldest first, bounded), read back from its own replies:
   * the refusal cap holds across restarts. Counted once per reply message.
   */
  private readonly refusals = new PostedTimes()
  private readonly lastStatus = new Map<MsgId, PostedStatus>()
  /** The address the last "up" that carried an invite named, per pub: an "up" at another address gets a fresh one. */
  private readonly invitedAddress = new Map<MsgId, string>()
  private ownOffer: { sequence: number; content: Offer } | undefined
  /**
   * The latest placement the provider recorded for each pub (its port is the pub's until it is released). A later
   * one moves the pub: the planner re-places a pub whose port turned out to be in use on its hub.
   */
  private readonly placementByRequest = new Map<MsgId, LedgerPlacement>()
  /** Releases the provider recorded, by `placementKey`: a release frees only the exact placement it names. */
  private readonly releases = new Set<string>()
  /** Payment facts per request, each event once. */
  private readonly paymentsByRequest = new Map<MsgId, PaymentFact[]>()
  private readonly paymentEvents = new Set<string>()
  /** End of the window of the last stats summary posted per pub. */
  private readonly lastStats = new Map<MsgId, number>()
  private readonly cache = new Map<MsgId, PubRecord>()
  /** When the provider posted each notification, per pub, read back from its own posts. */
  private readonly notices = new PostedTimes()

  constructor(private readonly ctx: FoldContext) {}

  get provider(): FeedId {
    return this.ctx.provider
  }

  /** Add one parsed message; returns false when it was already known. */
  add(msg: Received<ButtcloudContent>): boolean {
    if (this.seen.has(msg.key)) return false
    this.seen.add(msg.key)
    this.messages++
    // Only requests and commands are kept whole; their ids repeat across thousands of messages, so share them.
    msg = { ...msg, author: this.intern(msg.author) }
    const c = msg.content
    switch (c.type) {
      case 'buttcloud/request':
        if (c.provider !== this.ctx.provider) return true
        // Past this many requests an author is flooding us: keep the fold cheap and say nothing.
        if ((this.requestsByOwner.get(msg.author)?.length ?? 0) >= MAX_REQUESTS_PER_AUTHOR) return true
        this.requests.set(msg.key, msg as Received<PubRequest>)
        this.requestsByOwner.set(msg.author, [...(this.requestsByOwner.get(msg.author) ?? []), msg.key])
        this.adoptOrphans(msg.key)
        // A new request can change the limit check of the owner's later requests.
        for (const key of this.requestsByOwner.get(msg.author)!) this.touch(key)
        return true
      case 'buttcloud/command': {
        if (!this.addressedToUs(msg)) return true
        // The recps were checked (they include us); the fold needs only who sent it, so drop them.
        const { recps: _recps, ...slim } = c
        const cmd = { ...msg, content: { ...slim, request: this.intern(c.request) } } as Received<PubCommand>
        if (this.requests.has(c.request)) {
          this.commandsByRequest.set(c.request, [...(this.commandsByRequest.get(c.request) ?? []), cmd])
          this.touch(c.request)
          const owner = this.requests.get(c.request)!.author
          // A destroy frees a slot for the owner's later requests.
          for (const key of this.requestsByOwner.get(owner) ?? []) this.touch(key)
        } else {
          this.orphansByRequest.set(c.request, [...(this.orphansByRequest.get(c.request) ?? []), cmd])
          if (!this.answered.has(msg.key)) this.pendingOrphans.set(msg.key, cmd)
        }
        return true
      }
      case 'buttcloud/reply': {
        if (msg.author !== this.ctx.provider) return true
        this.markAnswered(c.command)
        if (!c.ok) this.noteRefusal(msg.key, c.recps.find((r) => r !== this.ctx.provider) ?? this.ctx.provider, msg.receivedAt)
        return true
      }
      case 'buttcloud/status': {
        if (msg.author !== this.ctx.provider) return true
        const prev = this.lastStatus.get(c.request)
        if (!prev || prev.sequence < msg.sequence) this.lastStatus.set(c.request, { sequence: msg.sequence, at: msg.receivedAt, content: c })
        if (c.state === 'up' && c.invite) this.invitedAddress.set(c.request, c.pub?.address ?? '')
        // A status post is also the owner's notification: it counts towards the pub's daily cap.
        if (msg.viaPost) this.notices.note(msg.key, c.request, msg.receivedAt)
        return true
      }
      case 'buttcloud/placement': {
        if (msg.author !== this.ctx.provider) return true
        const placed = c as PubPlacement
        const prev = this.placementByRequest.get(placed.request)
        if (!prev || prev.sequence < msg.sequence) {
          const entry: LedgerPlacement = { hub: placed.hub, port: placed.port, sequence: msg.sequence }
          if (this.releases.has(placementKey(placed.request, placed.hub, placed.port))) entry.released = true
          this.placementByRequest.set(placed.request, entry)
          this.touch(placed.request)
        }
        return true
      }
      case 'buttcloud/release': {
        if (msg.author !== this.ctx.provider) return true
        const r = c as PubRelease
        // Records may be read in any order: a release read before its placement is applied when that arrives.
        this.releases.add(placementKey(r.request, r.hub, r.port))
        const placed = this.placementByRequest.get(r.request)
        if (placed && !placed.released && placed.hub === r.hub && placed.port === r.port) {
          placed.released = true
          this.touch(r.request)
        }
        return true
      }
      case 'buttcloud/payment': {
        if (msg.author !== this.ctx.provider) return true
        const fact = c as PaymentFact
        if (this.paymentEvents.has(fact.event)) return true
        this.paymentEvents.add(fact.event)
        this.paymentsByRequest.set(fact.request, [...(this.paymentsByRequest.get(fact.request) ?? []), fact])
        this.touch(fact.request)
        return true
      }
      case 'buttcloud/stats': {
        if (msg.author !== this.ctx.provider) return true
        const at = c.summary.window.to
        if ((this.lastStats.get(c.request) ?? -1) < at) this.lastStats.set(c.request, at)
        return true
      }
      case 'buttcloud/offer':
        if (msg.author === this.ctx.provider && (!this.ownOffer || this.ownOffer.sequence < msg.sequence)) {
          this.ownOffer = { sequence: msg.sequence, content: c }
        }
        return true
      default:
        return true
    }
  }

  /** Remember a message addressed to us that failed its schema. */
  addInvalid(item: InvalidInbound): void {
    if (this.seen.has(item.key)) return
    this.seen.add(item.key)
    this.messages++
    if (!this.answered.has(item.key)) this.invalid.set(item.key, item)
  }

  /** Remember a question asked by private post. */
  addQuery(query: PostQuery): boolean {
    if (this.seen.has(query.key)) return false
    this.seen.add(query.key)
    this.messages++
    if (!this.answered.has(query.key)) this.queries.set(query.key, query)
    return true
  }

  /** Questions asked by private post, not answered yet, in arrival order. */
  unansweredQueries(): PostQuery[] {
    return [...this.queries.values()].sort((a, b) => a.receivedAt - b.receivedAt)
  }

  /** The record of one pub, folded from its messages (cached until they change). */
  record(request: MsgId): PubRecord | undefined {
    const cached = this.cache.get(request)
    if (cached) return cached
    const req = this.requests.get(request)
    if (!req) return undefined
    const history = this.ownerHistoryBefore(req)
    const record = foldPub(req, this.commandsByRequest.get(request) ?? [], this.ctx, history.live, history.refused)
    this.cache.set(request, record)
    return record
  }

  /** Every pub record. */
  records(): PubRecord[] {
    return [...this.requests.keys()].map((k) => this.record(k)!)
  }

  /** Records of one owner. */
  recordsOf(owner: FeedId): PubRecord[] {
    return (this.requestsByOwner.get(owner) ?? []).map((k) => this.record(k)!)
  }

  isAnswered(key: MsgId): boolean {
    return this.answered.has(key)
  }

  /**
   * Note that we answered `key` (or chose not to), before the reply has come back through the log. An answered
   * orphan or unparseable message leaves the pending lists, so later passes never look at it again.
   */
  markAnswered(key: MsgId): void {
    this.answered.add(key)
    this.invalid.delete(key)
    this.queries.delete(key)
    this.pendingOrphans.delete(key)
  }

  /** Count a refusal (reply `reply`, to `to`, posted at `at`) once, whether we note it first or the log does. */
  noteRefusal(reply: MsgId, to: FeedId, at: number): void {
    this.refusals.note(reply, to, at)
  }

  /** How many refusals `to` was sent at or after `since`. */
  refusalsSince(to: FeedId, since: number): number {
    return this.refusals.since(to, since)
  }

  /** Count one of the provider's own notification posts (key `post`, about `request`, posted at `at`) once. */
  noteNotice(post: MsgId, request: MsgId, at: number): void {
    this.notices.note(post, request, at)
  }

  /** How many notification posts about `request` the provider posted at or after `since`. */
  noticesSince(request: MsgId, since: number): number {
    return this.notices.since(request, since)
  }

  lastPostedStatus(request: MsgId): PubStatus | undefined {
    return this.lastStatus.get(request)?.content
  }

  /** Note a status we just published (the log will confirm it later; `add` ignores the duplicate). */
  notePosted(request: MsgId, sequence: number, content: PubStatus, at: number): void {
    const prev = this.lastStatus.get(request)
    if (!prev || prev.sequence < sequence) this.lastStatus.set(request, { sequence, at, content })
    if (content.state === 'up' && content.invite) this.invitedAddress.set(request, content.pub?.address ?? '')
  }

  /** When the pub's current "up" began, if it is up. */
  upSince(request: MsgId): number | undefined {
    const last = this.lastStatus.get(request)
    return last?.content.state === 'up' ? last.at : undefined
  }

  /** The address the last invite posted in a status named (undefined: none posted yet). */
  lastInviteAddress(request: MsgId): string | undefined {
    return this.invitedAddress.get(request)
  }

  /** Every recorded placement, destroyed pubs' included, each marked when it was released: which ports are taken. */
  placements(): ReadonlyMap<MsgId, Readonly<LedgerPlacement>> {
    return this.placementByRequest
  }

  /** Payment facts recorded for one pub. */
  paymentsOf(request: MsgId): readonly PaymentFact[] {
    return this.paymentsByRequest.get(request) ?? []
  }

  /** Has this payment event (Stripe event id, or a destroy command id) been recorded? */
  hasPaymentEvent(event: string): boolean {
    return this.paymentEvents.has(event)
  }

  /** When the last posted stats summary of this pub ended, if one was posted. */
  lastStatsAt(request: MsgId): number | undefined {
    return this.lastStats.get(request)
  }

  /** Note a stats summary we just published. */
  noteStats(request: MsgId, windowEnd: number): void {
    if ((this.lastStats.get(request) ?? -1) < windowEnd) this.lastStats.set(request, windowEnd)
  }

  latestOwnOffer(): Offer | undefined {
    return this.ownOffer?.content
  }

  /** Unanswered orphan commands (their request is unknown here). */
  unansweredOrphans(): Received<PubCommand>[] {
    return [...this.pendingOrphans.values()].sort(byArrival)
  }

  /** Unanswered messages that failed their schema. */
  unansweredInvalid(): InvalidInbound[] {
    return [...this.invalid.values()]
  }

  get size(): { requests: number; messages: number } {
    return { requests: this.requests.size, messages: this.messages }
  }

  /** One copy of each id string, however many messages repeat it. */
  private intern<T extends string>(id: T): T {
    const known = this.ids.get(id)
    if (known) return known as T
    this.ids.set(id, id)
    return id
  }

  private addressedToUs(msg: Received<ButtcloudContent>): boolean {
    const recps = (msg.content as { recps?: FeedId[] }).recps
    return recps !== undefined && recps.includes(this.ctx.provider)
  }

  private adoptOrphans(request: MsgId): void {
    const orphans = this.orphansByRequest.get(request)
    if (!orphans) return
    this.orphansByRequest.delete(request)
    for (const o of orphans) this.pendingOrphans.delete(o.key)
    this.commandsByRequest.set(request, [...(this.commandsByRequest.get(request) ?? []), ...orphans])
  }

  /** How many of the owner's earlier pubs were live when `req` was posted, and how many were refused. */
  private ownerHistoryBefore(req: Received<PubRequest>): { live: number; refused: number } {
    let live = 0
    let refused = 0
    for (const key of this.requestsByOwner.get(req.author) ?? []) {
      if (key === req.key) continue
      const other = this.requests.get(key)!
      if (other.sequence >= req.sequence) continue
      const record = this.record(key)!
      if (record.rejected) refused++
      else if (wasLiveBefore(record, req.sequence)) live++
    }
    return { live, refused }
  }

  private touch(request: MsgId): void {
    this.cache.delete(request)
  }
}
