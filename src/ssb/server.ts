/**
 * Composing and running an SSB server: secret-stack with the stack every ButtCloud server runs (docs/ssb-stack.md:
 * versions that work together), the typed shape of a running server, and multiserver's TCP transport.
 */
import { createRequire } from 'node:module'
import type { Duplex, Source } from 'pull-stream'
import type { FeedId } from '../protocol/ids.js'
import type { Db2 } from './db2.js'
import type { SsbKeys } from './keys.js'
import type { Callback } from './message.js'
import { durableAnnounce } from './durable-announce.js'
import { applyEbtScopePatch } from './ebt-scope.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
const require = createRequire(import.meta.url)
const SecretStack: (opts: { caps: { shs: string } }) => any = require('secret-stack')

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

/** The SSB stack every ButtCloud server runs (docs/ssb-stack.md: versions that work together). */
export function standardPlugins(): SbotPlugin[] {
  // Before ssb-ebt loads, so a server that adds the ebtScope plugin can narrow its notes (src/ssb/ebt-scope.ts).
  applyEbtScopePatch()
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

/** Close a server, resolving when it has shut down. */
export async function closeSbot(sbot: Sbot): Promise<void> {
  // ssb-conn starts its scheduler once its peer table has loaded; closed before that, the scheduler then reads the
  // closed table and throws from a timer (an unhandled rejection). Waiting for the load (a few ms) avoids it.
  const connDb = (sbot as { conn?: { db?: () => { loaded?: () => Promise<unknown> } } }).conn?.db?.()
  await connDb?.loaded?.().catch(() => undefined)
  // Messages published just before (an invite's follow, say) are still on their way to the log: a write landing after
  // the log closed throws from a timer. Let them land first, for a bounded time.
  const db = (sbot as { db?: { onDrain?: (cb: () => void) => void } }).db
  if (db?.onDrain) {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([new Promise<void>((resolve) => db.onDrain!(() => resolve())), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))])
    clearTimeout(timer)
  }
  await new Promise<void>((resolve, reject) => sbot.close(true, (err) => (err ? reject(err) : resolve())))
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
