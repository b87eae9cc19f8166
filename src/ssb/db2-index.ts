/**
 * Custom ssb-db2 indexes kept in one append-only file each (src/ssb/index-file.ts), not in leveldb. ssb-db2 calls
 * `processRecord` inside its log scan, so the index only stores and queues there: entries are handed over once the scan
 * has yielded (a microtask later), never from inside it, and `reset()` (ssb-db2 rebuilding the index) drops what was
 * queued but not yet handed over. At start-up the file's entries are handed over, and the log is read only from the
 * offset the file covers.
 */
import { createRequire } from 'node:module'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Db2 } from './db2.js'
import type { SsbMsg } from './message.js'
import { ChunkLines, readIndexFile, resetIndexFile } from './index-file.js'
import { readLogRecords } from './log-reader.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
const require = createRequire(import.meta.url)
const bipf: {
  decode(buf: Buffer, start: number): any
  seekKey2(buf: Buffer, start: number, key: Buffer, keyStart: number): number
  allocAndEncode(value: unknown): Buffer
  getEncodedType(buf: Buffer, start: number): number
  types: { string: number; object: number }
} = require('bipf')
const Obv: () => Obz<number> = require('obz')
const { indexesPath }: { indexesPath(dir: string): string } = require('ssb-db2/defaults')

/** obz, as ssb-db2 reads an index's offset. */
interface Obz<T> {
  (listener: (value: T) => void): () => void
  set(value: T): void
  once(listener: (value: T) => void, immediately?: boolean): () => void
  value: T
}

/** As ssb-db2's leveldb indexes: a chunk is written once it holds this many entries, or when the scan ends. */
const CHUNK = 2048

const B_KEY = bipf.allocAndEncode('key')
const B_VALUE = bipf.allocAndEncode('value')
const B_TIMESTAMP = bipf.allocAndEncode('timestamp')
const B_AUTHOR = bipf.allocAndEncode('author')
const B_PREVIOUS = bipf.allocAndEncode('previous')
const B_SEQUENCE = bipf.allocAndEncode('sequence')
const B_CONTENT = bipf.allocAndEncode('content')
const B_TYPE = bipf.allocAndEncode('type')
const B_META = bipf.allocAndEncode('meta')
const B_PRIVATE = bipf.allocAndEncode('private')

/**
 * How a custom index sees the log: every message once (decrypted where we can read it), on first sync and live; its
 * stored entries are read back at start-up instead of re-reading (and re-decrypting) the log.
 */
export interface IndexHandlers<E> {
  name: string
  /** Bump when the stored entry shape changes: the index then rebuilds from the log. */
  version: number
  /** Cheap pre-check on the content's type string (and, lazily, whether it was boxed) before the message is decoded. */
  wantsType(type: string, wasPrivate: () => boolean): boolean
  /** Turn one decoded message into an entry to store (and hand over), or undefined to skip it. */
  process(msg: SsbMsg): { key: string; entry: E } | undefined
  /** Called with every entry: stored ones at start-up (in log order), new ones shortly after they are processed. */
  onEntry(entry: E): void
  /** Told when part of the file could not be used (it is then read again from the log). */
  onDropped?(reason: string): void
}

/** The log as ssb-db2 hands it to an index: `since` is the offset of its last record; `stream` as ssb-db2 patches it. */
interface Log {
  since: Obz<number>
  stream(opts: { gt: number; decrypt: false }): {
    pipe(sink: { paused: boolean; write(record: { offset: number; value?: Buffer }): void; end(): void }): void
  }
  /** async-append-only-log's file, block size and compaction state: the catch-up reads the file itself (src/ssb/log-reader.ts). */
  filename?: string
  blockSize?: number
  compactionProgress?: { value?: { done?: boolean } }
}

/**
 * How the index opens a boxed message itself while it catches up (below): ssb-db2's own lookups and the server's
 * keys, so it opens exactly what ssb-db2's private index opens (src/ssb/db2-index.ts catchUp).
 */
export interface Opener {
  findEncryptionFormatFor(ciphertext: string): { decrypt(ciphertext: Buffer, opts: object): Buffer | null | undefined } | null | undefined
  findFeedFormatForAuthor(author: string): unknown
  keys: unknown
}

/** An ssb-db2 index (the shape ssb-db2's core drives) storing one JSON entry per wanted message in a file. */
export abstract class QueuedIndex<E> {
  readonly name: string
  /** The log offset persisted in the file: ssb-db2 reads the log from here, and waits on it in onDrain. */
  readonly offset = Obv()
  private readonly file: string
  private readonly loaded: Promise<void>
  private queued: E[] = []
  private handing = false
  private readonly pending = new ChunkLines()
  private processedOffset = -1
  private liveTimer: NodeJS.Timeout | undefined
  private readonly liveFlushMs: number
  private scratch = Buffer.alloc(0)

  constructor(
    private readonly log: Log,
    dir: string,
    configDb2: { flushDebounce?: number } | undefined,
    private readonly handlers: IndexHandlers<E>,
    private readonly opener?: Opener,
  ) {
    this.name = handlers.name
    this.liveFlushMs = configDb2?.flushDebounce ?? 250
    const folder = indexesPath(dir)
    this.file = join(folder, `${handlers.name}.entries`)
    // What an earlier release kept in leveldb under the index's name: superseded by the file, so its space goes.
    const oldLevel = join(folder, handlers.name)
    if (existsSync(oldLevel)) rmSync(oldLevel, { recursive: true, force: true })
    this.loaded = new Promise((resolve) => setImmediate(() => resolve(this.load())))
  }

  /** ssb-db2: resolves once the stored entries are handed over and the offset is set. */
  get stateLoaded(): Promise<void> {
    return this.loaded
  }

  private async load(): Promise<void> {
    // The file's chunks past the log's end (a log restored from an older backup) cover messages that are not there.
    const logEnd = await new Promise<number>((resolve) => this.log.since.once(resolve, true))
    const read = readIndexFile<E>(this.file, this.handlers.version, logEnd, (entries) => {
      for (const entry of entries) this.handlers.onEntry(entry)
    })
    if (read.dropped) this.handlers.onDropped?.(read.dropped)
    this.processedOffset = read.offset
    if (this.opener && read.offset < logEnd) await this.catchUp(read.offset, logEnd, this.opener)
    this.offset.set(this.processedOffset)
  }

  /**
   * Read the log past `from` before ssb-db2 does, opening boxed messages here. ssb-db2 hands an index each private
   * message after decrypting it into a JS object and encoding that back to BIPF (its private index), which the index
   * then decodes again: at 100,000 boxed messages those two steps were ~3 s of a ~10 s first start (bench/coldstart).
   * Here a boxed message is opened with the same format lookups, keys and decrypt call ssb-db2 uses, and its content
   * is parsed as ssb-classic parses it, so the entries are the ones ssb-db2's path gives (test/provider/index-restart).
   * Records up to `until` (the log's end when the index loaded) come from the log file itself (src/ssb/log-reader.ts).
   * Once the file covers the log, ssb-db2 reads on from there.
   */
  private catchUp(from: number, until: number, opener: Opener): Promise<void> {
    const write = (record: { offset: number; value?: Buffer }) => {
      const buf = record.value
      const pValue = buf ? bipf.seekKey2(buf, 0, B_VALUE, 0) : -1
      if (buf && pValue >= 0) {
        const pContent = bipf.seekKey2(buf, pValue, B_CONTENT, 0)
        if (pContent >= 0 && bipf.getEncodedType(buf, pContent) === bipf.types.string) this.processBoxed(buf, pValue, pContent, opener)
        else this.processRecord({ value: buf }, 0, pValue)
      }
      this.processedOffset = record.offset
      if (this.pending.count >= CHUNK) this.flush(() => undefined)
    }
    return new Promise((resolve) => {
      const { filename, blockSize, compactionProgress } = this.log
      // The file read directly, up to what the log had written when we started (ssb-db2 reads on from where this
      // stops); not while a compaction is rewriting it.
      if (filename && blockSize && compactionProgress?.value?.done === true) {
        readLogRecords(filename, blockSize, from, until, write, () => this.flush(() => resolve()))
        return
      }
      this.log.stream({ gt: from, decrypt: false }).pipe({ paused: false, write, end: () => this.flush(() => resolve()) })
    })
  }

  /** A boxed message met while catching up: opened as ssb-db2's private index opens it, or skipped as it skips it. */
  private processBoxed(buf: Buffer, pValue: number, pContent: number, opener: Opener): void {
    const ciphertext = bipf.decode(buf, pContent) as string
    const format = opener.findEncryptionFormatFor(ciphertext)
    if (!format) return
    // The fields the index reads, one by one: decoding the whole value would decode the ciphertext a second time.
    const field = (key: Buffer) => {
      const at = bipf.seekKey2(buf, pValue, key, 0)
      return at >= 0 ? bipf.decode(buf, at) : undefined
    }
    const author = field(B_AUTHOR)
    if (!opener.findFeedFormatForAuthor(author)) return
    const previous = field(B_PREVIOUS)
    const plaintext = format.decrypt(this.decodeBase64(ciphertext.slice(0, ciphertext.indexOf('.'))), { keys: opener.keys, author, previous })
    if (!plaintext) return
    let content: unknown
    try {
      content = JSON.parse(plaintext.toString('utf8'))
    } catch {
      return
    }
    const type = (content as { type?: unknown } | null)?.type
    if (!content || typeof content !== 'object' || typeof type !== 'string' || !this.handlers.wantsType(type, () => true)) return
    const pKey = bipf.seekKey2(buf, 0, B_KEY, 0)
    const pTimestamp = bipf.seekKey2(buf, 0, B_TIMESTAMP, 0)
    const msg = {
      key: bipf.decode(buf, pKey),
      value: { previous, author, sequence: field(B_SEQUENCE), timestamp: field(B_TIMESTAMP), content },
      timestamp: bipf.decode(buf, pTimestamp),
      meta: { private: true, originalContent: ciphertext },
    } as SsbMsg
    this.store(this.handlers.process(msg))
  }

  /**
   * The ciphertext's bytes, in a scratch buffer reused for every message of the catch-up: a format's `decrypt` reads
   * them synchronously and keeps nothing, and a fresh buffer per message was ~70 MB of garbage at 100,000 messages.
   */
  private decodeBase64(base64: string): Buffer {
    const most = Math.ceil(base64.length / 4) * 3
    if (this.scratch.length < most) this.scratch = Buffer.allocUnsafe(Math.max(most, 2 * this.scratch.length))
    return this.scratch.subarray(0, this.scratch.write(base64, 'base64'))
  }

  /** ssb-db2, once per log record, in the scan and live. */
  onRecord(record: { offset: number; value?: Buffer }, isLive: boolean, pValue: number): void {
    if (record.offset <= this.processedOffset) return
    if (record.value && pValue >= 0) this.processRecord(record as { value: Buffer }, 0, pValue)
    this.processedOffset = record.offset
    if (this.pending.count >= CHUNK) this.flush(() => undefined)
    else if (isLive) {
      clearTimeout(this.liveTimer)
      this.liveTimer = setTimeout(() => this.flush(() => undefined), this.liveFlushMs)
      this.liveTimer.unref()
    }
  }

  /** Store the entry (in the next chunk) and queue it; nothing else runs here. */
  processRecord(record: { value: Buffer }, _seq: number, pValue: number): void {
    const buf = record.value
    const pContent = bipf.seekKey2(buf, pValue, B_CONTENT, 0)
    if (pContent < 0 || bipf.getEncodedType(buf, pContent) !== bipf.types.object) return
    const pType = bipf.seekKey2(buf, pContent, B_TYPE, 0)
    if (pType < 0 || bipf.getEncodedType(buf, pType) !== bipf.types.string) return
    if (!this.handlers.wantsType(bipf.decode(buf, pType), () => privateFlag(buf))) return
    this.store(this.handlers.process(bipf.decode(buf, 0) as SsbMsg))
  }

  private store(out: { entry: E } | undefined): void {
    if (!out) return
    this.pending.add(JSON.stringify(out.entry))
    this.queued.push(out.entry)
    if (!this.handing) {
      this.handing = true
      queueMicrotask(() => this.handOver())
    }
  }

  /** ssb-db2: write what is pending, with the offset processed so far. */
  flush(cb: (err?: Error) => void): void {
    this.write(false, cb)
  }

  /** ssb-db2 (re-indexing newly decryptable messages): write even when the offset has not moved. */
  forcedFlush(cb: (err?: Error) => void): void {
    this.write(true, cb)
  }

  private write(forced: boolean, cb: (err?: Error) => void): void {
    clearTimeout(this.liveTimer)
    if (!forced && this.pending.count === 0 && this.processedOffset === this.offset.value) return cb()
    try {
      this.pending.appendTo(this.file, this.processedOffset)
    } catch (err) {
      return cb(new Error(`the ${this.name} index could not be written`, { cause: err }))
    }
    this.offset.set(this.processedOffset)
    cb()
  }

  /** ssb-db2, before it rebuilds the index from the log: entries not yet handed over will come again. */
  reset(cb: () => void): void {
    clearTimeout(this.liveTimer)
    this.queued = []
    this.pending.clear()
    this.processedOffset = -1
    resetIndexFile(this.file, this.handlers.version)
    this.offset.set(-1)
    cb()
  }

  /** ssb-db2 on close: what is pending is written (a crash instead loses only it: the log is read again from the file's offset). */
  close(cb: () => void): void {
    this.write(false, () => cb())
  }

  /** ssb-db2: this index reads message content (so it is fed messages that become decryptable later). */
  indexesContent(): boolean {
    return true
  }

  private handOver(): void {
    this.handing = false
    const entries = this.queued
    this.queued = []
    for (const entry of entries) this.handlers.onEntry(entry)
  }
}

/** ssb-db2's `meta.private` of a record, read without decoding the message. */
function privateFlag(buf: Buffer): boolean {
  const pMeta = bipf.seekKey2(buf, 0, B_META, 0)
  if (pMeta < 0 || bipf.getEncodedType(buf, pMeta) !== bipf.types.object) return false
  const pPrivate = bipf.seekKey2(buf, pMeta, B_PRIVATE, 0)
  return pPrivate >= 0 && bipf.decode(buf, pPrivate) === true
}

/**
 * Register a file-backed ssb-db2 index. `caughtUp` resolves once its stored entries are loaded and it has
 * processed the whole log (ssb-db2's onDrain alone can fire before the stored entries are read back).
 */
export function registerIndex<E>(db: Db2, handlers: IndexHandlers<E>, keys?: unknown): { caughtUp: Promise<void> } {
  let loaded: Promise<void> = Promise.resolve()
  const found = db as unknown as Partial<Omit<Opener, 'keys'>>
  // With the server's keys the index catches up itself (QueuedIndex.catchUp); without, through ssb-db2's scan.
  const opener: Opener | undefined =
    keys && found.findEncryptionFormatFor && found.findFeedFormatForAuthor
      ? { findEncryptionFormatFor: found.findEncryptionFormatFor, findFeedFormatForAuthor: found.findFeedFormatForAuthor, keys }
      : undefined
  class Index extends QueuedIndex<E> {
    constructor(log: Log, dir: string, configDb2: { flushDebounce?: number } | undefined) {
      super(log, dir, configDb2, handlers, opener)
      loaded = this.stateLoaded
    }
  }
  ;(db as unknown as { registerIndex(cls: unknown): void }).registerIndex(Index)
  const drained = new Promise<void>((resolve) => db.onDrain(handlers.name, () => resolve()))
  return { caughtUp: Promise.all([loaded, drained]).then(() => undefined) }
}
