/**
 * The protocol's plain rules, without zod: id formats, single-line text, disk levels. The schemas (ids.ts,
 * common.ts, disk.ts, offer.ts) are built from these, and the hosted pub checks its settings with them directly:
 * loading zod and building the schemas cost a starting pub 100-300 ms of CPU before it could serve (bench/provisioning).
 */
import type { FeedId, MultiserverAddress } from './ids.js'

// 32 bytes in canonical base64: 42 free chars, one char whose low 4 bits are zero, then '='.
const B64_32 = '[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]='

export const FEED_ID_RE = new RegExp(`^@${B64_32}\\.ed25519$`)
export const MSG_ID_RE = new RegExp(`^%${B64_32}\\.sha256$`)
/** net:host:port~shs:key, the one transport/transform pair a pub needs. */
export const MULTISERVER_RE = new RegExp(`^net:[A-Za-z0-9.\\-:\\[\\]]{1,253}:[0-9]{1,5}~shs:${B64_32.slice(0, -1)}=$`)

/** Is `value` a feed id (`@<base64>.ed25519`)? */
export function isFeedId(value: unknown): value is FeedId {
  return typeof value === 'string' && FEED_ID_RE.test(value)
}

/** The base64 key inside a feed id (what `shs:` carries). */
export function feedKey(id: FeedId): string {
  return id.slice(1, -'.ed25519'.length)
}

/** The multiserver address of an SSB server on host:port with the given identity. */
export function multiserverAddress(host: string, port: number, id: FeedId): MultiserverAddress {
  return `net:${host}:${port}~shs:${feedKey(id)}`
}

/** Single-line human text: no control characters. */
// eslint-disable-next-line no-control-regex
export const NO_CONTROL_CHARS_RE = /^[^\u0000-\u001f\u007f]*$/

/** The longest pub name (its about message and web view show it). */
export const PUB_NAME_MAX = 64

/** Is `text` one line of 1 to `max` characters without control characters? */
export function isLine(text: string, max: number): boolean {
  return text.length >= 1 && text.length <= max && NO_CONTROL_CHARS_RE.test(text)
}

/** A plan's disk allowance when it names none (MiB). */
export const DEFAULT_DISK_MIB = 1024

/** Share of the allowance from which the pub says `warn` (and its owner is told). */
export const DISK_WARN_SHARE = 0.9

export const DISK_LEVELS = ['ok', 'warn', 'full'] as const

/** The level for `used` bytes of `allowed`: `warn` from 90% of the allowance, `full` from 100%. */
export function diskLevel(usedBytes: number, allowedBytes: number): (typeof DISK_LEVELS)[number] {
  if (usedBytes >= allowedBytes) return 'full'
  return usedBytes >= allowedBytes * DISK_WARN_SHARE ? 'warn' : 'ok'
}
