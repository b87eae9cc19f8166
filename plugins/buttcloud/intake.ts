/**
 * Feeds the ledger from the log through a leveldb index of our own (ssb-db2 custom index): each message is
 * parsed by the protocol schemas once, as it is written (private ones decrypted by ssb-db2 first), and only
 * what concerns this provider is stored. At start-up the stored entries are read back instead of re-reading
 * and re-decrypting the whole log. `caughtUp` resolves when the index has processed the whole log: nobody
 * plans from a half-read log.
 */
import { NAMESPACE } from '../../src/protocol/common.js'
import { isButtcloudContent, parseMessage, type Received } from '../../src/protocol/parse.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { PrivatePost } from '../../src/protocol/post.js'
import type { ControlLedger, InvalidInbound } from '../../src/control/ledger.js'
import type { Db2 } from '../../src/ssb/db2.js'
import { registerIndex } from '../../src/ssb/db2-index.js'
import { wasPrivate, type SsbMsg } from '../../src/ssb/message.js'

/** Bump when StoredEntry changes shape: ssb-db2 then rebuilds the index from the log. */
export const INDEX_VERSION = 3
export const INDEX_NAME = 'buttcloud'

/** What the index stores per message: already parsed, so reading it back needs no schema pass. */
export type StoredEntry =
  | { ok: true; m: Received }
  | { ok: false; i: InvalidInbound }
  /** One of the provider's own notification posts: counted for the per-pub daily bound, nothing else. */
  | { ok: true; n: { key: MsgId; request: MsgId; at: number } }

export interface IntakeStats {
  stored: number
  ignored: number
}

/** Register the index; every entry (stored or new) goes to the ledger, and `onNew` hears of new ones. */
export function startIntake(
  db: Db2,
  ledger: ControlLedger,
  onNew: () => void,
): { caughtUp: Promise<void>; stats: IntakeStats } {
  const stats: IntakeStats = { stored: 0, ignored: 0 }
  const provider = ledger.provider
  const { caughtUp } = registerIndex<StoredEntry>(db, {
    name: INDEX_NAME,
    version: INDEX_VERSION,
    // Private posts too (notifications we sent, commands sent to us); public posts are skipped before decoding.
    wantsType: (type, wasPrivate) => type.startsWith(NAMESPACE) || (type === 'post' && wasPrivate()),
    process(raw: SsbMsg) {
      const entry = classify(raw, provider)
      if (!entry) {
        stats.ignored++
        return undefined
      }
      stats.stored++
      return { key: raw.key, entry }
    },
    onEntry(entry) {
      if (applyEntry(ledger, entry)) onNew()
    },
  })
  return { caughtUp, stats }
}

/** Hand one entry to the ledger; true when it may be owed an answer (a new message, not a notice of ours). */
export function applyEntry(ledger: ControlLedger, entry: StoredEntry): boolean {
  if ('n' in entry) {
    ledger.noteNotice(entry.n.key, entry.n.request, entry.n.at)
    return false
  }
  if (entry.ok) return ledger.add(entry.m)
  ledger.addInvalid(entry.i)
  return true
}

/** Parse a message and decide whether it concerns this provider; undefined when it does not. */
export function classify(raw: SsbMsg, provider: FeedId): StoredEntry | undefined {
  if ((raw.value?.content as { type?: unknown } | undefined)?.type === 'post') return classifyPost(raw, provider)
  const parsed = parseMessage(raw, wasPrivate(raw))
  if (parsed.ok) return concerns(parsed.message, provider) ? { ok: true, m: parsed.message } : undefined
  if (parsed.key && parsed.author && addressedTo(raw.value?.content, provider)) {
    return { ok: false, i: { key: parsed.key, author: parsed.author, type: parsed.type ?? 'unknown', reason: parsed.reason, receivedAt: raw.timestamp } }
  }
  return undefined
}

/** A private post: our own notifications (to count them); everything else is not ours to read. */
function classifyPost(raw: SsbMsg, provider: FeedId): StoredEntry | undefined {
  if (!wasPrivate(raw)) return undefined
  const post = PrivatePost.safeParse(raw.value.content)
  if (!post.success) return undefined
  if (raw.value.author === provider) {
    return post.data.request ? { ok: true, n: { key: raw.key, request: post.data.request, at: raw.timestamp } } : undefined
  }
  return undefined
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
