/**
 * The backup shelf: pubs' archives on a folder of their own (not the provider's data folder), within a size limit per
 * pub and overall, never written into the last free space of their disk, and gone when they expire or their pub is
 * destroyed.
 *
 * On disk, per backup: `<token>.tar.gz` (the archive; the token is 128 random bits and the only key to it) and
 * `<token>.json` ({request, expires, bytes}: whose it is and until when). An archive is written as `<token>.part` and
 * renamed, and its record is written last, so only finished archives with a record are ever served; anything else
 * found at start is the remains of a crash and is deleted. Once expired, the archive is deleted by a sweep on a
 * timer; its record stays one more time-to-live, so a late download is told "expired" rather than "unknown".
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream, type WriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { RuntimeRefusal } from '../control/runtime.js'
import { makePrivateTree } from '../files/private.js'
import type { MsgId } from '../protocol/ids.js'
import type { ReplyResult } from '../protocol/reply.js'

const MiB = 1024 * 1024
const TOKEN_RE = /^[0-9a-f]{32}$/
/** The archive file name in backup links. */
export const ARCHIVE_NAME_RE = /^[0-9a-f]{32}\.tar\.gz$/

export interface BackupSettings {
  /** The shelf's own folder. */
  dir: string
  /** Owners get `${baseUrl}/<token>.tar.gz`. */
  baseUrl: string
  ttlMs: number
  /** The largest archive of one pub; a pub keeps only its newest archive. */
  maxPubBytes: number
  /** All archives together. */
  maxTotalBytes: number
  /** Left free on the shelf's filesystem after any backup. */
  minFreeBytes: number
}

/** What a backup's record says. */
interface Entry {
  request: MsgId
  expires: number
  bytes: number
}

/** A record on the shelf, and whether its archive is still there (swept ones count for nothing). */
interface Shelved extends Entry {
  present: boolean
}

/** The answer for one download: the archive, or why there is none. */
export type BackupLookup = { state: 'ready'; file: string; bytes: number } | { state: 'expired'; expired: number } | { state: 'missing' }

/** Look a backup up by its archive name (`<token>.tar.gz`), as the site serving the shelf does. */
export function findBackup(dir: string, name: string, now: number): BackupLookup {
  if (!ARCHIVE_NAME_RE.test(name)) return { state: 'missing' }
  const token = name.slice(0, 32)
  const entry = readEntry(join(dir, `${token}.json`))
  if (!entry) return { state: 'missing' }
  if (now >= entry.expires) return { state: 'expired', expired: entry.expires }
  const file = join(dir, name)
  try {
    return { state: 'ready', file, bytes: statSync(file).size }
  } catch {
    return { state: 'missing' }
  }
}

function readEntry(path: string): Entry | undefined {
  try {
    const e = JSON.parse(readFileSync(path, 'utf8')) as Partial<Entry>
    if (typeof e.request !== 'string' || typeof e.expires !== 'number' || typeof e.bytes !== 'number') return undefined
    return { request: e.request as MsgId, expires: e.expires, bytes: e.bytes }
  } catch {
    return undefined
  }
}

/** The shelf of one provider. */
export class BackupShelf {
  private readonly entries = new Map<string, Shelved>()
  /** Bytes promised to backups being written now, so two at once cannot both take the last room. */
  private readonly reserved = new Map<symbol, number>()
  private readonly timer: NodeJS.Timeout

  constructor(private readonly opts: BackupSettings) {
    // Made on the first backup; one made before is looked over (and made private) now.
    if (existsSync(opts.dir)) makePrivateTree(opts.dir)
    const names = existsSync(opts.dir) ? readdirSync(opts.dir) : []
    for (const name of names) {
      const token = name.slice(0, 32)
      if (!TOKEN_RE.test(token) || name.length === 32) continue
      if (name.endsWith('.json')) {
        const entry = readEntry(join(opts.dir, name))
        if (entry) this.entries.set(token, { ...entry, present: names.includes(`${token}.tar.gz`) })
        else rmSync(join(opts.dir, name), { force: true })
      }
    }
    // A half-written archive, or a finished one whose record was never written: nobody was given its link.
    for (const name of names) {
      const token = name.slice(0, 32)
      if (name.endsWith('.part') || (name.endsWith('.tar.gz') && !this.entries.has(token))) rmSync(join(opts.dir, name), { force: true })
    }
    this.sweep(Date.now())
    // Often enough that an archive outlives its expiry by at most a quarter of its time to live (10 minutes at most).
    this.timer = setInterval(() => this.sweep(Date.now()), Math.min(10 * 60_000, Math.max(1000, opts.ttlMs / 4)))
    this.timer.unref()
  }

  /**
   * Write one backup of `request`: `produce` is handed a sink for the gzipped tar and resolves once it has fed it.
   * Refuses (RuntimeRefusal) when there is no room: over the overall limit, too little free disk, or an archive
   * larger than the room it may take. The pub's older archives go once the new one is on the shelf.
   */
  async write(request: MsgId, produce: (sink: (archive: Readable) => Promise<void>) => Promise<void>): Promise<NonNullable<ReplyResult['backup']>> {
    mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 })
    const cap = this.room()
    const claim = Symbol(request)
    this.reserved.set(claim, cap.bytes)
    const token = randomBytes(16).toString('hex')
    const part = join(this.opts.dir, `${token}.part`)
    let out: WriteStream | undefined
    try {
      let written = 0
      const limit = new Transform({
        transform(chunk: Buffer, _enc, done) {
          written += chunk.length
          done(written > cap.bytes ? new RuntimeRefusal(cap.why) : null, chunk)
        },
      })
      await produce((archive) => pipeline(archive, limit, (out = createWriteStream(part, { mode: 0o600 }))))
      const bytes = statSync(part).size
      renameSync(part, join(this.opts.dir, `${token}.tar.gz`))
      const entry: Entry = { request, expires: Date.now() + this.opts.ttlMs, bytes }
      writeFileSync(join(this.opts.dir, `${token}.json`), JSON.stringify(entry), { mode: 0o600 })
      this.removeFor(request, token)
      this.entries.set(token, { ...entry, present: true })
      return { url: `${this.opts.baseUrl.replace(/\/+$/, '')}/${token}.tar.gz`, expires: entry.expires, bytes }
    } catch (err) {
      // A refusal can come before the file is even open: wait until it is closed, or it appears after the rm.
      const stream = out
      if (stream && !stream.closed) await new Promise<void>((resolve) => stream.once('close', () => resolve()).destroy())
      rmSync(part, { force: true })
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new RuntimeRefusal('the backup disk is full; please try again later')
      throw err
    } finally {
      this.reserved.delete(claim)
    }
  }

  /** How many bytes a new archive may take now, and what to say when it takes more; refuses when that is none. */
  private room(): { bytes: number; why: string } {
    const { maxPubBytes, maxTotalBytes, minFreeBytes } = this.opts
    let used = 0
    for (const e of this.entries.values()) if (e.present) used += e.bytes
    for (const r of this.reserved.values()) used += r
    const fs = statfsSync(this.opts.dir)
    const free = fs.bavail * fs.bsize - minFreeBytes
    if (maxTotalBytes - used <= 0) throw new RuntimeRefusal('the provider has no room for more backups now; please try again once older ones have expired')
    if (free <= 0) throw new RuntimeRefusal('the provider is short of disk space for backups now; please try again later')
    const bytes = Math.min(maxPubBytes, maxTotalBytes - used, free)
    const why =
      bytes === maxPubBytes
        ? `this pub's backup is larger than the ${fmtMiB(maxPubBytes)} a backup may be`
        : `there is room for only ${fmtMiB(bytes)} of backups now, less than this pub's backup; please try again later`
    return { bytes, why }
  }

  /** Delete archives past their expiry (their records a time to live later). */
  sweep(now: number): void {
    for (const [token, entry] of this.entries) {
      if (now < entry.expires) continue
      if (entry.present) rmSync(join(this.opts.dir, `${token}.tar.gz`), { force: true })
      entry.present = false
      if (now >= entry.expires + this.opts.ttlMs) {
        rmSync(join(this.opts.dir, `${token}.json`), { force: true })
        this.entries.delete(token)
      }
    }
  }

  /** Delete every archive of `request` (but `keep`): its pub was destroyed, or has a newer backup. Returns how many. */
  removeFor(request: MsgId, keep?: string): number {
    let removed = 0
    for (const [token, entry] of this.entries) {
      if (entry.request !== request || token === keep) continue
      rmSync(join(this.opts.dir, `${token}.tar.gz`), { force: true })
      rmSync(join(this.opts.dir, `${token}.json`), { force: true })
      this.entries.delete(token)
      removed++
    }
    return removed
  }

  close(): void {
    clearInterval(this.timer)
  }
}

function fmtMiB(bytes: number): string {
  if (bytes < MiB) return `${Math.max(0, Math.floor(bytes / 1024))} KiB`
  return `${Math.floor((bytes / MiB) * 10) / 10} MiB`
}
