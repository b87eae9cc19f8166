/** Turns a few plain settings into the secret-stack config shape our SSB stack needs. */
import { join } from 'node:path'
import type { FeedId } from '../protocol/ids.js'
import { MAIN_NETWORK_CAPS, type SsbKeys } from './keys.js'
import type { SbotConfig } from './server.js'

export interface ServerSettings {
  /** Data folder: log, indexes, invite codes, the unix socket. */
  path: string
  keys: SsbKeys
  /** Where to listen for peers. */
  host: string
  port: number
  /** The host other people dial; defaults to `host`. Goes into invite codes and addresses. */
  externalHost?: string
  caps?: string
  /** Feeds with full rights over muxrpc besides the server's own key. */
  masters?: FeedId[]
  /** How far to replicate in the follow graph. */
  hops?: number
  /** ssb-db2 write and index throttles in ms (docs/ssb-stack.md: 250 each by default; 10/50/50 is ~10x faster). */
  throttles?: { addBatch: number; flushDebounce: number; writeTimeout: number }
  /** Allow invites for private or loopback hosts (tests and local use). */
  allowPrivate?: boolean
  /** Listen on `<path>/socket` without auth, for local tools and health checks. */
  unixSocket?: boolean
}

export const FAST_THROTTLES = { addBatch: 10, flushDebounce: 50, writeTimeout: 10 }

/** The secret-stack config for a server with these settings. */
export function sbotConfig(s: ServerSettings): SbotConfig {
  const external = s.externalHost ?? s.host
  const throttles = s.throttles ?? FAST_THROTTLES
  const incoming: SbotConfig['connections']['incoming'] = {
    net: [{ scope: ['device', 'local', 'public'], transform: 'shs', host: s.host, port: s.port, external: [external] }],
  }
  if (s.unixSocket !== false) incoming.unix = [{ scope: 'device', transform: 'noauth' }]
  return {
    path: s.path,
    keys: s.keys,
    caps: { shs: s.caps ?? MAIN_NETWORK_CAPS },
    host: s.host,
    port: s.port,
    allowPrivate: s.allowPrivate ?? false,
    // Without this, idle connections drop after ~5 s and replication stalls between bursts.
    timers: { inactivity: -1, handshake: 5000 },
    connections: { incoming, outgoing: { net: [{ transform: 'shs' }] } },
    db2: { addBatchThrottle: throttles.addBatch, flushDebounce: throttles.flushDebounce, writeTimeout: throttles.writeTimeout },
    friends: { hops: s.hops ?? 1 },
    replicationScheduler: { autostart: true, partialReplication: null },
    conn: { autostart: true, populatePubs: false },
    master: s.masters ?? [],
  }
}

/** The unix socket path of a server's data folder. */
export function socketPath(dataPath: string): string {
  return join(dataPath, 'socket')
}
