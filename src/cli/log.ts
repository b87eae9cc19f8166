/**
 * Reading ButtCloud messages from the user's sbot, parsed by the protocol schemas; what does not parse is dropped.
 *
 * Which method: a classic ssb-server (Patchwork's) has ssb-query, whose `typ` index answers a `buttcloud/` type
 * prefix by reading only our messages, private ones already decrypted (its views see unboxed messages). A Patchwork
 * log often holds hundreds of thousands of messages, so a full scan per CLI call would be slow. Our db2 stack has no
 * ssb-query; there `createLogStream` (db2 returns private messages decrypted) is the only log-wide read, and db2
 * scans fast. `private: true` is passed to both: the classic createLogStream would return ciphertext without it.
 */
import type { Sink } from 'pull-stream'
import { clientHas, clientSource, type SbotClient } from '../ssb/client.js'
import { pull, type Source } from '../ssb/pull.js'
import { NAMESPACE } from '../protocol/common.js'
import { parseMessage, type Received } from '../protocol/parse.js'
import type { FeedId } from '../protocol/ids.js'
import { foldView, type UserView } from './view.js'

/** One item of a live read: a parsed message, or the marker that all old messages have been delivered. */
export type LogItem = { kind: 'message'; message: Received } | { kind: 'sync' }

/**
 * The raw sources of ButtCloud messages (each, when live, with a `{ sync: true }` marker after its old ones). With
 * ssb-query, two: our namespace, and the providers' status posts (private `post`s carrying a typed status, see
 * docs/PROTOCOL.md), which the `typ` index finds among posts alone. Without it, the one log stream holds both.
 */
function namespaceSources(client: SbotClient, live: boolean): Source<unknown>[] {
  const liveOpts = live ? { live: true, old: true, sync: true } : {}
  if (clientHas(client, 'query.read')) {
    const ours = [{ $filter: { value: { content: { type: { $prefix: NAMESPACE } } } } }]
    const statusPosts = [{ $filter: { value: { content: { type: 'post', buttcloud: { type: 'buttcloud/status' } } } } }]
    return [ours, statusPosts].map((query) => clientSource(client, 'query.read', { query, private: true, ...liveOpts }))
  }
  return [clientSource(client, 'createLogStream', { private: true, ...liveOpts })]
}

/** Turn one raw stream item into a log item; undefined for anything that is not a valid ButtCloud message. */
export function toLogItem(raw: unknown): LogItem | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined
  if ((raw as { sync?: unknown }).sync === true) return { kind: 'sync' }
  const parsed = parseMessage(raw, isDecrypted(raw))
  return parsed.ok ? { kind: 'message', message: parsed.message } : undefined
}

/** db2 marks decrypted messages in `meta`; ssb-db keeps the ciphertext in `value.meta.original`. */
function isDecrypted(raw: object): boolean {
  const r = raw as { meta?: { private?: unknown }; value?: { meta?: { private?: unknown; original?: unknown } } }
  return Boolean(r.meta?.private || r.value?.meta?.private || r.value?.meta?.original)
}

/** Read every ButtCloud message the sbot has now. */
export async function readMessages(client: SbotClient): Promise<Received[]> {
  const messages: Received[] = []
  for (const source of namespaceSources(client, false)) {
    await new Promise<void>((resolve, reject) =>
      pull(
        source,
        pull.drain(
          (raw: unknown) => {
            const item = toLogItem(raw)
            if (item?.kind === 'message') messages.push(item.message)
          },
          (err: unknown) => (err && err !== true ? reject(asError(err)) : resolve()),
        ),
      ),
    )
  }
  return messages
}

/** Read the log once and fold it. */
export async function readView(client: SbotClient, me: FeedId): Promise<UserView> {
  return foldView(me, await readMessages(client))
}

/** A live read: `onItem` sees every message and the sync marker; `stop` ends it; `ended` settles when it ends. */
export interface LiveRead {
  stop(): void
  ended: Promise<void>
}

/** Follow the log live, old messages first: one sync marker once every source has delivered its old messages. */
export function followLog(client: SbotClient, onItem: (item: LogItem) => void): LiveRead {
  const sources = namespaceSources(client, true)
  let unsynced = sources.length
  const reads = sources.map((source) =>
    followSource(source, (item) => {
      if (item.kind !== 'sync') return onItem(item)
      if (--unsynced === 0) onItem(item)
    }),
  )
  return {
    stop: () => reads.forEach((r) => r.stop()),
    ended: Promise.all(reads.map((r) => r.ended)).then(() => undefined),
  }
}

/** Follow one raw source live. */
function followSource(source: Source<unknown>, onItem: (item: LogItem) => void): LiveRead {
  let abort: (() => void) | undefined
  let stopped = false
  const ended = new Promise<void>((resolve, reject) => {
    // pull-stream's drain has an `abort` its typings leave out: it ends a live read that has nothing new to deliver.
    const drain = pull.drain(
      (raw: unknown) => {
        if (stopped) return false
        const item = toLogItem(raw)
        if (item) onItem(item)
        return undefined
      },
      (err: unknown) => (err && err !== true && !stopped ? reject(asError(err)) : resolve()),
    ) as Sink<unknown> & { abort(): void }
    abort = () => drain.abort()
    pull(source, drain)
  })
  return {
    stop() {
      if (stopped) return
      stopped = true
      abort?.()
    },
    ended,
  }
}

function asError(err: unknown): Error {
  if (err instanceof Error) return err
  const message = typeof err === 'object' && err !== null && 'message' in err ? String((err as { message: unknown }).message) : String(err)
  return new Error(message)
}
