/** SSB identities: ed25519 key pairs in ssb-keys' format, on disk and fresh, and the main network's caps. */
import { createRequire } from 'node:module'
import type { FeedId } from '../protocol/ids.js'

const require = createRequire(import.meta.url)
const ssbKeys: {
  loadOrCreateSync(path: string): SsbKeys
  generate(curve?: string, seed?: Buffer): SsbKeys
  loadSync(path: string): SsbKeys
} = require('ssb-keys')
const caps: { shs: string; sign: string | null } = require('ssb-caps')

/** An ed25519 key pair in ssb-keys' format. */
export interface SsbKeys {
  curve: 'ed25519'
  public: string
  private: string
  id: FeedId
}

/** The main-network secret-handshake capability (Patchwork's). */
export const MAIN_NETWORK_CAPS = caps.shs

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
