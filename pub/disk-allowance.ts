/**
 * The pub's disk allowance: its plan's room for the log and blobs. The pub measures itself (every `checkMs`, a stat
 * of the log and a walk of the blobs folder: never per message), so the allowance holds the same under every
 * runtime. Past 90% it reports `warn` (the provider reads `pubDisk.usage` and tells the owner); at 100% it stops
 * taking other feeds' messages and new blobs, and keeps taking its owner's feed (and publishing its own). Nothing
 * stored is removed and the pub keeps serving everything it holds. Under the allowance again (a bigger plan), it
 * takes them again.
 *
 * How other feeds are stopped (docs/ssb-stack.md): ssb-replication-scheduler asks ssb-ebt to replicate feeds with
 * `ebt.request(feed, true)`; while full, a hook turns that into `request(feed, false)` for every feed but the
 * owner's (peers then stop sending them), and the feeds already requested are unrequested at the crossing. As the
 * one hard stop, a hook on `db.add` (where EBT's and every other replicated message lands) refuses other authors'
 * messages while full, so messages already in flight are not stored either.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { DiskLevel, DiskUsage } from '../src/protocol/disk.js'
import { diskLevel } from '../src/protocol/text-checks.js'
import type { FeedId } from '../src/protocol/ids.js'
import type { Sbot, SbotPlugin } from '../src/ssb/server.js'

export interface DiskAllowanceOptions {
  dataDir: string
  allowedBytes: number
  /** How often to measure (ms). */
  checkMs: number
  /** Always taken, full or not. */
  owner: FeedId
}

/** The error a refused message or blob gets while the pub is full. */
export const DISK_FULL_REASON = 'this pub has used its disk allowance: it takes only its owner\'s feed'

/** Bytes of the pub's log (the files of ssb-db2's folder itself, not its rebuildable indexes) and its blob store. */
export function measureDisk(dataDir: string): number {
  return filesIn(join(dataDir, 'db2'), false) + filesIn(join(dataDir, 'blobs'), true)
}

function filesIn(dir: string, deep: boolean): number {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  let total = 0
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isFile()) {
      try {
        total += statSync(path).size
      } catch {
        // Removed between listing and stat.
      }
    } else if (deep && entry.isDirectory()) total += filesIn(path, true)
  }
  return total
}

/** The measured state, and who may still write. */
export class DiskAllowance {
  private used = 0
  private current: DiskLevel = 'ok'
  private readonly listeners: Array<(level: DiskLevel) => void> = []

  constructor(readonly opts: DiskAllowanceOptions) {
    this.measure()
  }

  get level(): DiskLevel {
    return this.current
  }

  /** The last measurement, as `pubDisk.usage` answers it. */
  usage(): DiskUsage {
    return { usedBytes: this.used, allowedBytes: this.opts.allowedBytes, level: this.current }
  }

  /** Measure now; tells the listeners when the level changed. */
  measure(): DiskUsage {
    this.used = measureDisk(this.opts.dataDir)
    const level = diskLevel(this.used, this.opts.allowedBytes)
    if (level !== this.current) {
      this.current = level
      for (const listener of this.listeners) listener(level)
    }
    return this.usage()
  }

  /** Call `listener` at each change of level. */
  onChange(listener: (level: DiskLevel) => void): void {
    this.listeners.push(listener)
  }

  /** May a message by `author` be stored? Always for the owner and the pub itself; others only while not full. */
  takes(author: unknown, self: FeedId): boolean {
    return this.current !== 'full' || author === this.opts.owner || author === self
  }

  /** May the pub take a new blob (want it, accept one added)? The hook ssb-blobs' wrapper calls. */
  takesBlobs(): boolean {
    return this.current !== 'full'
  }
}

type Hookable<F> = F & { hook(wrapper: (this: unknown, original: F, args: unknown[]) => unknown): void }
type AnyFn = (...args: unknown[]) => unknown

interface EbtApi {
  ebt: { request: AnyFn }
}

/**
 * The secret-stack plugin: measures every `checkMs`, answers `pubDisk.usage` (masters only: no anonymous
 * permission), and holds replication of other feeds while full.
 */
export function diskAllowancePlugin(allowance: DiskAllowance): SbotPlugin {
  return {
    name: 'pubDisk',
    version: '1.0.0',
    manifest: { usage: 'async' },
    init(sbot: Sbot & EbtApi) {
      const self = sbot.id as FeedId
      const isOther = (feed: unknown) => feed !== allowance.opts.owner && feed !== self

      // The hard stop: nothing by another author is stored while full.
      ;(sbot.db.add as Hookable<AnyFn>).hook(function (this: unknown, original, args) {
        const author = (args[0] as { author?: unknown } | undefined)?.author
        const cb = args.find((a) => typeof a === 'function') as ((err: Error) => void) | undefined
        if (cb && !allowance.takes(author, self)) return cb(new Error(DISK_FULL_REASON))
        return original.apply(this, args)
      })

      // What the scheduler wants replicated, so it can be asked for again once there is room.
      const wanted = new Map<string, unknown[]>()
      const request = sbot.ebt.request as Hookable<AnyFn>
      request.hook(function (this: unknown, original, args) {
        const [feed, on, ...rest] = args
        if (typeof feed !== 'string') return original.apply(this, args)
        if (on) wanted.set(feed, rest)
        else wanted.delete(feed)
        const hold = on && allowance.level === 'full' && isOther(feed)
        return original.apply(this, hold ? [feed, false, ...rest] : args)
      })
      allowance.onChange(() => {
        // Entering or leaving "full": ask again for every wanted feed, and the hook above decides for each.
        for (const [feed, rest] of wanted) if (isOther(feed)) sbot.ebt.request(feed, true, ...rest)
      })

      const timer = setInterval(() => allowance.measure(), allowance.opts.checkMs)
      timer.unref()
      ;(sbot.close as unknown as Hookable<AnyFn>).hook(function (this: unknown, original, args) {
        clearInterval(timer)
        return original.apply(this, args)
      })

      return {
        usage(cb: (err: null, usage: DiskUsage) => void) {
          cb(null, allowance.usage())
        },
      }
    },
  }
}

interface BlobsApi {
  blobs?: { want: AnyFn; add: AnyFn }
}

/**
 * Refuse new blobs while full: `blobs.want` answers an error (so the pub asks no peer for one) and `blobs.add`
 * takes nothing. For ssb-blobs (its `want` is async with a callback, its `add` a pull-stream sink); call it once
 * every plugin is loaded. Returns false when the sbot has no blob store.
 */
export function guardBlobs(sbot: BlobsApi, allowance: DiskAllowance): boolean {
  const blobs = sbot.blobs
  if (!blobs) return false
  ;(blobs.want as Hookable<AnyFn>).hook(function (this: unknown, original, args) {
    const cb = args.find((a) => typeof a === 'function') as ((err: Error) => void) | undefined
    if (cb && !allowance.takesBlobs()) return cb(new Error(DISK_FULL_REASON))
    return original.apply(this, args)
  })
  ;(blobs.add as Hookable<AnyFn>).hook(function (this: unknown, original, args) {
    if (allowance.takesBlobs()) return original.apply(this, args)
    const cb = args.find((a) => typeof a === 'function') as ((err: Error) => void) | undefined
    const err = new Error(DISK_FULL_REASON)
    // A sink that ends its source at once: nothing is read, nothing written.
    return (read: (abort: Error, cb: () => void) => void) => read(err, () => cb?.(err))
  })
  return true
}
