/**
 * Remembers, per box1 ciphertext, whether this sbot can open it and with which message key, in a file beside the
 * log. ssb-db2 keeps private messages encrypted in its log and decrypts them on every read, and rebuilding an index
 * reads the whole log: with box1 each message costs a curve25519 scalar multiplication to find its key (most of a
 * provider's cold start, docs/ssb-stack.md), and a message not addressed to us costs the same to learn that it is
 * not. With the key remembered, opening is one secretbox; a message not for us is not tried again.
 *
 * Entries are keyed by a hash of the whole ciphertext, so a message copying another's nonce or header gets no
 * answer but its own. The file holds message keys of private messages: as secret as the key file beside it (0600).
 * It is only a cache: lost or cut short, messages are tried again and their keys written again.
 */
import { hash as digest } from 'node:crypto'
import { appendFileSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Sbot } from './server.js'

const require = createRequire(import.meta.url)
const ssbKeys: { ssbSecretKeyToPrivateBoxSecret(keys: unknown): Buffer } = require('ssb-keys')
// The private-box that ssb-keys (a dependency of ours) and ssb-box use: box1 itself, split into its two steps.
const privateBox: {
  multibox_open_key(ctxt: Buffer, sk: Buffer): Buffer | undefined | null
  multibox_open_body(ctxt: Buffer, key: Buffer): Buffer | undefined | null
} = createRequire(require.resolve('ssb-keys'))('private-box')

/** The cache's file name in an sbot's folder. */
export const BOX1_KEYS_FILE = 'box1-keys'

const HASH_BYTES = 16
const KEY_BYTES = 33
const RECORD_BYTES = HASH_BYTES + 1 + KEY_BYTES
const FLUSH_MS = 1000

/** The encryption format entry ssb-db2 keeps per sbot (ssb-box's, for box1). */
interface EncryptionFormat {
  name: string
  decrypt(ciphertext: Buffer, opts: { keys: { private: string } }): Buffer | null | undefined
  [more: string]: unknown
}

export interface Box1KeyCache {
  /** Lookups answered from the cache, and ciphertexts tried the slow way. */
  readonly stats: { hits: number; misses: number }
  /** Write what is pending (on close). */
  flush(): void
}

/**
 * Put the cache in front of this sbot's box1 decryption (only this sbot's: ssb-db2 keeps a list of formats per
 * instance). Call before ssb-db2 reads the log, that is, from a plugin's init or right after the sbot is built.
 */
export function installBox1KeyCache(sbot: Sbot, file: string): Box1KeyCache | undefined {
  const formats = (sbot.db as unknown as { encryptionFormats?: EncryptionFormat[] }).encryptionFormats
  const index = formats?.findIndex((f) => f.name === 'box') ?? -1
  if (!formats || index < 0) return undefined
  const box = formats[index]!
  /** Hash -> the message key (latin1), or null: not for us. */
  const known = load(file)
  const stats = { hits: 0, misses: 0 }
  let pending: Buffer[] = []
  /** Our curve25519 secret key, derived from the sbot's keys on first use. */
  let sk: Buffer | undefined
  let timer: NodeJS.Timeout | undefined
  const flush = () => {
    clearTimeout(timer)
    timer = undefined
    if (pending.length === 0) return
    const out = Buffer.concat(pending)
    pending = []
    try {
      appendFileSync(file, out, { mode: 0o600 })
    } catch {
      // Only a cache: what is not written is tried again next time.
    }
  }
  formats[index] = {
    ...box,
    decrypt(ciphertext, opts) {
      // The one-shot digest: a third of createHash's cost per message (~0.3 s at 100,000 messages).
      const hash = digest('sha256', ciphertext, 'buffer').subarray(0, HASH_BYTES)
      const id = hash.toString('latin1')
      const hit = known.get(id)
      if (hit !== undefined) {
        stats.hits++
        return hit === null ? null : privateBox.multibox_open_body(ciphertext, Buffer.from(hit, 'latin1'))
      }
      stats.misses++
      sk ??= ssbKeys.ssbSecretKeyToPrivateBoxSecret(opts.keys)
      const key = privateBox.multibox_open_key(ciphertext, sk) ?? null
      const plain = key ? privateBox.multibox_open_body(ciphertext, key) : null
      // A key that opens the header but not the body: a broken message; say no and remember nothing.
      if (key && !plain) return null
      known.set(id, key ? key.toString('latin1') : null)
      const record = Buffer.alloc(RECORD_BYTES)
      hash.copy(record, 0)
      if (key) {
        record[HASH_BYTES] = 1
        key.copy(record, HASH_BYTES + 1)
      }
      pending.push(record)
      if (!timer) {
        timer = setTimeout(flush, FLUSH_MS)
        timer.unref()
      }
      return plain
    },
  }
  return { stats, flush }
}

/** Read the cache file; a torn last record (a crash mid-write) is ignored. */
function load(file: string): Map<string, string | null> {
  const known = new Map<string, string | null>()
  if (!existsSync(file)) {
    closeSync(openSync(file, 'a', 0o600))
    return known
  }
  const buf = readFileSync(file)
  for (let at = 0; at + RECORD_BYTES <= buf.length; at += RECORD_BYTES) {
    const id = buf.toString('latin1', at, at + HASH_BYTES)
    known.set(id, buf[at + HASH_BYTES] === 1 ? buf.toString('latin1', at + HASH_BYTES + 1, at + RECORD_BYTES) : null)
  }
  return known
}
