/**
 * EBT's catch-up reads must not starve while the log keeps growing.
 *
 * ssb-ebt sends a peer that is behind on a feed one old message at a time, each read through ssb-db2's
 * `getAtSequence` / `getAtSequenceNativeMsg` (`compat/ebt`), and asks for the next only when the last one came back.
 * ssb-db2 8.1.0 answers each only after `onDrain('ebt')`: once the ebt index's offset equals the log's `since` at the
 * moment the offset moves. That offset moves only when the index flushes, and its live flush is a debounce
 * (`flushDebounce`, 50 ms here) with no maximum wait: while any message is added more often than that (a replication
 * burst, a busy provider posting statuses), the index never flushes and the read never answers. The peer then gets
 * nothing more of that feed until the log is quiet (a provider posting every 20 ms sent a member behind on its feed
 * none of its messages for minutes: test/ssb/ebt-catch-up.test.ts; docs/ssb-stack.md).
 *
 * This plugin hooks both reads: a message the index's store holds already is answered at once; one it does not waits
 * only until the index covers the log as it was when the read was asked for (ssb-ebt learns of a message only once
 * it is written: src/ssb/durable-announce.ts), and flushes the index itself, every `flushDebounce`, until it does.
 */
import { PATCHED_VERSIONS } from './patches.js'
import { createRequire } from 'node:module'
import type { SbotPlugin } from './server.js'

const require = createRequire(import.meta.url)

type Hookable<F> = F & { hook(wrap: (this: unknown, fn: F, args: unknown[]) => unknown): void }
type AnyFn = (...args: unknown[]) => unknown
type Listener = (value: number) => boolean | undefined

/** The parts of ssb-db2's ebt index the hook uses. */
interface EbtIndex {
  offset: ((listener: Listener) => unknown) & { value: number }
  flush(cb: (err?: unknown) => void): void
  getMessageFromAuthorSequence(key: unknown, cb: AnyFn): void
  getNativeMsgFromAuthorSequence(key: unknown, feedFormat: unknown, cb: AnyFn): void
}

interface Deps {
  db: { getIndex(name: 'ebt'): EbtIndex; getLog(): { since: { value: number }; onDrain(cb: () => void): void } }
  getAtSequence: Hookable<AnyFn>
  getAtSequenceNativeMsg: Hookable<AnyFn>
}

/** Call `done` once `index` covers the log up to `target`, flushing it every `everyMs` until then. */
export function whenIndexed(index: EbtIndex, target: number, everyMs: number, done: () => void): void {
  if (index.offset.value >= target) return done()
  let finished = false
  const kick = setInterval(() => index.flush(() => undefined), everyMs)
  kick.unref()
  index.offset((offset) => {
    if (finished) return false
    if (offset < target) return undefined
    finished = true
    clearInterval(kick)
    done()
    return false
  })
  if (!finished) index.flush(() => undefined)
}

/** The plugin; load it after ssb-db2's `compat/ebt`. */
export function ebtCatchUpPlugin(): SbotPlugin {
  return {
    name: 'ebtCatchUp',
    version: '1.0.0',
    init(sbot: Deps, config: { db2?: { flushDebounce?: number } }) {
      const installed = (require('ssb-db2/package.json') as { version: string }).version
      if (installed !== PATCHED_VERSIONS['ssb-db2']) {
        throw new Error(`ebtCatchUp was written for ssb-db2 ${PATCHED_VERSIONS['ssb-db2']}, but ${installed} is installed: check compat/ebt's onDrain('ebt') against it`)
      }
      const everyMs = config.db2?.flushDebounce ?? 250
      const log = sbot.db.getLog()
      // A message already in the index's store (all but the newest) is answered at once: a peer far behind catches up
      // at the store's speed. Only one not found yet waits for the index to cover the log.
      const read = (attempt: (cb: AnyFn) => void, cb: AnyFn) =>
        attempt((err: unknown, msg: unknown) => {
          if (!err && msg) cb(null, msg)
          else log.onDrain(() => whenIndexed(sbot.db.getIndex('ebt'), log.since.value, everyMs, () => attempt(cb)))
        })
      sbot.getAtSequence.hook((_fn, args) => {
        const [key, cb] = args as [unknown, AnyFn]
        read((done) => sbot.db.getIndex('ebt').getMessageFromAuthorSequence(key, done), cb)
      })
      sbot.getAtSequenceNativeMsg.hook((_fn, args) => {
        const [key, feedFormat, cb] = args as [unknown, unknown, AnyFn]
        read((done) => sbot.db.getIndex('ebt').getNativeMsgFromAuthorSequence(key, feedFormat, done), cb)
      })
      return {}
    },
  }
}
