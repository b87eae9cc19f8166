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
import { Box1KeyTable } from './box1-key-table.js'

const require = createRequire(import.meta.url)
const ssbKeys: { ssbSecretKeyToPrivateBoxSecret(keys: unknown): Buffer } = require('ssb-keys')
// The private-box that ssb-keys (a dependency of ours) and ssb-box use: box1 itself, split into its two steps.
const privateBox: {
  multibox_open_key(ctxt: Buffer, sk: Buffer): Buffer | undefined | null
  multibox_open_body(ctxt: Buffer, key: Buffer): Buffer | undefined | null
} = createRequire(require.resolve('ssb-keys'))('private-box')
// The libsodium binding private-box's chloride calls: the cache opens a remembered message's body with it directly.
const sodium: {
  crypto_secretbox_open_easy(out: Buffer, ciphertext: Buffer, nonce: Buffer, key: Buffer): boolean
  crypto_secretbox_MACBYTES: number
} = createRequire(createRequire(require.resolve('ssb-keys')).resolve('private-box'))('sodium-native')

/** The cache's file name in an sbot's folder. */
export const BOX1_KEYS_FILE = 'box1-keys'

const HASH_BYTES = 16
const KEY_BYTES = 33
const RECORD_BYTES = HASH_BYTES + 1 + KEY_BYTES
const FLUSH_MS = 1000
/** box1's layout (private-box): a nonce, a one-time public key, then one 49-byte key slot per recipient, then the body. */
const NONCE_BYTES = 24
const HEADER_BYTES = NONCE_BYTES + 32
const SLOT_BYTES = 32 + 1 + 16

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
  /** Per hash: the message key, or not ours. */
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
      // The one-shot digest, as a latin1 ('binary') string: a third of createHash's cost per message, and no buffer per message.
      const id = digest('sha256', ciphertext, 'binary').slice(0, HASH_BYTES)
      const hit = known.find(id)
      if (hit >= 0) {
        stats.hits++
        if (!known.isOurs(hit)) return null
        known.copyKey(hit, keyScratch)
        return openBody(ciphertext, keyScratch)
      }
      stats.misses++
      sk ??= ssbKeys.ssbSecretKeyToPrivateBoxSecret(opts.keys)
      const key = privateBox.multibox_open_key(ciphertext, sk) ?? null
      const plain = key ? privateBox.multibox_open_body(ciphertext, key) : null
      // A key that opens the header but not the body: a broken message; say no and remember nothing.
      if (key && !plain) return null
      const record = Buffer.alloc(RECORD_BYTES)
      record.write(id, 0, 'latin1')
      if (key) {
        record[HASH_BYTES] = 1
        key.copy(record, HASH_BYTES + 1)
      }
      known.add(record)
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

/** One scratch buffer for a remembered key (its length byte, then the message key): sodium reads it synchronously. */
const keyScratch = Buffer.alloc(KEY_BYTES)

/**
 * private-box's `multibox_open_body` with a remembered key, without its costs per message: its output buffer comes
 * from `new Buffer(n)` (a deprecation check and an unpooled, zeroed allocation each time, ~0.3 s and tens of MB of
 * garbage at 100,000 messages); here the output is pooled (`allocUnsafe`). `key`: its length byte, then the message key.
 */
export function openBody(ciphertext: Buffer, key: Buffer): Buffer | null {
  const start = HEADER_BYTES + key[0]! * SLOT_BYTES
  const bodyBytes = ciphertext.length - start - sodium.crypto_secretbox_MACBYTES
  if (bodyBytes < 0) return null
  const out = Buffer.allocUnsafe(bodyBytes)
  const ok = sodium.crypto_secretbox_open_easy(out, ciphertext.subarray(start), ciphertext.subarray(0, NONCE_BYTES), key.subarray(1, KEY_BYTES))
  return ok ? out : null
}

/** Read the cache file; a torn last record (a crash mid-write) is ignored. */
function load(file: string): Box1KeyTable {
  if (!existsSync(file)) {
    closeSync(openSync(file, 'a', 0o600))
    return new Box1KeyTable(HASH_BYTES, RECORD_BYTES)
  }
  return new Box1KeyTable(HASH_BYTES, RECORD_BYTES, readFileSync(file))
}
