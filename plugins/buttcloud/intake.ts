/**
 * Feeds the ledger from ssb-db2: a live query for new messages and a query of the old ones, both parsed by
 * the protocol schemas. The live one starts first so nothing falls between them; the ledger drops duplicates.
 * `onCaughtUp` fires once the old messages are all in: nobody plans from a half-read log.
 */
import { isButtcloudContent, parseMessage, SCHEMAS } from '../../src/protocol/parse.js'
import type { FeedId } from '../../src/protocol/ids.js'
import type { ControlLedger } from '../../src/control/ledger.js'
import { drain, pull, queryTypes, wasPrivate, type Db2, type SsbMsg } from '../../src/ssb/adapter.js'

export interface IntakeEvents {
  onMessage(): void
  onCaughtUp(): void
  onError(err: Error): void
}

export interface IntakeStats {
  accepted: number
  invalidToUs: number
  ignored: number
}

/** Start reading; returns a function that stops both streams. */
export function startIntake(db: Db2, ledger: ControlLedger, events: IntakeEvents): { stop(): void; stats: IntakeStats } {
  const stats: IntakeStats = { accepted: 0, invalidToUs: 0, ignored: 0 }
  const types = Object.keys(SCHEMAS)
  let stopped = false

  const take = (raw: SsbMsg) => {
    if (stopped) return false
    if (ingest(raw, ledger, stats)) events.onMessage()
    return true
  }

  const live = drain(take, (err) => {
    if (err && !stopped) events.onError(new Error('live intake ended', { cause: err }))
  })
  pull(queryTypes(db, types, { live: 'live' }), live)

  const old = drain(
    (raw: SsbMsg) => {
      if (stopped) return false
      ingest(raw, ledger, stats)
      return true
    },
    (err) => {
      if (stopped) return
      if (err) events.onError(new Error('reading the log failed', { cause: err }))
      else events.onCaughtUp()
    },
  )
  pull(queryTypes(db, types, { live: 'old' }), old)

  return {
    stats,
    stop() {
      stopped = true
      live.abort()
      old.abort()
    },
  }
}

/** Parse one message into the ledger; true when it was new and accepted. */
export function ingest(raw: SsbMsg, ledger: ControlLedger, stats: IntakeStats): boolean {
  const parsed = parseMessage(raw, wasPrivate(raw))
  if (parsed.ok) {
    const fresh = ledger.add(parsed.message)
    if (fresh) stats.accepted++
    return fresh
  }
  if (parsed.key && parsed.author && addressedTo(raw.value?.content, ledger.provider)) {
    stats.invalidToUs++
    ledger.addInvalid({ key: parsed.key, author: parsed.author, type: parsed.type ?? 'unknown', reason: parsed.reason })
    return true
  }
  stats.ignored++
  return false
}

/** Was this (unparseable) content meant for us: boxed to us, or a request naming us? */
function addressedTo(content: unknown, provider: FeedId): boolean {
  if (!isButtcloudContent(content)) return false
  const c = content as { recps?: unknown; provider?: unknown; type: string }
  if (Array.isArray(c.recps) && c.recps.includes(provider)) return true
  return c.type === 'buttcloud/request' && c.provider === provider
}
