/** Real sbots for tests: providers and plain db2 peers on 127.0.0.1, in temp folders, closed in teardown. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startProvider, type ProviderDeps, type RunningProvider } from '../src/provider/provider.js'
import { ProviderSettings } from '../src/provider/settings.js'
import { backupDirFromSettings } from '../src/provider/runtime-from-settings.js'
import { call } from '../src/ssb/client.js'
import { queryTypes } from '../src/ssb/db2.js'
import { isStatusPost, statusOfPost } from '../src/protocol/post.js'
import { generateKeys, keysFileText, type SsbKeys } from '../src/ssb/keys.js'
import type { SsbMsg } from '../src/ssb/message.js'
import { collect } from '../src/ssb/pull.js'
import { createLogger, logTo, silentLog } from '../src/log/logger.js'
import { applyDb2Patches } from '../src/ssb/patches.js'
import { closeSbot, createSbot, type Sbot, type SbotPlugin } from '../src/ssb/server.js'
import { sbotConfig } from '../src/ssb/config.js'
import { waitFor } from './wait.js'

const leftovers = new Set<string>()
process.once('exit', () => {
  for (const dir of leftovers) rmSync(dir, { recursive: true, force: true })
})

/**
 * Remove a server's folder when this test process exits: ssb-db2 keeps writing index files for a moment
 * after close() calls back (docs/ssb-stack.md), and deleting the folder under it makes those writes throw.
 */
export function removeLater(dir: string): void {
  leftovers.add(dir)
}

/** Settings for a test provider: a temp folder, port 0, fast passes. */
export function testProviderSettings(overrides: Partial<ProviderSettings> = {}): ProviderSettings {
  return ProviderSettings.parse({
    path: mkdtempSync(join(tmpdir(), 'bc-provider-')),
    host: '127.0.0.1',
    port: 0,
    externalHost: '127.0.0.1',
    allowPrivate: true,
    buttcloud: { name: 'Test provider', passIntervalMs: 1000, ...(overrides.buttcloud ?? {}) },
    // Port 0: the site's links are unused in free mode; payment tests pick a port and set publicUrl to match.
    web: { host: '127.0.0.1', port: 0, publicUrl: 'http://127.0.0.1:8119' },
    ...Object.fromEntries(Object.entries(overrides).filter(([k]) => k !== 'buttcloud')),
  })
}

/** Start a provider for a test; `stop` closes it and (unless kept) removes its folder. */
export async function startTestProvider(
  settings = testProviderSettings(),
  deps: ProviderDeps = {},
  env: NodeJS.ProcessEnv = {},
): Promise<RunningProvider & { settings: ProviderSettings; stop(opts?: { keepData?: boolean }): Promise<void> }> {
  // BUTTCLOUD_TEST_LOG=1 shows the provider's log lines while debugging a test.
  const log = process.env.BUTTCLOUD_TEST_LOG ? logTo(createLogger('provider')) : silentLog
  const provider = await startProvider(settings, { log, ...deps }, env)
  return {
    ...provider,
    settings,
    async stop(opts = {}) {
      await provider.close()
      // Local pubs outlive their provider (as Swarm services do); a test that is done with the provider ends them.
      if (!opts.keepData) await endLocalPubs(settings.path)
      if (!opts.keepData) {
        removeLater(settings.path)
        removeLater(backupDirFromSettings(settings))
      }
    },
  }
}

/** End the local runtime's pub processes under a provider's data folder, by their pid files; resolves once they are gone. */
export async function endLocalPubs(providerPath: string): Promise<void> {
  const pubs = join(providerPath, 'pubs')
  if (!existsSync(pubs)) return
  const pids: number[] = []
  for (const name of readdirSync(pubs)) {
    try {
      const pid = Number(readFileSync(join(pubs, name, 'pid'), 'utf8'))
      // Only a pub of this provider: the pub program with its data folder under this one.
      if (pid > 0 && readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`PUB_DATA=${join(pubs, name, 'data')}`)) {
        process.kill(pid, 'SIGKILL')
        pids.push(pid)
      }
    } catch {
      // No pid file, or the process is gone already.
    }
  }
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
    } catch {
      return false
    }
  }
  await waitFor('local pubs to end', () => (pids.some(alive) ? undefined : true), { timeoutMs: 10_000 })
}

export interface TestPeer {
  sbot: Sbot
  id: Sbot['id']
  dir: string
  stop(): Promise<void>
}

/** How long ssb-db2 and jitdb go on writing index files after close (docs/ssb-stack.md): a folder goes only then. */
export const LATE_INDEX_WRITES_MS = 1500

/** Remove closed servers' folders once their late index writes are done. */
export async function removeAfterLateWrites(dirs: readonly string[]): Promise<void> {
  if (dirs.length === 0) return
  await new Promise((resolve) => setTimeout(resolve, LATE_INDEX_WRITES_MS))
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
}

/** A db2 sbot a test or benchmark started, with its keys and folder (which it does not remove). */
export interface StartedSbot {
  sbot: Sbot
  keys: SsbKeys
  dir: string
}

/**
 * The one way tests and benchmarks start an in-process db2 sbot: on 127.0.0.1 in a fresh temp folder (`prefix`)
 * holding its `secret` file, with the db2 patches applied first, as the provider and the pub apply them.
 */
export function startSbot(opts: { prefix?: string; keys?: SsbKeys; port?: number; hops?: number; unixSocket?: boolean; allowPrivate?: boolean; plugins?: SbotPlugin[] } = {}): StartedSbot {
  const dir = mkdtempSync(join(tmpdir(), opts.prefix ?? 'bc-sbot-'))
  const keys = opts.keys ?? generateKeys()
  writeFileSync(join(dir, 'secret'), keysFileText(keys), { mode: 0o600 })
  applyDb2Patches()
  const config = sbotConfig({ path: dir, keys, host: '127.0.0.1', port: opts.port ?? 0, allowPrivate: opts.allowPrivate, hops: opts.hops, unixSocket: opts.unixSocket })
  return { sbot: createSbot(config, opts.plugins), keys, dir }
}

/** A plain db2 sbot (a user or a bystander) on 127.0.0.1. */
export function startPeer(opts: { hops?: number } = {}): TestPeer {
  const { sbot, dir } = startSbot({ prefix: 'bc-peer-', allowPrivate: true, hops: opts.hops })
  return {
    sbot,
    id: sbot.id,
    dir,
    async stop() {
      await closeSbot(sbot)
      removeLater(dir)
    },
  }
}

/** Join `peer` to a provider with an invite and keep a connection open (db2 peers don't redial by themselves). */
export async function joinWithInvite(peer: Sbot, invite: string, address: string): Promise<void> {
  await call(peer.invite.accept!, invite)
  // Remembered as a pub, ssb-conn's scheduler redials it if the connection drops (as on a loaded machine).
  peer.conn.remember(address, { type: 'pub', autoconnect: true })
  await call(peer.conn.connect, address)
}

/**
 * Every message of these types in a db2 sbot's log (private ones decrypted where it can). Asked for
 * `buttcloud/status`, it also gives the provider's status posts (docs/PROTOCOL.md), each read as the typed status it
 * carries, by the protocol's own parser: tests check what the owner was told, in either form.
 */
export async function messagesOfType<C = Record<string, unknown>>(sbot: Sbot, ...types: string[]): Promise<SsbMsg<C>[]> {
  const wantStatus = types.includes('buttcloud/status')
  const queried = types.includes('post') || !wantStatus ? types : [...types, 'post']
  const msgs = (await collect(queryTypes(sbot.db, queried, { live: 'old' }))) as SsbMsg[]
  const out: SsbMsg[] = []
  for (const m of msgs) {
    const status = wantStatus && isStatusPost(m.value.content) ? statusOfPost(m.value.content) : undefined
    if (status?.ok) out.push({ ...m, value: { ...m.value, content: status.status } })
    if (!status && types.includes((m.value.content as { type?: string } | undefined)?.type ?? '')) out.push(m)
  }
  return out as SsbMsg<C>[]
}
