/**
 * Feeds the ledger from the log through a leveldb index of our own (ssb-db2 custom index): each message is
 * parsed by the protocol schemas once, as it is written (private ones decrypted by ssb-db2 first), and only
 * what concerns this provider is stored. At start-up the stored entries are read back instead of re-reading
 * and re-decrypting the whole log. `caughtUp` resolves when the index has processed the whole log: nobody
 * plans from a half-read log.
 */
import { NAMESPACE } from '../../src/protocol/common.js'
import { Envelope, isButtcloudContent, parseContent, parseMessage, type Received } from '../../src/protocol/parse.js'
import { parseCommandLine, resolvePub, type NamedPub } from '../../src/control/command-line.js'
import type { ErrorCode } from '../../src/protocol/reply.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { MAX_POST_TEXT, PrivatePost, isStatusPost } from '../../src/protocol/post.js'
import type { ControlLedger, InvalidInbound, PostQuery } from '../../src/control/ledger.js'
import type { Db2 } from '../../src/ssb/db2.js'
import { registerIndex } from '../../src/ssb/db2-index.js'
import { wasPrivate, type SsbMsg } from '../../src/ssb/message.js'

/** Bump when StoredEntry changes shape: ssb-db2 then rebuilds the index from the log. */
export const INDEX_VERSION = 4
export const INDEX_NAME = 'buttcloud'

/** What the index stores per message: already parsed, so reading it back needs no schema pass. */
export type StoredEntry =
  | { ok: true; m: Received }
  | { ok: false; i: InvalidInbound }
  /** One of the provider's own notification posts of the old form: counted for the per-pub daily bound, nothing else. */
  | { ok: true; n: { key: MsgId; request: MsgId; at: number } }
  /** A question asked by private post. */
  | { ok: true; q: PostQuery }

/** What reading command posts needs: the plans offered (the first is the default) and the pubs known so far. */
export interface PostReading {
  plans: readonly string[]
  pubs: Map<MsgId, NamedPub>
}

export interface IntakeStats {
  stored: number
  ignored: number
}

/** Register the index; every entry (stored or new) goes to the ledger, and `onNew` hears of new ones. */
export function startIntake(
  db: Db2,
  ledger: ControlLedger,
  onNew: () => void,
  plans: readonly string[],
  /** The server's keys: with them the index opens boxed messages itself when it catches up (src/ssb/db2-index.ts). */
  keys?: unknown,
): { caughtUp: Promise<void>; stats: IntakeStats } {
  const stats: IntakeStats = { stored: 0, ignored: 0 }
  const provider = ledger.provider
  // Names resolve against the requests read so far, in log order as messages are processed (the author's own
  // requests come before their later posts in their feed), and the result is stored: a restart reads it back.
  const reading: PostReading = { plans, pubs: new Map() }
  const { caughtUp } = registerIndex<StoredEntry>(db, {
    name: INDEX_NAME,
    version: INDEX_VERSION,
    // Private posts too (notifications we sent, commands sent to us); public posts are skipped before decoding.
    wantsType: (type, wasPrivate) => type.startsWith(NAMESPACE) || (type === 'post' && wasPrivate()),
    process(raw: SsbMsg) {
      const entry = classify(raw, provider, reading)
      if (entry) learnPub(reading, entry, provider)
      if (!entry) {
        stats.ignored++
        return undefined
      }
      stats.stored++
      return { key: raw.key, entry }
    },
    onEntry(entry) {
      learnPub(reading, entry, provider)
      if (applyEntry(ledger, entry)) onNew()
    },
  }, keys)
  return { caughtUp, stats }
}

/** Hand one entry to the ledger; true when it may be owed an answer (a new message, not a notice of ours). */
export function applyEntry(ledger: ControlLedger, entry: StoredEntry): boolean {
  if ('n' in entry) {
    ledger.noteNotice(entry.n.key, entry.n.request, entry.n.at)
    return false
  }
  if ('q' in entry) return ledger.addQuery(entry.q)
  if (entry.ok) return ledger.add(entry.m)
  ledger.addInvalid(entry.i)
  return true
}

/** Parse a message and decide whether it concerns this provider; undefined when it does not. */
export function classify(raw: SsbMsg, provider: FeedId, reading?: PostReading): StoredEntry | undefined {
  if ((raw.value?.content as { type?: unknown } | undefined)?.type === 'post') return classifyPost(raw, provider, reading)
  const parsed = parseMessage(raw, wasPrivate(raw))
  if (parsed.ok) return concerns(parsed.message, provider) ? { ok: true, m: parsed.message } : undefined
  if (parsed.key && parsed.author && addressedTo(raw.value?.content, provider)) {
    return { ok: false, i: { key: parsed.key, author: parsed.author, type: parsed.type ?? 'unknown', reason: parsed.reason, receivedAt: raw.timestamp } }
  }
  return undefined
}

/** A private post: our own notifications (to count them), and command lines boxed to us; public posts never. */
function classifyPost(raw: SsbMsg, provider: FeedId, reading: PostReading | undefined): StoredEntry | undefined {
  if (!wasPrivate(raw)) return undefined
  const env = Envelope.safeParse(raw)
  if (!env.success) return undefined
  const content = env.data.value.content as { text?: unknown; recps?: unknown; request?: unknown }
  const author = env.data.value.author
  if (author === provider) {
    // A status post of ours: the typed status it carries (which the ledger also counts as a notice).
    if (isStatusPost(content)) {
      const parsed = parseMessage(raw, true)
      return parsed.ok ? { ok: true, m: parsed.message } : undefined
    }
    // The old form: a notice beside a typed status, counted for the daily cap.
    const own = PrivatePost.safeParse(content)
    return own.success && own.data.request ? { ok: true, n: { key: raw.key, request: own.data.request, at: raw.timestamp } } : undefined
  }
  if (!reading || !Array.isArray(content.recps) || !content.recps.includes(provider)) return undefined
  const base = { key: env.data.key, author, receivedAt: env.data.timestamp }
  const refusal = (reason: string, code?: ErrorCode): StoredEntry => ({
    ok: false,
    i: { ...base, type: 'post', reason: reason.slice(0, 300), viaPost: true, ...(code ? { code } : {}) },
  })
  if (typeof content.text !== 'string' || content.text.length > MAX_POST_TEXT) return refusal('a command post carries a short text')
  const line = parseCommandLine(content.text, reading.plans)
  const recps = [author, provider]
  let typed: Record<string, unknown>
  switch (line.kind) {
    case 'invalid':
      return refusal(line.reason)
    case 'help':
    case 'pubs':
      return { ok: true, q: { ...base, ask: { kind: line.kind } } }
    case 'status': {
      const pub = resolvePub(line.pub, author, reading.pubs.values())
      if ('problem' in pub) return refusal(pub.problem, 'unknown-pub')
      return { ok: true, q: { ...base, ask: { kind: 'status', request: pub.request as MsgId } } }
    }
    case 'request':
      typed = { type: 'buttcloud/request', version: 1, provider, plan: line.plan, ...(line.name ? { name: line.name } : {}), recps }
      break
    case 'command': {
      const pub = resolvePub(line.pub, author, reading.pubs.values())
      if ('problem' in pub) return refusal(pub.problem, 'unknown-pub')
      typed = { type: 'buttcloud/command', version: 1, request: pub.request, verb: line.verb, ...(line.args ? { args: line.args } : {}), recps }
      break
    }
  }
  // The same schemas as the typed messages: one path serves both.
  const parsed = parseContent(typed)
  if (!parsed.ok) return refusal(parsed.reason)
  const { sequence, timestamp } = env.data.value
  return { ok: true, m: { ...base, sequence, timestamp, private: true, viaPost: true, content: parsed.content } }
}

/** Remember each request to us, so later command posts can name its pub. */
function learnPub(reading: PostReading, entry: StoredEntry, provider: FeedId): void {
  if (!('m' in entry)) return
  const c = entry.m.content
  if (c.type !== 'buttcloud/request' || c.provider !== provider) return
  reading.pubs.set(entry.m.key, { request: entry.m.key, owner: entry.m.author, ...(c.name ? { name: c.name } : {}) })
}

/** Our own messages, requests naming us, and anything boxed to us. */
function concerns(msg: Received, provider: FeedId): boolean {
  if (msg.author === provider) return true
  const c = msg.content as { provider?: FeedId; recps?: FeedId[] }
  return c.provider === provider || (c.recps?.includes(provider) ?? false)
}

/** Was this (unparseable) content meant for us: boxed to us, or a request naming us? */
function addressedTo(content: unknown, provider: FeedId): boolean {
  if (!isButtcloudContent(content)) return false
  const c = content as { recps?: unknown; provider?: unknown; type: string }
  if (Array.isArray(c.recps) && c.recps.includes(provider)) return true
  return c.type === 'buttcloud/request' && c.provider === provider
}
