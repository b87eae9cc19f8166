/**
 * Part of the composition root: from the provider's settings to a runtime, nothing (`none`), child processes on
 * this machine (`local`) or Docker Swarm (`swarm`), with the concrete drivers wired in. Defaults live here, next to
 * the one place that uses them.
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensurePubImage } from '../../pub/image/build.js'
import { pushPubImage, registryRepo } from '../../pub/image/push.js'
import type { RuntimeFactory } from '../control/runtime.js'
import { createLocalDriver } from '../drivers/local.js'
import { createSwarmDriver } from '../drivers/swarm.js'
import type { Capacity } from '../planner/index.js'
import type { PubDriver } from '../control/driver.js'
import { silentLog, type Log } from '../log/logger.js'
import { dockerClient } from '../drivers/engine-endpoint.js'
import { createInvite, diskUsage, greet, whoami } from '../drivers/pub-client.js'
import { createOrchestratorRuntime, type OrchestratorOptions } from '../orchestrator/runtime.js'
import type { ProviderSettings } from './settings.js'

const DAY = 24 * 3600_000
const here = dirname(fileURLToPath(import.meta.url))
const ROOT = here.includes(join('dist', 'src')) ? resolve(here, '../../..') : resolve(here, '../..')

/** The seed's sizing: a 15 GiB hub with 1 GiB kept free; ports clear of the provider's own 8118/8119. */
export const RUNTIME_DEFAULTS = {
  hubMemoryMiB: 15 * 1024,
  headroomMiB: 1024,
  // Idle pubs use ~24 MiB of a 128 MiB limit (bench/density.ts): reserving a third of the limit, or the measured peak
  // x 1.5 when more, packs a 15 GiB hub with ~330 such pubs while each keeps its whole limit as its OOM bound.
  memoryOvercommit: 3,
  ports: { first: 8200, last: 8999 },
  retentionMs: 30 * DAY,
  // Docker's probe only reads the pub's health file (pub/self-check.ts), but each exec still costs the engine a runc
  // start; "up" does not wait for it (the runtime dials a starting pub itself), so it can be rare.
  healthIntervalMs: 120_000,
  settleMs: 15_000,
  statsIntervalMs: 5 * 60_000,
  // One small RPC per running pub: how full its disk allowance is (the pub itself measures every 30 s).
  diskIntervalMs: 60_000,
  backupTtlMs: 7 * DAY,
  backupMaxMiBPerPub: 1024,
  backupMaxMiBTotal: 10 * 1024,
} as const

const MiB = 1024 * 1024

/** Where backups go: their own folder, by default beside the data folder (`<path>-backups`), never inside it. */
export function backupDirFromSettings(settings: Pick<ProviderSettings, 'path' | 'runtime'>): string {
  return settings.runtime.backupDir ?? `${settings.path.replace(/\/+$/, '')}-backups`
}

/** This checkout's version: the tag `ensurePubImage` gives the image it builds. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
}

/** Where the capacity report is written (read by `node dist/src/provider/capacity.js`). */
export function capacityReportFile(settings: Pick<ProviderSettings, 'path'>): string {
  return join(settings.path, 'capacity.json')
}

/** The capacity settings the planner packs by. */
export function capacityFromSettings(settings: ProviderSettings): Capacity {
  const r = settings.runtime
  const capacity: Capacity = {
    hubMemoryMiB: r.hubMemoryMiB ?? RUNTIME_DEFAULTS.hubMemoryMiB,
    headroomMiB: r.headroomMiB ?? RUNTIME_DEFAULTS.headroomMiB,
    overcommit: r.memoryOvercommit ?? RUNTIME_DEFAULTS.memoryOvercommit,
    ports: r.ports ?? RUNTIME_DEFAULTS.ports,
    retentionMs: r.retentionMs ?? RUNTIME_DEFAULTS.retentionMs,
  }
  if (r.hubPrice) capacity.hubPrice = r.hubPrice
  return capacity
}

/** The driver the settings ask for (undefined for `none`). */
export function driverFromSettings(settings: ProviderSettings, log: Log = silentLog): PubDriver | undefined {
  const r = settings.runtime
  const caps = settings.caps ?? undefined
  if (r.kind === 'local') {
    const address = r.hubAddress ?? settings.externalHost ?? settings.host
    return createLocalDriver({
      dir: join(settings.path, 'pubs'),
      address,
      listenHost: r.listenHost ?? address,
      ...(r.hubMemoryMiB !== undefined ? { memoryMiB: r.hubMemoryMiB } : {}),
      ...(caps ? { caps } : {}),
      ...(r.env ? { env: r.env } : {}),
      ...(r.stopGraceMs !== undefined ? { stopGraceMs: r.stopGraceMs } : {}),
      log,
    })
  }
  if (r.kind === 'swarm') {
    const docker = managerEngine(settings)
    return createSwarmDriver({
      docker,
      hubEngines: (r.hubEngines ?? []).map(dockerClient),
      listenHost: r.listenHost ?? '0.0.0.0',
      ...(r.hubAddress ? { hubAddress: r.hubAddress } : {}),
      ...(caps ? { caps } : {}),
      ...(r.env ? { env: r.env } : {}),
      healthIntervalMs: r.healthIntervalMs ?? RUNTIME_DEFAULTS.healthIntervalMs,
      memoryOvercommit: r.memoryOvercommit ?? RUNTIME_DEFAULTS.memoryOvercommit,
      ...(r.stopGraceMs !== undefined ? { stopGraceMs: r.stopGraceMs } : {}),
      ...(r.restartDelayMs !== undefined ? { restartDelayMs: r.restartDelayMs } : {}),
      imageRepo: registryRepo(r.registry),
      // With a registry, hubs pull the image: building here is only asked for explicitly, and then pushed there.
      ...(r.buildImage ?? !r.registry ? { prepare: () => prepareImage(docker, r.registry) } : {}),
    })
  }
  return undefined
}

/** A client of the Swarm manager's engine the settings name (`runtime.docker`, else `$DOCKER_HOST`, else the default socket). */
export function managerEngine(settings: Pick<ProviderSettings, 'runtime'>): ReturnType<typeof dockerClient> {
  return dockerClient(settings.runtime.docker ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock')
}

/** Build the pub image on the manager when its inputs changed, and push it when hubs pull from a registry. */
async function prepareImage(docker: ReturnType<typeof dockerClient>, registry: string | undefined): Promise<void> {
  const image = await ensurePubImage(docker)
  if (registry) await pushPubImage(docker, { image: image.tag, registry, version: image.tag.slice(image.tag.indexOf(':') + 1) })
}

/** The runtime for `settings.runtime.kind`, or undefined when the provider runs no pubs (`none`); passes are counted in `metrics`. */
export function runtimeFromSettings(settings: ProviderSettings, metrics?: OrchestratorOptions['metrics']): RuntimeFactory | undefined {
  const r = settings.runtime
  if (r.kind === 'none') return undefined
  return (host) => {
    // Built only now: the local driver starts the pubs it finds on disk, which must wait for the provider.
    const driver = driverFromSettings(settings, host.log)!
    const options: OrchestratorOptions = {
      driver,
      inviter: createInvite,
      diskReader: diskUsage,
      diskIntervalMs: r.diskIntervalMs ?? RUNTIME_DEFAULTS.diskIntervalMs,
      prober: whoami,
      greeter: greet,
      capacity: capacityFromSettings(settings),
      defaultImageVersion: r.imageVersion ?? (r.kind === 'local' ? settings.buttcloud.versions?.[0] : undefined) ?? packageVersion(),
      settleMs: r.settleMs ?? RUNTIME_DEFAULTS.settleMs,
      stats: { sampleIntervalMs: r.statsIntervalMs ?? RUNTIME_DEFAULTS.statsIntervalMs },
      reportFile: capacityReportFile(settings),
      backups: {
        dir: backupDirFromSettings(settings),
        baseUrl: r.backupUrl ?? `${settings.web.publicUrl.replace(/\/+$/, '')}/backups`,
        ttlMs: r.backupTtlMs ?? RUNTIME_DEFAULTS.backupTtlMs,
        maxPubBytes: (r.backupMaxMiBPerPub ?? RUNTIME_DEFAULTS.backupMaxMiBPerPub) * MiB,
        maxTotalBytes: (r.backupMaxMiBTotal ?? RUNTIME_DEFAULTS.backupMaxMiBTotal) * MiB,
        minFreeBytes: settings.minFreeMiB * MiB,
      },
      ...(settings.caps ? { caps: settings.caps } : {}),
      ...(r.backoff ? { backoff: r.backoff } : {}),
      ...(metrics ? { metrics } : {}),
    }
    return createOrchestratorRuntime(options)(host)
  }
}
