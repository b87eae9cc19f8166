/**
 * Custom leveldb-backed ssb-db2 indexes. ssb-db2 calls `processRecord` inside its log scan, so the base class only
 * stores and queues there: entries are handed over once the scan has yielded (a microtask later), never from inside
 * it, and `reset()` (ssb-db2 rebuilding the index) drops what was queued but not yet handed over.
 */
import { createRequire } from 'node:module'
import type { Source } from 'pull-stream'
import type { Db2 } from './db2.js'
import type { SsbMsg } from './message.js'
import { pull } from './pull.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
const require = createRequire(import.meta.url)
const bipf: {
  decode(buf: Buffer, start: number): any
  seekKey2(buf: Buffer, start: number, key: Buffer, keyStart: number): number
  allocAndEncode(value: unknown): Buffer
  getEncodedType(buf: Buffer, start: number): number
  types: { string: number; object: number }
} = require('bipf')
const pullLevel: { read(db: unknown, opts: object): Source<{ key: string; value: unknown }> } = require('pull-level')

/** ssb-db2's index plugin base (ssb-db2/indexes/plugin), as much of it as we touch. */
interface Db2IndexPlugin {
  readonly level: unknown
  batch: Array<{ type: 'put'; key: string; value: unknown }>
  readonly stateLoaded: Promise<void>
}
const IndexPlugin: new (log: unknown, dir: string, name: string, version: number, keyEnc: string, valueEnc: string, configDb2: unknown) => Db2IndexPlugin =
  require('ssb-db2/indexes/plugin')

const B_CONTENT = bipf.allocAndEncode('content')
const B_TYPE = bipf.allocAndEncode('type')
const B_META = bipf.allocAndEncode('meta')
const B_PRIVATE = bipf.allocAndEncode('private')

/**
 * How a custom leveldb index sees the log: every message once (decrypted where we can read it), on first
 * sync and live; its stored entries are read back at start-up instead of re-reading (and re-decrypting) the log.
 */
export interface IndexHandlers<E> {
  name: string
  /** Bump when the stored entry shape changes: the index then rebuilds from the log. */
  version: number
  /** Cheap pre-check on the content's type string (and, lazily, whether it was boxed) before the message is decoded. */
  wantsType(type: string, wasPrivate: () => boolean): boolean
  /** Turn one decoded message into an entry to store (and hand over), or undefined to skip it. */
  process(msg: SsbMsg): { key: string; entry: E } | undefined
  /** Called with every entry: stored ones at start-up, new ones shortly after they are processed. */
  onEntry(entry: E): void
}

/** An ssb-db2 index storing one JSON entry per wanted message, handing entries over outside the log scan. */
export abstract class QueuedIndex<E> extends IndexPlugin {
  private queued: E[] = []
  private handing = false

  constructor(
    log: unknown,
    dir: string,
    configDb2: unknown,
    private readonly handlers: IndexHandlers<E>,
  ) {
    super(log, dir, handlers.name, handlers.version, 'utf8', 'json', configDb2)
  }

  /** ssb-db2, at start-up when the stored version matches: read the stored entries back. */
  onLoaded(cb: (err?: Error) => void): void {
    pull(
      pullLevel.read(this.level, { gt: '\x00', keys: true, values: true, valueEncoding: 'json', keyEncoding: 'utf8' }),
      pull.drain(
        (item: { key: string; value: unknown }) => this.handlers.onEntry(item.value as E),
        (err) => cb(err && err !== true ? new Error(`${this.handlers.name} index failed to load`, { cause: err }) : undefined),
      ),
    )
  }

  /** ssb-db2, once per log record: store the entry in the batch and queue it; nothing else runs here. */
  processRecord(record: { value: Buffer }, _seq: number, pValue: number): void {
    const buf = record.value
    const pContent = bipf.seekKey2(buf, pValue, B_CONTENT, 0)
    if (pContent < 0 || bipf.getEncodedType(buf, pContent) !== bipf.types.object) return
    const pType = bipf.seekKey2(buf, pContent, B_TYPE, 0)
    if (pType < 0 || bipf.getEncodedType(buf, pType) !== bipf.types.string) return
    if (!this.handlers.wantsType(bipf.decode(buf, pType), () => privateFlag(buf))) return
    const out = this.handlers.process(bipf.decode(buf, 0) as SsbMsg)
    if (!out) return
    this.batch.push({ type: 'put', key: out.key, value: out.entry })
    this.queued.push(out.entry)
    if (!this.handing) {
      this.handing = true
      queueMicrotask(() => this.handOver())
    }
  }

  /** ssb-db2, before it rebuilds the index from the log: entries not yet handed over will come again. */
  reset(): void {
    this.queued = []
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
 * Register a leveldb-backed ssb-db2 index. `caughtUp` resolves once its stored entries are loaded and it has
 * processed the whole log (ssb-db2's onDrain alone can fire before the stored entries are read back).
 */
export function registerIndex<E>(db: Db2, handlers: IndexHandlers<E>): { caughtUp: Promise<void> } {
  let loaded: Promise<void> = Promise.resolve()
  class Index extends QueuedIndex<E> {
    constructor(log: unknown, dir: string, configDb2: unknown) {
      super(log, dir, configDb2, handlers)
      loaded = this.stateLoaded
    }
  }
  ;(db as unknown as { registerIndex(cls: unknown): void }).registerIndex(Index)
  const drained = new Promise<void>((resolve) => db.onDrain(handlers.name, () => resolve()))
  return { caughtUp: Promise.all([loaded, drained]).then(() => undefined) }
}
