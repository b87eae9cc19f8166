/**
 * The one place where ButtCloud touches the untyped CommonJS SSB packages. Everything else imports the typed
 * surface from here, so `any` stays inside this file and the shapes we rely on are written down once.
 */
import { createRequire } from 'node:module'
import type { Duplex, Sink, Source } from 'pull-stream'
import type { FeedId, MsgId } from '../protocol/ids.js'
import { durableAnnounce } from './durable-announce.js'

const require = createRequire(import.meta.url)
// Before anything loads ssb-db2: its core module captures these helpers when it is first required.
patchDb2Leaks()

/* eslint-disable @typescript-eslint/no-explicit-any */
const SecretStack: (opts: { caps: { shs: string } }) => any = require('secret-stack')
const ssbKeys: {
  loadOrCreateSync(path: string): SsbKeys
  generate(curve?: string, seed?: Buffer): SsbKeys
  loadSync(path: string): SsbKeys
  createSync(path: string, curve?: string): SsbKeys
} = require('ssb-keys')
const caps: { shs: string; sign: string | null } = require('ssb-caps')
// Loaded on first use: a server that never dials out as a client (a hosted pub) saves its few MB of modules.
const ssbClient = (keys: SsbKeys, opts: object, cb: (err: Error | null, sbot: any) => void): void => require('ssb-client')(keys, opts, cb)
const pullStream: typeof import('pull-stream') = require('pull-stream')

/** An ed25519 key pair in ssb-keys' format. */
export interface SsbKeys {
  curve: 'ed25519'
  public: string
  private: string
  id: FeedId
}

/** The main-network secret-handshake capability (Patchwork's). */
export const MAIN_NETWORK_CAPS = caps.shs

export const pull = pullStream

/** Load a key file, creating it (mode 0600) when absent. */
export function loadOrCreateKeys(path: string): SsbKeys {
  return ssbKeys.loadOrCreateSync(path)
}

/** Load an existing key file; throws when it is missing or malformed. */
export function loadKeys(path: string): SsbKeys {
  return ssbKeys.loadSync(path)
}

/** A fresh key pair (deterministic when a 32-byte seed is given). */
export function generateKeys(seed?: Buffer): SsbKeys {
  return ssbKeys.generate('ed25519', seed)
}

/** ssb-keys' on-disk secret format (what `loadKeys` reads back). */
export function keysFileText(keys: SsbKeys): string {
  return `# this is your SECRET name.\n# never show it to anyone.\n${JSON.stringify(keys, null, 2)}\n`
}

/* ---------- Messages ---------- */

/** A message as ssb-db2 and the classic server return it. */
export interface SsbMsg<C = unknown> {
  key: MsgId
  value: {
    previous: MsgId | null
    author: FeedId
    sequence: number
    timestamp: number
    content: C
    signature?: string
  }
  timestamp: number
  meta?: { private?: boolean; originalContent?: string }
}

/** True when the message arrived encrypted and was decrypted for us. */
export function wasPrivate(msg: SsbMsg): boolean {
  return Boolean(msg.meta && msg.meta.private)
}

type Callback<T> = (err: Error | null, value: T) => void

/* ---------- ssb-db2 ---------- */

/**
 * Two leaks in ssb-db2 8.1 / ssb-classic 1.1 keep every message added since startup in the heap (~2 KB each: a
 * 20,000-message replication burst held ~40 MB and never gave it back, which crashed pubs under memory limits):
 * - ssb-db2's `onceWhen` never removes a listener that obz answers synchronously (its `remove` is not assigned
 *   yet), and each listener's closure holds the message being added. obz drops a listener that returns false.
 * - ssb-classic's `getMsgId` memoises ids in a Map keyed by message object and never evicts; a WeakMap keeps the
 *   memo (the same object is hashed several times while it is added) and lets the messages go.
 */
function patchDb2Leaks(): void {
  const utils = require('ssb-db2/utils.js')
  const onceWhen = (obv: any, filter: (value: unknown) => boolean, cb: () => void): void => {
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
  utils.onceWhenPromise = (obv: any, filter: (value: unknown) => boolean) => new Promise<void>((resolve) => onceWhen(obv, filter, resolve))

  const hash: (text: string) => string = require('ssb-keys').hash
  const ids = new WeakMap<object, string>()
  const getMsgId = (nativeMsg: unknown): string => {
    const cached = typeof nativeMsg === 'object' && nativeMsg !== null ? ids.get(nativeMsg) : undefined
    if (cached !== undefined) return cached
    const id = `%${hash(JSON.stringify(nativeMsg, null, 2))}`
    if (typeof nativeMsg === 'object' && nativeMsg !== null) ids.set(nativeMsg, id)
    return id
  }
  const path = require.resolve('ssb-classic/get-msg-id.js')
  require(path)
  require.cache[path]!.exports = getMsgId
  if (require('ssb-classic/format').getMsgId !== getMsgId) throw new Error('ssb-classic was loaded before its getMsgId leak could be patched')
}


/** An opaque ssb-db2 query operator. */
export type DbOperator = { readonly __dbOperator: unique symbol }

export interface Db2 {
  create(opts: { content: object; encryptionFormat?: 'box' | 'box2'; keys?: SsbKeys }, cb: Callback<SsbMsg>): void
  query(...ops: unknown[]): any
  get(id: MsgId, cb: Callback<SsbMsg['value']>): void
  getMsg(id: MsgId, cb: Callback<SsbMsg>): void
  onDrain(indexName: string, cb: () => void): void
  onDrain(cb: () => void): void
  getStatus(): { value: { log: number; jit: Record<string, number>; indexes: Record<string, number> } }
  add(nativeMsg: object, cb: Callback<SsbMsg>): void
}

const ops: any = require('ssb-db2/operators/index.js')

/** ssb-db2's query operators, typed loosely but in one place. */
export const dbOps = ops as {
  where(...args: unknown[]): DbOperator
  and(...args: unknown[]): DbOperator
  or(...args: unknown[]): DbOperator
  type(t: string): DbOperator
  author(id: FeedId): DbOperator
  isPrivate(): DbOperator
  isPublic(): DbOperator
  live(opts?: { old: boolean }): DbOperator
  descending(): DbOperator
  paginate(n: number): DbOperator
  toPullStream(): DbOperator
  toCallback(cb: Callback<SsbMsg[]>): DbOperator
  toPromise(): DbOperator
}

/** A pull-stream of every message whose content type is one of `types`, private ones decrypted. */
export function queryTypes(db: Db2, types: readonly string[], opts: { live: 'old' | 'live' | 'both' }): Source<SsbMsg> {
  const typeOps = types.map((t) => dbOps.type(t))
  const where = dbOps.where(typeOps.length === 1 ? typeOps[0] : dbOps.or(...typeOps))
  if (opts.live === 'old') return db.query(where, dbOps.toPullStream())
  return db.query(where, dbOps.live({ old: opts.live === 'both' }), dbOps.toPullStream())
}

/** Publish content, boxed to `recps` (box1) when given. */
export function publish<C extends object>(db: Db2, content: C & { recps?: FeedId[] }): Promise<SsbMsg<C>> {
  return new Promise((resolve, reject) => {
    const opts = content.recps ? { content, encryptionFormat: 'box' as const } : { content }
    db.create(opts, (err, msg) => (err ? reject(new Error('publish failed', { cause: err })) : resolve(msg as SsbMsg<C>)))
  })
}

/* ---------- The server ---------- */

/** What a running server (secret-stack + our plugin set) exposes to us in-process. */
export interface Sbot {
  id: FeedId
  config: SbotConfig
  db: Db2
  getAddress(scope?: 'public' | 'local' | 'device' | 'private'): string | undefined
  whoami(): { id: FeedId }
  invite: {
    /** `ttlMs` only where the inviteExpiry plugin (src/ssb/invite-expiry.ts) wraps it. */
    create(opts: { uses?: number; external?: string; note?: string; ttlMs?: number }, cb: Callback<string>): void
    use?(opts: { feed: FeedId }, cb: Callback<unknown>): void
    accept?(invite: string, cb: Callback<unknown>): void
  }
  friends: {
    follow(id: FeedId, opts: { state: boolean }, cb: Callback<unknown>): void
    isFollowing(opts: { source: FeedId; dest: FeedId }, cb: Callback<boolean>): void
  }
  conn: {
    connect(address: string, cb: Callback<unknown>): void
    disconnect(address: string, cb: Callback<unknown>): void
    /** Keep a peer in ssb-conn's database, so its scheduler redials it. */
    remember(address: string, data?: { type?: string; autoconnect?: boolean }): void
    peers(): Source<Array<[string, { key?: string; state?: string }]>>
  }
  ebt: { request(id: FeedId, replicate: boolean): void }
  /** Plugins register themselves under their names. */
  [plugin: string]: unknown
  /** secret-stack hook API: wrap a method (used for close). */
  close: ((force: boolean, cb: (err?: Error) => void) => void) & { hook?: (fn: (fn: Function, args: unknown[]) => unknown) => void }
}

/** The secret-stack config shape we use (a subset of ssb-config). */
export interface SbotConfig {
  path: string
  keys: SsbKeys
  caps: { shs: string }
  host?: string
  port?: number
  allowPrivate?: boolean
  timers?: { inactivity?: number; handshake?: number }
  connections: {
    incoming: Record<string, Array<{ scope: string | string[]; transform: string; host?: string; port?: number; external?: string | string[] }>>
    outgoing: Record<string, Array<{ transform: string }>>
  }
  db2?: { addBatchThrottle?: number; flushDebounce?: number; writeTimeout?: number; maxCpu?: number }
  friends?: { hops: number }
  replicationScheduler?: { autostart?: boolean; partialReplication?: null }
  conn?: { autostart?: boolean; populatePubs?: boolean; hops?: number }
  master?: FeedId[]
  [section: string]: unknown
}

/** A secret-stack plugin (`{ name, version, manifest, init }`). */
export interface SbotPlugin {
  name: string
  version?: string
  manifest?: Record<string, string>
  permissions?: object
  needs?: string[]
  init(sbot: any, config: any): unknown
}

/** The SSB stack every ButtCloud server runs (NOTES.md: versions that work together). */
export function standardPlugins(): SbotPlugin[] {
  return [
    require('ssb-master'),
    ...(require('ssb-db2') as SbotPlugin[]),
    // Before every plugin that listens for new messages (ssb-ebt above all): see durable-announce.ts.
    durableAnnounce,
    require('ssb-db2/compat/db'),
    require('ssb-db2/compat/ebt'),
    require('ssb-db2/compat/history-stream'),
    // createLogStream for local tools (the buttcloud CLI reads its user's log with it); master-only, like every
    // method not in `permissions.anonymous`, so peers cannot read decrypted messages through it.
    require('ssb-db2/compat/log-stream'),
    require('ssb-db2/compat/feedstate'),
    require('ssb-friends'),
    require('ssb-ebt'),
    require('ssb-conn'),
    require('ssb-replication-scheduler'),
    require('ssb-invite'),
    localSocketPlugin,
    require('ssb-no-auth'),
  ]
}

/**
 * ssb-unix-socket, except that a second `server()` call on the same transport (secret-stack makes one) gets a
 * no-op close: multiserver's plugin returns undefined there, and closing the server then throws inside multiserver.
 */
const localSocketPlugin: SbotPlugin = {
  name: 'unix-socket',
  version: '1.0.0',
  init(ssk: any, config: any) {
    const Unix = require('multiserver/plugins/unix-socket')
    ssk.multiserver.transport({
      name: 'unix',
      create(conf: object) {
        const plug = Unix({ ...conf, ...config })
        const server = plug.server.bind(plug)
        plug.server = (...args: unknown[]) => server(...args) ?? (() => undefined)
        return plug
      },
    })
  },
}

/** Start a server with the standard stack plus `extra` plugins. */
export function createSbot(config: SbotConfig, extra: SbotPlugin[] = []): Sbot {
  let stack = SecretStack({ caps: config.caps })
  for (const plugin of [...standardPlugins(), ...extra]) stack = stack.use(plugin)
  return stack(config) as Sbot
}

/** multiserver's TCP transport plugin (secret-stack's `net`), for plugins that wrap its connections. */
export interface MultiserverTransport {
  name: string
  scope(): unknown
  server(onConnection: (stream: Duplex<Buffer, Buffer>) => void, onListening?: (err?: Error | null) => void): (() => void) | undefined
  client(address: unknown, cb: (err: Error | null, stream?: Duplex<Buffer, Buffer>) => void): void
  parse(address: string): unknown
  stringify(scope?: unknown): string | null | undefined
}

/** A new multiserver `net` transport with secret-stack's incoming/outgoing options (host, port, scope, external). */
export function netTransport(opts: object): MultiserverTransport {
  return require('multiserver/plugins/net')(opts) as MultiserverTransport
}

/** Close a server, resolving when it has shut down. */
export function closeSbot(sbot: Sbot): Promise<void> {
  return new Promise((resolve, reject) => sbot.close(true, (err) => (err ? reject(err) : resolve())))
}

/* ---------- ssb-client ---------- */

/** A muxrpc client of some sbot: methods are looked up by name at the call site. */
export interface SbotClient {
  id: FeedId
  close(cb?: (err?: Error) => void): void
  [method: string]: any
}

/** Connect to the sbot at a multiserver address with the given keys (shs over TCP). */
export function connectClient(keys: SsbKeys, remote: string, opts: { caps?: string; manifest?: object } = {}): Promise<SbotClient> {
  return new Promise((resolve, reject) => {
    const config = { caps: { shs: opts.caps ?? MAIN_NETWORK_CAPS }, timers: { handshake: 5000 } }
    ssbClient(keys, { remote, config, caps: config.caps, manifest: opts.manifest }, (err, sbot) =>
      err ? reject(new Error(`could not connect to ${remote.replace(/~shs:.*/, '')}`, { cause: err })) : resolve(sbot as SbotClient),
    )
  })
}

/** Whether the sbot behind a client offers a method, by its dotted manifest path (e.g. `query.read`). */
export function clientHas(client: SbotClient, path: string): boolean {
  return typeof clientMethod(client, path) === 'function'
}

/** Open a muxrpc `source` method of a client by its dotted path; throws when the sbot does not offer it. */
export function clientSource(client: SbotClient, path: string, opts: object): Source<unknown> {
  const fn = clientMethod(client, path)
  if (typeof fn !== 'function') throw new Error(`the sbot has no ${path} method`)
  return fn(opts) as Source<unknown>
}

/** Call a muxrpc `async` method of a client by its dotted path; rejects when the sbot does not offer it. */
export function clientCall<T>(client: SbotClient, path: string, ...args: unknown[]): Promise<T> {
  const fn = clientMethod(client, path)
  if (typeof fn !== 'function') return Promise.reject(new Error(`the sbot has no ${path} method`))
  return call<T>(fn, ...args)
}

function clientMethod(client: SbotClient, path: string): any {
  let at: any = client
  for (const part of path.split('.')) at = at == null ? undefined : at[part]
  return at
}

/** Call a callback-style muxrpc method as a promise. */
export function call<T>(fn: (...args: any[]) => void, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => fn(...args, (err: Error | null, value: T) => (err ? reject(err) : resolve(value))))
}

/** Drain a pull-stream source into an array. */
export function collect<T>(source: Source<T>): Promise<T[]> {
  return new Promise((resolve, reject) =>
    pullStream(source, pullStream.collect((err, items: T[]) => (err ? reject(err === true ? new Error('aborted') : err) : resolve(items)))),
  )
}

export type { Source, Duplex }

/** A pull-stream source fed by `push`, for live muxrpc streams; `end` finishes it, `onAbort` tells when the reader left. */
export function pushable<T>(onAbort?: () => void): { push(item: T): void; end(): void; source: Source<T> } {
  const queue: T[] = []
  let ended = false
  let waiting: ((end: true | null, item?: T) => void) | undefined
  const drain = () => {
    if (!waiting) return
    const cb = waiting
    if (queue.length) {
      waiting = undefined
      cb(null, queue.shift())
    } else if (ended) {
      waiting = undefined
      cb(true)
    }
  }
  const source: Source<T> = (abort, cb) => {
    if (abort) {
      ended = true
      queue.length = 0
      onAbort?.()
      cb(abort)
      return
    }
    waiting = cb as (end: true | null, item?: T) => void
    drain()
  }
  return {
    push(item) {
      if (ended) return
      queue.push(item)
      drain()
    },
    end() {
      ended = true
      drain()
    },
    source,
  }
}

/** pull.drain, typed with the `abort` method it has at run time. */
export function drain<T>(op: (item: T) => boolean | void, done: (err: Error | null) => void): Sink<T> & { abort(): void } {
  return pullStream.drain(op, (err) => done(err === true ? null : (err as Error | null))) as Sink<T> & { abort(): void }
}

/* ---------- ssb-db2 custom indexes ---------- */

const bipf: {
  decode(buf: Buffer, start: number): any
  seekKey2(buf: Buffer, start: number, key: Buffer, keyStart: number): number
  allocAndEncode(value: unknown): Buffer
  getEncodedType(buf: Buffer, start: number): number
  types: { string: number; object: number }
} = require('bipf')
const pullLevel: { read(db: unknown, opts: object): Source<{ key: string; value: unknown }> } = require('pull-level')
const IndexPlugin: new (log: unknown, dir: string, name: string, version: number, keyEnc: string, valueEnc: string, configDb2: unknown) => any =
  require('ssb-db2/indexes/plugin')

const B_CONTENT = bipf.allocAndEncode('content')
const B_TYPE = bipf.allocAndEncode('type')

/**
 * How a custom leveldb index sees the log: every message once (decrypted where we can read it), on first
 * sync and live; its stored entries are read back at start-up instead of re-reading (and re-decrypting) the log.
 */
export interface IndexHandlers<E> {
  name: string
  /** Bump when the stored entry shape changes: the index then rebuilds from the log. */
  version: number
  /** Cheap pre-check on the content's type string, before the message is decoded. */
  wantsType(type: string): boolean
  /** Turn one decoded message into an entry to store (and hand over), or undefined to skip it. */
  process(msg: SsbMsg): { key: string; entry: E } | undefined
  /** Called with every entry: stored ones at start-up, new ones as they are processed. */
  onEntry(entry: E): void
}

/**
 * Register a leveldb-backed ssb-db2 index. `caughtUp` resolves once its stored entries are loaded and it has
 * processed the whole log (ssb-db2's onDrain alone can fire before the stored entries are read back).
 */
export function registerIndex<E>(db: Db2, handlers: IndexHandlers<E>): { caughtUp: Promise<void> } {
  let loaded: Promise<void> = Promise.resolve()
  class Index extends IndexPlugin {
    constructor(log: unknown, dir: string, configDb2: unknown) {
      super(log, dir, handlers.name, handlers.version, 'utf8', 'json', configDb2)
      loaded = this.stateLoaded
    }
    onLoaded(cb: (err?: Error) => void) {
      pullStream(
        pullLevel.read(this.level, { gt: '\x00', keys: true, values: true, valueEncoding: 'json', keyEncoding: 'utf8' }),
        pullStream.drain(
          (item: { key: string; value: unknown }) => handlers.onEntry(item.value as E),
          (err) => cb(err && err !== true ? new Error(`${handlers.name} index failed to load`, { cause: err }) : undefined),
        ),
      )
    }
    processRecord(record: { value: Buffer }, _seq: number, pValue: number) {
      const buf = record.value
      const pContent = bipf.seekKey2(buf, pValue, B_CONTENT, 0)
      if (pContent < 0 || bipf.getEncodedType(buf, pContent) !== bipf.types.object) return
      const pType = bipf.seekKey2(buf, pContent, B_TYPE, 0)
      if (pType < 0 || bipf.getEncodedType(buf, pType) !== bipf.types.string) return
      if (!handlers.wantsType(bipf.decode(buf, pType))) return
      const out = handlers.process(bipf.decode(buf, 0) as SsbMsg)
      if (!out) return
      this.batch.push({ type: 'put', key: out.key, value: out.entry })
      handlers.onEntry(out.entry)
    }
  }
  ;(db as unknown as { registerIndex(cls: unknown): void }).registerIndex(Index)
  const drained = new Promise<void>((resolve) => db.onDrain(handlers.name, () => resolve()))
  return { caughtUp: Promise.all([loaded, drained]).then(() => undefined) }
}
