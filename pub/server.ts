/**
 * Starting and stopping one hosted pub from its settings: key, SSB server, first-start messages, web view.
 * `main.ts` wraps this with process concerns (signals, exit codes); keeping them apart lets the steps be read
 * (and reasoned about) without the process plumbing.
 */
import { makePrivateTree } from '../src/files/private.js'
import { createServer } from 'node:net'
import type { FeedId, MultiserverAddress } from '../src/protocol/ids.js'
import { multiserverAddress } from '../src/protocol/text-checks.js'
import { loadKeys, loadOrCreateKeys, type SsbKeys } from '../src/ssb/keys.js'
import { applyDb2Patches } from '../src/ssb/patches.js'
import { quietSsbRefDeprecations } from '../src/ssb/quiet-ssb-ref.js'
import { closeSbot, createSbot, type Sbot, type SbotPlugin } from '../src/ssb/server.js'
import { sbotConfig, socketPath } from '../src/ssb/config.js'
import { firstStart, type FirstStartResult } from './first-start.js'
import { blobsConfig, pubBlobsPlugin, ssbBlobsPlugin } from './blobs.js'
import { inviteUsePlugin } from './invite-use.js'
import { replicationScopePlugin } from './replication-scope.js'
import { IngestGate, ingestPacingPlugin, usePacedNet } from './ingest-pacing.js'
import { whoamiOverSocket } from './health.js'
import { DiskAllowance, diskAllowancePlugin, guardBlobs } from './disk-allowance.js'
import { clearHealthFile, startSelfCheck, type SelfCheck } from './self-check.js'
import { MAIN_NETWORK_CAPS } from '../src/ssb/keys.js'
import { generatedKeyPath, type PubSettings } from './settings.js'
import type { WebView } from './web-view.js'

/** A pub that is up: serving SSB on its port and unix socket, and the web view when switched on. */
export interface RunningPub {
  sbot: Sbot
  id: FeedId
  address: MultiserverAddress
  /** What first-start published this time (empty on a restart). */
  published: FirstStartResult
  webPort: number | null
  /** Why the web view is not served although it was switched on (its port taken), else null. */
  webError: string | null
  /** The disk allowance's measurements (null when the pub has none). */
  disk: DiskAllowance | null
  /** Ingestion pacing figures (null when pacing is off). */
  ingest(): { backlog: number; maxBacklog: number; pauses: number } | null
  close(): Promise<void>
}

/** The pub's identity: the provider-issued key file when configured (it must exist), else one kept in the data folder. */
export function pubKeys(settings: PubSettings): SsbKeys {
  if (settings.keyFile === undefined) return loadOrCreateKeys(generatedKeyPath(settings.dataDir))
  try {
    return loadKeys(settings.keyFile)
  } catch (err) {
    throw new Error(`cannot read the pub key from PUB_KEY_FILE=${settings.keyFile}`, { cause: err })
  }
}

/** Start a pub; resolves once it answers whoami on its own unix socket and has published its first-start messages. */
export async function startPub(settings: PubSettings): Promise<RunningPub> {
  // Its log and keyring are its own: a folder an older version (or a looser umask) left readable is fixed here.
  makePrivateTree(settings.dataDir)
  // A health file a crashed run left must not vouch for this one before it serves.
  clearHealthFile(settings.dataDir)
  const keys = pubKeys(settings)
  // secret-stack reports "listening" even when the port is taken (docs/ssb-stack.md), so check first and fail clearly.
  await waitForPortFree(settings.host, settings.port)

  const config = sbotConfig({
    path: settings.dataDir,
    keys,
    host: settings.host,
    port: settings.port,
    externalHost: settings.externalHost,
    caps: settings.caps,
    masters: settings.provider ? [settings.owner, settings.provider] : [settings.owner],
    hops: settings.hops,
    throttles: settings.throttles,
    allowPrivate: settings.allowPrivate,
    unixSocket: true,
  })
  if (settings.maxCpu !== undefined) config.db2 = { ...config.db2, maxCpu: settings.maxCpu }
  // The scheduler counts hops from the pub itself; replicationScopePlugin counts them from the owner instead.
  config.replicationScheduler = { autostart: false, partialReplication: null }
  config.blobs = blobsConfig(settings.blobMaxBytes)

  const plugins: SbotPlugin[] = [
    inviteHostPlugin(settings.inviteHost),
    inviteUsePlugin(),
    replicationScopePlugin({ owner: settings.owner, hops: settings.hops }),
    ssbBlobsPlugin(),
    pubBlobsPlugin(),
  ]
  const disk = settings.disk ? new DiskAllowance({ ...settings.disk, dataDir: settings.dataDir, owner: settings.owner }) : null
  if (disk) plugins.push(diskAllowancePlugin(disk))
  const gate = settings.pacing ? new IngestGate(settings.pacing) : null
  if (gate) plugins.push(ingestPacingPlugin(gate))
  applyDb2Patches()
  // ssb-invite's use and create would print ssb-ref's deprecation stack into the pub's log on the first invite.
  quietSsbRefDeprecations()
  const sbot = createSbot(gate ? usePacedNet(config) : config, plugins)
  // A blob store (ssb-blobs) takes no new blobs while the allowance is used up.
  if (disk) guardBlobs(sbot as Parameters<typeof guardBlobs>[0], disk)
  let web: WebView | null = null
  let check: SelfCheck | null = null
  try {
    const published = await firstStart(sbot, { name: settings.name, owner: settings.owner })
    await whoamiOverSocket(socketPath(settings.dataDir), 5000)
    check = await startSelfCheck({
      dataDir: settings.dataDir,
      socketPath: socketPath(settings.dataDir),
      host: settings.host,
      port: settings.port,
      caps: settings.caps ?? MAIN_NETWORK_CAPS,
      id: sbot.id,
      intervalMs: settings.selfCheckMs,
      onChange: (healthy, reason) => process.stderr.write(healthy ? 'pub: self-check passes again\n' : `pub: self-check failing: ${reason}\n`),
    })
    const selfCheck = check
    const address = multiserverAddress(settings.externalHost, settings.port, sbot.id)
    // Imported only when switched on: hono and its server are a few MB of heap a pub without a web view never needs.
    // A web port someone else holds costs the page, never the pub: SSB service matters more than its web page.
    let webError: string | null = null
    if (settings.web) {
      const { startWebView } = await import('./web-view.js')
      web = await startWebView({ name: settings.name, id: sbot.id, address, owner: settings.owner }, settings.web).catch((err: Error) => {
        webError = [err.message, err.cause instanceof Error ? err.cause.message : ''].filter(Boolean).join(': ')
        return null
      })
    }
    const webView = web
    return {
      sbot,
      id: sbot.id,
      address,
      published,
      webPort: webView ? webView.port : null,
      webError,
      disk,
      ingest: () => (gate ? { backlog: gate.backlog, maxBacklog: gate.maxBacklog, pauses: gate.pauses } : null),
      close: async () => {
        selfCheck.stop()
        if (webView) await webView.close()
        await closeSbot(sbot)
      },
    }
  } catch (err) {
    check?.stop()
    if (web) await web.close()
    await closeSbot(sbot).catch(() => undefined)
    throw err
  }
}

/** The pub's SSB port is already in use on this machine: main.ts exits with PUB_EXIT.portTaken so the provider moves it. */
export class PortTakenError extends Error {
  override name = 'PortTakenError'
}

/**
 * How long a start waits for a taken port to come free before giving up with PortTakenError. The pub's own previous
 * task may still be closing it (Swarm's stop-first update, a start right after a stop): exiting at once would count
 * as a taken port, and two in a row would move the pub to another address for nothing.
 */
const PORT_WAIT_MS = 5000

async function waitForPortFree(host: string, port: number): Promise<void> {
  const deadline = Date.now() + PORT_WAIT_MS
  for (;;) {
    try {
      return await assertPortFree(host, port)
    } catch (err) {
      if (!(err instanceof PortTakenError) || Date.now() >= deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new PortTakenError(`cannot listen on ${host}:${port}: the port is in use`, { cause: err })
          : new Error(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err }),
      ),
    )
    probe.listen(port, host, () => probe.close(() => resolve()))
  })
}

type InviteCreate = Sbot['invite']['create']
type Hookable<F> = F & { hook(wrapper: (this: unknown, original: F, args: unknown[]) => unknown): void }

/**
 * Invite codes name the configured invite host unless the caller names one: ssb-invite would otherwise write the
 * first public address, which is the listen address's external host.
 */
function inviteHostPlugin(inviteHost: string): SbotPlugin {
  return {
    name: 'buttcloud-pub-invite-host',
    version: '1.0.0',
    init(sbot: Sbot) {
      const create = sbot.invite.create as Hookable<InviteCreate>
      create.hook(function (this: unknown, original, args) {
        const [first, ...rest] = args
        let opts: unknown = first
        if (typeof first === 'function') return original.call(this, { external: inviteHost }, first as Parameters<InviteCreate>[1])
        if (typeof first === 'number') opts = { uses: first, external: inviteHost }
        else if (first && typeof first === 'object' && !('external' in first)) opts = { ...first, external: inviteHost }
        return (original as (...a: unknown[]) => unknown).call(this, opts, ...rest)
      })
      return {}
    },
  }
}
