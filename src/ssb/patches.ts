/**
 * Two leaks in ssb-db2 8.1 / ssb-classic 1.1 keep every message added since startup in the heap (~2 KB each: a
 * 20,000-message replication burst held ~40 MB and never gave it back, which crashed pubs under memory limits):
 * - ssb-db2's `onceWhen` never removes a listener that obz answers synchronously (its `remove` is not assigned
 *   yet), and each listener's closure holds the message being added. obz drops a listener that returns false.
 * - ssb-classic's `getMsgId` memoises ids in a Map keyed by message object and never evicts; a WeakMap keeps the
 *   memo (the same object is hashed several times while it is added) and lets the messages go.
 * Both are replaced in the module cache before ssb-db2 loads, so the modules that capture them at load time (its
 * core, its ebt and feedstate compat plugins, ssb-classic's format) capture ours. The same goes for the log's block
 * cache (async-append-only-log, loaded by ssb-db2's core), capped at LOG_CACHE_BLOCKS. The provider and the hosted pub
 * call `applyDb2Patches()` before they build a server; the CLI, which runs no ssb-db2, does not.
 */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

const require = createRequire(import.meta.url)

/** The versions whose internals the patches were written against (docs/ssb-stack.md). */
export const PATCHED_VERSIONS = { 'ssb-db2': '8.1.0', 'ssb-classic': '1.1.0', 'async-append-only-log': '4.3.10', '@alloc/quick-lru': '5.3.0' } as const

/**
 * Blocks (64 KiB each) async-append-only-log keeps of the log it has read. Its own cap is 1,024, and quick-lru keeps
 * up to twice its cap (a new and an old generation): a full read of a 100 MB log (an index rebuild) held ~90 MB of
 * blocks for good, a third of a provider's memory (bench/coldstart). Reads are sequential scans and recent messages.
 */
export const LOG_CACHE_BLOCKS = 16
/**
 * The newest blocks by index, kept outside the LRU: the log's block being appended to and those waiting to be
 * written (one is written per write timeout, so more than one waits only under a burst of appends; 32 is 2 MiB).
 */
export const LOG_TAIL_BLOCKS = 32
/** async-append-only-log's own cap, the one call the block cache patch changes. */
const LOG_CACHE_BLOCKS_UNPATCHED = 1024

/** Modules that destructure a patched helper when they load: loaded before the patch, they keep the leaky one. */
const CAPTURING_DB2_MODULES = ['core.js', 'compat/ebt.js', 'compat/feedstate.js']

let applied = false

/**
 * Patch ssb-db2's and ssb-classic's two leaks (once per process). Throws when the installed versions are not the
 * ones the patches were written for, or when a module that captures a patched helper was loaded first.
 */
export function applyDb2Patches(): void {
  if (applied) return
  const db2Dir = dirname(require.resolve('ssb-db2/package.json'))
  // The ssb-classic ssb-db2 itself loads (a nested copy, if npm gave it one), and the ssb-keys that one uses.
  const db2Require = createRequire(`${db2Dir}/index.js`)
  const classicDir = dirname(db2Require.resolve('ssb-classic/package.json'))
  const classicRequire = createRequire(`${classicDir}/format.js`)
  checkVersion('ssb-db2', db2Require('./package.json') as { version: string })
  checkVersion('ssb-classic', classicRequire('./package.json') as { version: string })

  const logDir = dirname(db2Require.resolve('async-append-only-log/package.json'))
  const logRequire = createRequire(`${logDir}/index.js`)
  checkVersion('async-append-only-log', logRequire('./package.json') as { version: string })
  const lruPath = logRequire.resolve('@alloc/quick-lru')
  checkVersion('@alloc/quick-lru', createRequire(lruPath)('./package.json') as { version: string })

  const loadedFirst = [...CAPTURING_DB2_MODULES.map((m) => `${db2Dir}/${m}`), `${classicDir}/format.js`, `${logDir}/index.js`].filter((path) => require.cache[path])
  if (loadedFirst.length) {
    throw new Error(`applyDb2Patches() must run before ssb-db2 loads, but ${loadedFirst.join(', ')} ${loadedFirst.length === 1 ? 'was' : 'were'} loaded first`)
  }
  patchOnceWhen(db2Require('./utils.js'))
  patchGetMsgId(classicRequire, `${classicDir}/get-msg-id.js`)
  patchLogCache(logRequire, lruPath)
  applied = true
}

function checkVersion(name: keyof typeof PATCHED_VERSIONS, pkg: { version: string }): void {
  if (pkg.version !== PATCHED_VERSIONS[name]) {
    throw new Error(`the ssb-db2 leak patches were written for ${name} ${PATCHED_VERSIONS[name]}, but ${pkg.version} is installed: check them against it and update PATCHED_VERSIONS`)
  }
}

type Obv = (listener: (value: unknown) => boolean | undefined) => unknown

function patchOnceWhen(utils: { onceWhen: unknown; onceWhenPromise: unknown }): void {
  const onceWhen = (obv: Obv | undefined, filter: (value: unknown) => boolean, cb: () => void): void => {
    if (!obv) return cb()
    let answered = false
    obv((value: unknown) => {
      if (answered) return false
      if (!filter(value)) return undefined
      answered = true
      cb()
      return false
    })
  }
  utils.onceWhen = onceWhen
  utils.onceWhenPromise = (obv: Obv | undefined, filter: (value: unknown) => boolean) => new Promise<void>((resolve) => onceWhen(obv, filter, resolve))
}

function patchGetMsgId(classicRequire: NodeJS.Require, path: string): void {
  const hash: (text: string) => string = classicRequire('ssb-keys').hash
  const ids = new WeakMap<object, string>()
  const getMsgId = (nativeMsg: unknown): string => {
    const cached = typeof nativeMsg === 'object' && nativeMsg !== null ? ids.get(nativeMsg) : undefined
    if (cached !== undefined) return cached
    const id = `%${hash(JSON.stringify(nativeMsg, null, 2))}`
    if (typeof nativeMsg === 'object' && nativeMsg !== null) ids.set(nativeMsg, id)
    return id
  }
  classicRequire(path)
  classicRequire.cache[path]!.exports = getMsgId
  if (classicRequire('./format.js').getMsgId !== getMsgId) throw new Error('ssb-classic was loaded before its getMsgId leak could be patched')
}

/** The quick-lru methods async-append-only-log calls on its block cache. */
interface BlockCache {
  has(key: number): boolean
  get(key: number): unknown
  set(key: number, value: unknown): unknown
  delete(key: number): boolean
}

/**
 * async-append-only-log makes its block cache with quick-lru at `maxSize: 1024`: that one call gets LOG_CACHE_BLOCKS,
 * and the newest LOG_TAIL_BLOCKS blocks are held outside the LRU. The log appends into its latest block in memory
 * and writes it to disk later (after its write timeout, one block at a time); until then the cache is the only
 * place its new records are, and a read that misses the cache reads the block from disk, where they are not yet
 * ("Record has been deleted"). With 1,024 blocks a scan evicting the block being written was unlikely; with 16 it
 * took one index query between an append and its write (test/ssb/db2-patches.test.ts). The newest blocks by index
 * are the ones being appended to and waiting to be written, so they stay.
 */
function patchLogCache(logRequire: NodeJS.Require, lruPath: string): void {
  const QuickLRU = logRequire(lruPath) as new (opts: { maxSize: number }) => BlockCache
  class LogBlockCache extends QuickLRU {
    /** Only the log's own cache (the one made at 1,024) pins its tail; any other quick-lru is left as it is. */
    private readonly pinsTail: boolean
    private readonly tail = new Map<number, unknown>()
    private newest = -1

    constructor(opts: { maxSize: number }) {
      const isLogCache = opts.maxSize === LOG_CACHE_BLOCKS_UNPATCHED
      super(isLogCache ? { ...opts, maxSize: LOG_CACHE_BLOCKS } : opts)
      this.pinsTail = isLogCache
    }

    override has(key: number): boolean {
      return this.tail.has(key) || super.has(key)
    }

    override get(key: number): unknown {
      return this.tail.has(key) ? this.tail.get(key) : super.get(key)
    }

    override set(key: number, value: unknown): unknown {
      if (this.pinsTail && key > this.newest - LOG_TAIL_BLOCKS) {
        this.tail.set(key, value)
        if (key > this.newest) {
          this.newest = key
          for (const pinned of this.tail.keys()) if (pinned <= key - LOG_TAIL_BLOCKS) this.tail.delete(pinned)
        }
        return this
      }
      return super.set(key, value)
    }

    override delete(key: number): boolean {
      // The log deletes only when a compaction truncates it: its newest block is then lower, so start over.
      if (this.pinsTail && this.tail.size) {
        for (const [pinned, value] of this.tail) if (pinned !== key) super.set(pinned, value)
        this.tail.clear()
        this.newest = -1
      }
      return super.delete(key)
    }
  }
  logRequire.cache[lruPath]!.exports = LogBlockCache
}
