/**
 * The provider's identity on disk: what a backup holds (its key, its settings, every message of its own feed, and its
 * private journals: placements, payments and members, which never go on the feed), reading them out, and putting them
 * back into a fresh data folder. Messages go back through ssb-db2's `add`, so each signature and the chain of previous-links is checked
 * again: a tampered backup cannot be restored.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import { FeedId } from '../protocol/ids.js'
import { call, clientSource, connectClient } from '../ssb/client.js'
import { keysFileText, loadKeys, type SsbKeys } from '../ssb/keys.js'
import { collect } from '../ssb/pull.js'
import { applyDb2Patches } from '../ssb/patches.js'
import { ebtScopePlugin } from '../ssb/ebt-scope.js'
import { closeSbot, createSbot, type Sbot } from '../ssb/server.js'
import { sbotConfig, socketPath } from '../ssb/config.js'
import { journalText } from '../ssb/journal.js'
import { MEMBERS_FILE } from '../ssb/private-members.js'
import { RECORDS_FILE } from '../../plugins/buttcloud/private-records.js'
import type { ProviderSettings } from './settings.js'

export const BACKUP_FORMAT = 'buttcloud/provider-backup'

/** One signed message of the provider's feed, as it was published (private ones still boxed). */
const SignedMessage = z.looseObject({ author: z.string(), sequence: z.number().int().min(1), signature: z.string() })
type SignedMessage = z.infer<typeof SignedMessage>

export const ProviderBackup = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(1),
  createdAt: z.number(),
  id: FeedId,
  /** The key file's text, as ssb-keys writes it. */
  secret: z.string().min(1),
  /** The settings file the provider ran with (null when it ran on built-in defaults only). */
  settings: z.record(z.string(), z.unknown()).nullable(),
  messages: z.array(SignedMessage),
  /**
   * The private journals, by path under the data folder (absent in backups made before they existed, whose records
   * are all on the feed). Whole lines only, as written.
   */
  journals: z.record(z.enum([RECORDS_FILE, MEMBERS_FILE]), z.string()).optional(),
})
export type ProviderBackup = z.infer<typeof ProviderBackup>

/** Written into a restored data folder; the provider will not start while it is there. */
export const RESTORE_PENDING_FILE = 'restore-pending.json'

export interface RestorePending {
  restoredAt: number
  /** The last sequence of the provider's feed the backup held. */
  backupLatest: number
}

/** The restore marker of a data folder, if it has one. */
export function restorePending(dataPath: string): RestorePending | undefined {
  const file = join(dataPath, RESTORE_PENDING_FILE)
  if (!existsSync(file)) return undefined
  return JSON.parse(readFileSync(file, 'utf8')) as RestorePending
}

/** Remove the marker: the feed has caught up (or the operator said no peer can have newer messages). */
export function clearRestorePending(dataPath: string): void {
  rmSync(join(dataPath, RESTORE_PENDING_FILE), { force: true })
}

/** Write a file for its owner only (0600), whatever the umask. */
export function writePrivateFile(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 })
  chmodSync(path, 0o600)
}

/**
 * An sbot on the provider's data folder with the standard stack and nothing of ButtCloud, so it publishes nothing.
 * It dials no one by itself; `network` lets it listen (on 127.0.0.1, a free port) and replicate with peers it is
 * told to connect to.
 */
export function openOwnSbot(settings: ProviderSettings, keys: SsbKeys, opts: { network: boolean }): Sbot {
  const config = sbotConfig({
    path: settings.path,
    keys,
    host: '127.0.0.1',
    port: 0,
    caps: settings.caps ?? undefined,
    throttles: settings.throttles,
    unixSocket: false,
    // Replicate only the provider's own feed while it catches up: nothing else is needed to publish safely.
    hops: 0,
  })
  applyDb2Patches()
  // It dials the provider's customers (catch-up): like the provider, it tells each of them of no other customer.
  return createSbot({ ...config, conn: { autostart: false, populatePubs: false }, replicationScheduler: { autostart: opts.network, partialReplication: null } }, [ebtScopePlugin()])
}

/** Every message of `id`'s feed, in order, as signed (private ones re-boxed by createHistoryStream). */
async function historyOf(source: () => ReturnType<typeof clientSource>): Promise<SignedMessage[]> {
  const values = (await collect(source())) as SignedMessage[]
  return values.sort((a, b) => a.sequence - b.sequence)
}

/**
 * Read the provider's own feed: from the running provider over its local socket (full rights, no handshake), or,
 * when it is not running, from its data folder directly.
 */
export async function readOwnFeed(settings: ProviderSettings, keys: SsbKeys): Promise<{ messages: SignedMessage[]; online: boolean }> {
  const socket = socketPath(settings.path)
  if (existsSync(socket)) {
    try {
      const client = await connectClient(keys, `unix:${socket}~noauth`, { caps: settings.caps ?? undefined })
      try {
        return { messages: await historyOf(() => clientSource(client, 'createHistoryStream', { id: keys.id, keys: false })), online: true }
      } finally {
        client.close(() => undefined)
      }
    } catch {
      // A socket file left by a provider that is gone: read the folder instead.
    }
  }
  const sbot = openOwnSbot(settings, keys, { network: false })
  try {
    const history = sbot.createHistoryStream as (opts: object) => ReturnType<typeof clientSource>
    return { messages: await historyOf(() => history({ id: keys.id, keys: false })), online: false }
  } finally {
    await closeSbot(sbot)
  }
}

/** Build the backup of the provider whose settings (and settings file, if any) are given. */
export async function makeBackup(settings: ProviderSettings, settingsFile: string | undefined, now = Date.now()): Promise<ProviderBackup & { online: boolean }> {
  const keyFile = join(settings.path, 'secret')
  if (!existsSync(keyFile)) throw new Error(`no provider key at ${keyFile}: is ${settings.path} a provider's data folder?`)
  const keys = loadKeys(keyFile)
  const { messages, online } = await readOwnFeed(settings, keys)
  const raw = settingsFile && existsSync(settingsFile) ? (JSON.parse(readFileSync(settingsFile, 'utf8')) as Record<string, unknown>) : null
  // Read after the feed: a record a running provider writes meanwhile is in the journal, never lost to the backup's gap.
  const journals = Object.fromEntries(PRIVATE_JOURNALS.map((f) => [f, journalText(join(settings.path, f))]))
  return { format: BACKUP_FORMAT, version: 1, createdAt: now, id: keys.id, secret: keysFileText(keys), settings: raw, messages, journals, online }
}

/** Read and check a backup file; throws with what is wrong. */
export function readBackup(file: string): ProviderBackup {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`cannot read the backup ${file}`, { cause: err })
  }
  const backup = ProviderBackup.safeParse(parsed)
  if (!backup.success) throw new Error(`${file} is not a provider backup: ${backup.error.issues[0]?.path.join('.')}: ${backup.error.issues[0]?.message}`)
  // Zod's output puts the fields it knows first; a message's signature covers its fields in their published order.
  const b = { ...backup.data, messages: (parsed as { messages: ProviderBackup['messages'] }).messages }
  b.messages.forEach((m, i) => {
    if (m.author !== b.id) throw new Error(`${file}: message ${i + 1} is by ${m.author}, not the provider ${b.id}`)
    if (m.sequence !== i + 1) throw new Error(`${file}: message ${i + 1} has sequence ${m.sequence}; the feed must be whole from 1`)
  })
  return b
}

/** The journals a backup carries (src/ssb/journal.ts): what only the provider reads, kept off its feed. */
const PRIVATE_JOURNALS = [RECORDS_FILE, MEMBERS_FILE] as const

/** Why a restore was refused rather than failed: the target already holds something that must not be overwritten. */
export class RestoreRefused extends Error {}

/**
 * Put a backup into the (new) data folder of `settings`: the key (0600), then every message through ssb-db2's
 * validation, then the marker that keeps the provider from starting until it has caught up with its peers.
 */
export async function restoreBackup(backup: ProviderBackup, settings: ProviderSettings, now = Date.now()): Promise<RestorePending> {
  const keyFile = join(settings.path, 'secret')
  if (existsSync(keyFile)) throw new RestoreRefused(`${settings.path} already holds a key: restore only into a new, empty data folder`)
  if (existsSync(join(settings.path, 'db2'))) throw new RestoreRefused(`${settings.path} already holds a log: restore only into a new, empty data folder`)
  mkdirSync(settings.path, { recursive: true, mode: 0o700 })
  writePrivateFile(keyFile, backup.secret)
  const keys = loadKeys(keyFile)
  if (keys.id !== backup.id) {
    rmSync(keyFile, { force: true })
    throw new Error(`the backup's key is ${keys.id}, but it says it is ${backup.id}`)
  }
  const pending: RestorePending = { restoredAt: now, backupLatest: backup.messages.length }
  // The marker first: a restore cut short must not leave a folder the provider would start from.
  writePrivateFile(join(settings.path, RESTORE_PENDING_FILE), `${JSON.stringify(pending)}\n`)
  for (const [file, text] of Object.entries(backup.journals ?? {})) {
    mkdirSync(dirname(join(settings.path, file)), { recursive: true, mode: 0o700 })
    writePrivateFile(join(settings.path, file), text)
  }
  const sbot = openOwnSbot(settings, keys, { network: false })
  try {
    for (const value of backup.messages) {
      try {
        await call(sbot.db.add, value)
      } catch (err) {
        throw new Error(`message ${(value as { sequence: number }).sequence} of the backup does not verify: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
      }
    }
    await new Promise<void>((resolve) => sbot.db.onDrain(() => resolve()))
  } finally {
    await closeSbot(sbot)
  }
  return pending
}
