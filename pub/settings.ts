/**
 * The hosted pub's configuration, read only from the environment and from files (a key file, a caps file), so the
 * same image runs anywhere: the provider sets variables and hands over the key as a Swarm secret.
 */
import { readFileSync } from 'node:fs'
import { getHeapStatistics } from 'node:v8'
import { isIP } from 'node:net'
import { isAbsolute, join, resolve } from 'node:path'
import type { FeedId } from '../src/protocol/ids.js'
// The plain rules, not the zod schemas: loading zod would delay every pub's start (src/protocol/text-checks.ts).
import { DEFAULT_DISK_MIB, PUB_NAME_MAX, isFeedId, isLine } from '../src/protocol/text-checks.js'
import { DEFAULT_BLOB_MAX_BYTES } from './blob-links.js'

export interface PubSettings {
  /** Data folder: log, indexes, invite codes, unix socket, and the generated key when none is handed over. */
  dataDir: string
  /** Where to listen for SSB peers. */
  host: string
  port: number
  /** The host peers dial; goes into the pub's multiserver address. */
  externalHost: string
  /** The host written into invite codes (usually the external host). */
  inviteHost: string
  /** Whether invites may name loopback or private hosts (ssb-invite refuses them otherwise). */
  allowPrivate: boolean
  owner: FeedId
  provider: FeedId | undefined
  name: string
  /** Secret-handshake capability, base64 of 32 bytes. Undefined means the main network (Patchwork's). */
  caps: string | undefined
  /** The provider-issued key; undefined means "create one in the data folder and keep it". */
  keyFile: string | undefined
  /** The public read-only web view, or null when it is switched off. */
  web: { host: string; port: number } | null
  /** How far to replicate in the follow graph, counted from the owner (1: the owner's follows). */
  hops: number
  /** Blobs at or over this size are neither fetched nor accepted. */
  blobMaxBytes: number
  /** ssb-db2 write throttles in ms. */
  throttles: { addBatch: number; flushDebounce: number; writeTimeout: number }
  /** ssb-db2's maxCpu: pause indexing while the process uses more than this share (percent) of a core. */
  maxCpu: number | undefined
  /** Stop reading from peers while `high` messages wait to be stored, resume at `low`; null turns pacing off. */
  pacing: { high: number; low: number } | null
  /** Log + blobs allowed (bytes) and how often they are measured (ms); null: no allowance. */
  disk: { allowedBytes: number; checkMs: number } | null
  /** How often the pub checks itself and refreshes its health file (ms). */
  selfCheckMs: number
}

/** A configuration mistake, worded for the operator who set the variable. */
export class SettingsError extends Error {
  override name = 'SettingsError'
}

/** Where a pub keeps its own key when none is handed to it. */
export function generatedKeyPath(dataDir: string): string {
  return join(dataDir, 'secret')
}

// Unix socket paths are limited to 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', ''])
const CAPS_RE = /^[A-Za-z0-9+/]{43}=$/
// Loopback, RFC 1918 and link-local: ssb-invite needs allowPrivate to name these in an invite.
const PRIVATE_HOST_RE = /^(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|169\.254\.|::1$|f[cd][0-9a-f]{2}:|fe80:)/i

// Throttles that keep a request->reply round trip near 150 ms (docs/ssb-stack.md) without spinning the indexer.
const DEFAULT_THROTTLES = { addBatch: 10, flushDebounce: 50, writeTimeout: 10 }

type Env = Record<string, string | undefined>
type ReadFile = (path: string) => string

/** Read and check the pub's settings (some defaults depend on node's heap limit); throws a SettingsError naming the variable at fault. */
export function readSettings(
  env: Env = process.env,
  readFile: ReadFile = (p) => readFileSync(p, 'utf8'),
  heapLimitBytes: number = getHeapStatistics().heap_size_limit,
): PubSettings {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === '' ? undefined : value
  }

  const dataDir = resolve(get('PUB_DATA') ?? '/data')
  if (join(dataDir, 'socket').length > MAX_SOCKET_PATH) {
    throw new SettingsError(`PUB_DATA is too long (${dataDir.length} chars): its unix socket path must fit in ${MAX_SOCKET_PATH} bytes`)
  }

  const host = get('PUB_HOST') ?? '0.0.0.0'
  const port = portFrom('PUB_PORT', get('PUB_PORT') ?? '8008')
  const externalHost = get('PUB_EXTERNAL_HOST') ?? (WILDCARD_HOSTS.has(host) ? undefined : host)
  if (externalHost === undefined) {
    throw new SettingsError(`PUB_EXTERNAL_HOST is required when PUB_HOST is a wildcard (${host}): peers need a host to dial`)
  }
  checkHost('PUB_EXTERNAL_HOST', externalHost)
  const inviteHost = get('PUB_INVITE_HOST') ?? externalHost
  checkHost('PUB_INVITE_HOST', inviteHost)

  const owner = feedFrom('PUB_OWNER', get('PUB_OWNER'))
  if (owner === undefined) throw new SettingsError('PUB_OWNER is required: the feed id of the pub owner')
  const provider = feedFrom('PUB_PROVIDER', get('PUB_PROVIDER'))

  const rawName = get('PUB_NAME')
  if (rawName === undefined) throw new SettingsError('PUB_NAME is required: the name shown in the about message and web view')
  if (!isLine(rawName, PUB_NAME_MAX)) throw new SettingsError(`PUB_NAME is not a valid name (1-${PUB_NAME_MAX} characters, one line): ${JSON.stringify(rawName)}`)

  const capsFile = get('PUB_CAPS_FILE')
  let caps = get('PUB_CAPS')
  if (caps === undefined && capsFile !== undefined) caps = readSettingFile('PUB_CAPS_FILE', capsFile, readFile).trim()
  if (caps !== undefined && !CAPS_RE.test(caps)) throw new SettingsError('PUB_CAPS must be base64 of 32 bytes (the shs network key)')

  const keyFile = get('PUB_KEY_FILE')
  if (keyFile !== undefined && !isAbsolute(keyFile)) throw new SettingsError(`PUB_KEY_FILE must be an absolute path, got ${keyFile}`)

  const webPort = get('PUB_WEB_PORT') ?? 'off'
  const web = webPort === 'off' ? null : { host: get('PUB_WEB_HOST') ?? host, port: portFrom('PUB_WEB_PORT', webPort) }
  if (web && web.port === port && web.host === host) throw new SettingsError('PUB_WEB_PORT must differ from PUB_PORT')

  const allowPrivate = boolFrom('PUB_ALLOW_PRIVATE', get('PUB_ALLOW_PRIVATE')) ?? isPrivateHost(inviteHost)
  const hops = intFrom('PUB_HOPS', get('PUB_HOPS') ?? '1', 0, 6)
  const blobMaxBytes = intFrom('PUB_BLOBS_MAX', get('PUB_BLOBS_MAX') ?? String(DEFAULT_BLOB_MAX_BYTES), 1024, 1024 * 1024 * 1024)
  const throttles = throttlesFrom(get('PUB_DB2_THROTTLES'))
  const maxCpuText = get('PUB_MAX_CPU')
  const maxCpu = maxCpuText === undefined ? undefined : intFrom('PUB_MAX_CPU', maxCpuText, 1, 100)
  const pacing = pacingFrom(get('PUB_INGEST_BACKLOG'), heapLimitBytes)
  const disk = diskFrom(get('PUB_DISK_MIB'), get('PUB_DISK_KIB'), get('PUB_DISK_CHECK_MS'))
  const selfCheckMs = intFrom('PUB_SELF_CHECK_MS', get('PUB_SELF_CHECK_MS') ?? '30000', 1000, 600_000)

  return {
    dataDir,
    host,
    port,
    externalHost,
    inviteHost,
    allowPrivate,
    owner,
    provider,
    name: rawName,
    caps,
    keyFile,
    web,
    hops,
    blobMaxBytes,
    throttles,
    maxCpu,
    pacing,
    disk,
    selfCheckMs,
  }
}

// Measuring walks the blobs folder: twice a minute keeps it cheap and still catches a filling pub early.
const DEFAULT_DISK_CHECK_MS = 30_000

function diskFrom(mib: string | undefined, kib: string | undefined, checkMs: string | undefined): PubSettings['disk'] {
  const every = checkMs === undefined ? DEFAULT_DISK_CHECK_MS : intFrom('PUB_DISK_CHECK_MS', checkMs, 50, 3_600_000)
  // KiB: small allowances for tests and trials; it wins over the plan's MiB.
  if (kib !== undefined) return { allowedBytes: intFrom('PUB_DISK_KIB', kib, 1, 2 ** 34) * 1024, checkMs: every }
  if (mib === 'off') return null
  return { allowedBytes: intFrom('PUB_DISK_MIB', mib ?? String(DEFAULT_DISK_MIB), 1, 2 ** 24) * 1024 * 1024, checkMs: every }
}

/** True for hosts ssb-invite calls private: loopback, RFC 1918, link-local, `localhost`. */
export function isPrivateHost(host: string): boolean {
  return PRIVATE_HOST_RE.test(host)
}

function portFrom(name: string, text: string): number {
  return intFrom(name, text, 1, 65535)
}

function intFrom(name: string, text: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text)) throw new SettingsError(`${name} must be a whole number, got ${JSON.stringify(text)}`)
  const value = Number(text)
  if (value < min || value > max) throw new SettingsError(`${name} must be between ${min} and ${max}, got ${value}`)
  return value
}

function boolFrom(name: string, text: string | undefined): boolean | undefined {
  if (text === undefined) return undefined
  if (/^(1|true|yes|on)$/i.test(text)) return true
  if (/^(0|false|no|off)$/i.test(text)) return false
  throw new SettingsError(`${name} must be true or false, got ${JSON.stringify(text)}`)
}

function feedFrom(name: string, text: string | undefined): FeedId | undefined {
  if (text === undefined) return undefined
  if (!isFeedId(text)) throw new SettingsError(`${name} must be a feed id like @<base64>.ed25519, got ${JSON.stringify(text)}`)
  return text
}

function checkHost(name: string, host: string): void {
  const hostname = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
  if (isIP(host) === 0 && !hostname.test(host)) throw new SettingsError(`${name} must be an IP address or a host name, got ${JSON.stringify(host)}`)
  if (WILDCARD_HOSTS.has(host)) throw new SettingsError(`${name} cannot be a wildcard address (${host}): peers could not dial it`)
}

function throttlesFrom(text: string | undefined): PubSettings['throttles'] {
  if (text === undefined) return DEFAULT_THROTTLES
  const parts = text.split(',').map((p) => p.trim())
  if (parts.length !== 3) throw new SettingsError('PUB_DB2_THROTTLES must be three numbers in ms: addBatch,flushDebounce,writeTimeout')
  const [addBatch, flushDebounce, writeTimeout] = parts.map((p) => intFrom('PUB_DB2_THROTTLES', p, 0, 60_000)) as [number, number, number]
  return { addBatch, flushDebounce, writeTimeout }
}

// A few hundred messages in flight keep db2 busy (it batches per feed) while holding well under a MB of them.
const DEFAULT_PACING = { high: 400, low: 100 }
/**
 * A 20,000-message burst needs ~33-36 MiB of V8 old space at the default backlog (bench/density.ts): with the 28 MiB a
 * 64 MiB limit gives (image/entrypoint.sh) the pub died of heap exhaustion within seconds, as it did before blobs and
 * the replication scope. A quarter of the backlog carries the burst in 28 MiB, ~20% slower; heaps this small get it.
 */
const SMALL_HEAP_BYTES = 40 * 1024 * 1024
const SMALL_HEAP_PACING = { high: 100, low: 25 }

function pacingFrom(text: string | undefined, heapLimitBytes: number): PubSettings['pacing'] {
  if (text === undefined) return heapLimitBytes < SMALL_HEAP_BYTES ? SMALL_HEAP_PACING : DEFAULT_PACING
  if (text === 'off') return null
  const parts = text.split(',').map((p) => p.trim())
  if (parts.length !== 2) throw new SettingsError('PUB_INGEST_BACKLOG must be "high,low" (messages waiting to be stored) or off')
  const [high, low] = parts.map((p) => intFrom('PUB_INGEST_BACKLOG', p, 1, 1_000_000)) as [number, number]
  if (low >= high) throw new SettingsError('PUB_INGEST_BACKLOG: low must be below high')
  return { high, low }
}

function readSettingFile(name: string, path: string, readFile: ReadFile): string {
  try {
    return readFile(path)
  } catch (err) {
    throw new SettingsError(`${name}: cannot read ${path}`, { cause: err })
  }
}
