/**
 * The pub's blob store: ssb-blobs (serves any blob it holds to any peer: `blobs.get`, `blobs.createWants`), plus
 * what a hosted pub adds to it: it wants the blobs its stored messages name (so a post's pictures are served while
 * the author is offline), and it counts the bytes it holds (`buttcloudBlobs.usage`, for the provider and the
 * disk allowance).
 *
 * The pub relays no one else's wants (`sympathy: 0`): it fetches only blobs that messages in its replication scope
 * name, never whatever a connected peer asks for. Blobs at or over `maxBytes` are neither fetched nor accepted.
 */
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { queryTypes } from '../src/ssb/db2.js'
import type { SsbMsg } from '../src/ssb/message.js'
import { drain, pull, type Source } from '../src/ssb/pull.js'
import type { Sbot, SbotPlugin } from '../src/ssb/server.js'
import { blobLinks } from './blob-links.js'

const require = createRequire(import.meta.url)

// Wants waiting for a peer that holds the blob; past this, messages are skipped (a restart looks at them again).
const MAX_PENDING_WANTS = 2000

/** ssb-blobs 2 (`name: 'blobs'`); it keeps blobs under `<path>/blobs` and its push log under `<path>/blobs_push`. */
export function ssbBlobsPlugin(): SbotPlugin {
  return require('ssb-blobs') as SbotPlugin
}

/** The `blobs` config section: ssb-blobs' options for a hosted pub. */
export function blobsConfig(maxBytes: number): { max: number; sympathy: number; stingy: boolean } {
  return { max: maxBytes, sympathy: 0, stingy: false }
}

/** What the pub's blob store holds. */
export interface BlobUsage {
  count: number
  bytes: number
  /** Blobs wanted (named by a stored message) and not yet held. */
  wanted: number
}

interface BlobsApi {
  want(id: string, cb: (err: Error | null, has?: boolean) => void): void
  size(id: string, cb: (err: Error | null, size?: number | null) => void): void
  changes(): unknown
}

/** Sum the files of ssb-blobs' store (`<dir>/sha256/<2 hex>/<62 hex>`) once, at start. */
export function measureBlobStore(dir: string): { count: number; bytes: number } {
  let count = 0
  let bytes = 0
  const root = join(dir, 'sha256')
  let buckets: string[]
  try {
    buckets = readdirSync(root)
  } catch {
    return { count, bytes }
  }
  for (const bucket of buckets) {
    for (const name of readdirSync(join(root, bucket))) {
      const st = statSync(join(root, bucket, name))
      if (st.isFile()) {
        count++
        bytes += st.size
      }
    }
  }
  return { count, bytes }
}

/** Load after ssb-blobs and ssb-db2. */
export function pubBlobsPlugin(): SbotPlugin {
  return {
    name: 'buttcloudBlobs',
    version: '1.0.0',
    manifest: { usage: 'sync' },
    needs: ['blobs'],
    init(sbot: Sbot & { blobs: BlobsApi }, config: { path: string }) {
      // Synchronous, during start-up: no blob can arrive while it runs, so none is counted twice or missed.
      const held = measureBlobStore(join(config.path, 'blobs'))
      const pending = new Set<string>()
      let closed = false

      const changes = drain<string>(
        (id) => {
          sbot.blobs.size(id, (err, size) => {
            if (err || typeof size !== 'number') return
            held.count++
            held.bytes += size
          })
        },
        () => undefined,
      )
      pull(sbot.blobs.changes() as Source<string>, changes)

      const want = (id: string) => {
        if (pending.has(id) || pending.size >= MAX_PENDING_WANTS) return
        pending.add(id)
        // Calls back at once when the blob is here, else once a peer has sent it (or never: it stays pending).
        sbot.blobs.want(id, () => pending.delete(id))
      }
      // Every stored message that can name a blob, old and new: a restart picks up the wants it had.
      const messages = drain<SsbMsg>(
        (msg) => {
          if (closed) return false
          if (msg.value.author !== sbot.id) for (const id of blobLinks(msg.value.content)) want(id)
          return undefined
        },
        () => undefined,
      )
      pull(queryTypes(sbot.db, ['post', 'about'], { live: 'both' }), messages)

      sbot.close.hook?.(function (this: unknown, fn, args) {
        closed = true
        changes.abort()
        messages.abort()
        return fn.apply(this, args)
      })
      return {
        usage: (): BlobUsage => ({ count: held.count, bytes: held.bytes, wanted: pending.size }),
      }
    },
  }
}
