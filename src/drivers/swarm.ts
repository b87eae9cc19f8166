/**
 * The Docker Swarm driver (dockerode, Engine API 1.41): one service per pub, pinned to its hub, on the host network
 * with its own port, its data on a named volume, its key as a Swarm secret. Docker's data is converted into the
 * planner's types here, at the edge, and nothing without our labels is ever changed or removed.
 *
 * Node-local objects (volumes, containers) are only visible through the engine of the node that holds them: the
 * manager's engine serves its own node, and `hubEngines` may add the engines of worker hubs. A hub without one
 * still runs pubs: its volume is created by Swarm at first task start with our labels (the mount's VolumeOptions),
 * but it cannot be listed, purged, backed up or sampled from here.
 */
import type { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import type Docker from 'dockerode'
import { DATA_DIR, DEFAULT_HEALTH_INTERVAL_MS, PUB_IMAGE_REPO } from '../../pub/image/constants.js'
import { pubServiceSpec } from '../../pub/image/service.js'
import type { MsgId } from '../protocol/ids.js'
import {
  LABELS,
  MANAGED_BY,
  labelsFor,
  objectName,
  ownership,
  type Hub,
  type ObservedTask,
  type ServiceListing,
  type ServiceSpec,
  type TaskListing,
  type VolumeList,
  type VolumeListing,
} from '../planner/index.js'
import { BACKUP_EXCLUDED, type PubDriver, type PubIdentity, type StatsSample } from '../control/driver.js'
import { tarWithout } from './tar-filter.js'
import { keysFileText } from '../ssb/keys.js'

const MiB = 1024 * 1024
const MS = 1_000_000 // nanoseconds per millisecond: Swarm durations are in nanoseconds
/** A node label an operator sets to the host name or IP peers dial to reach pubs on that node. */
export const ADDRESS_LABEL = 'buttcloud.address'
const NAME_RE = /^pub-[0-9a-f]{40}$/
const OURS_FILTER = `${LABELS.managedBy}=${MANAGED_BY}`

export interface SwarmDriverOptions {
  /** A client of a Swarm manager's engine (create it with `version: 'v1.41'`). */
  docker: Docker
  /** Engines of further hubs, for their volumes, containers, stats and backups; each finds its node id itself. */
  hubEngines?: Docker[]
  /** Image repository; a pub's image is `<repo>:<imageVersion>` (default `buttcloud-pub`). */
  imageRepo?: string
  /** Where pubs listen on their hub (default 0.0.0.0; tests use 127.0.0.1). */
  listenHost?: string
  /** The address peers dial for every hub without an `buttcloud.address` node label (default: the node's own address). */
  hubAddress?: string
  /** Secret-handshake caps of the pubs' network (default: the main network). */
  caps?: string
  /** Docker's health probe interval (a read of the pub's health file; each probe is one exec for the engine). */
  healthIntervalMs?: number
  /** SIGTERM to SIGKILL (a pub closes its database in well under a second). */
  stopGraceMs?: number
  /** Wait before Swarm restarts a task that exited. */
  restartDelayMs?: number
  /** Extra PUB_* environment for every pub (e.g. PUB_DB2_THROTTLES). */
  env?: Record<string, string>
  /** Called once before the first service is created or updated (e.g. to build the image on a single-node swarm). */
  prepare?: () => Promise<unknown>
  /** Concurrent stats calls per node. */
  statsConcurrency?: number
  /** Memory overcommit (the planner's `Capacity.overcommit`): Swarm reserves each pub's limit divided by this. */
  memoryOvercommit?: number
}

/* ---------- Docker's shapes, as far as we read them ---------- */

interface DockerNode {
  ID: string
  Spec?: { Labels?: Record<string, string>; Availability?: string }
  Description?: { Hostname?: string; Resources?: { MemoryBytes?: number } }
  Status?: { State?: string; Addr?: string }
}

interface DockerTask {
  ID: string
  ServiceID: string
  NodeID?: string
  DesiredState?: string
  Spec?: { ContainerSpec?: { Labels?: Record<string, string>; Env?: string[] }; Resources?: { Reservations?: { MemoryBytes?: number } } }
  Status?: { Timestamp?: string; State?: string; Err?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } }
}

interface DockerService {
  ID: string
  Version?: { Index?: number }
  Spec?: Docker.ServiceSpec & { Labels?: Record<string, string> }
}

interface DockerContainer {
  Id: string
  Labels?: Record<string, string>
  State?: string
  Status?: string
  Created?: number
}

interface DockerError {
  statusCode?: number
  code?: string
  message?: string
  cause?: unknown
}

/** Swarm task states as the planner names them. */
const TASK_STATE: Record<string, ObservedTask['state']> = {
  new: 'pending',
  allocated: 'pending',
  pending: 'pending',
  assigned: 'pending',
  accepted: 'pending',
  preparing: 'pending',
  ready: 'pending',
  starting: 'starting',
  running: 'running',
  complete: 'complete',
  failed: 'failed',
  rejected: 'rejected',
  shutdown: 'shutdown',
  remove: 'shutdown',
  orphaned: 'shutdown',
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

const statusOf = (err: unknown) => (err as DockerError | undefined)?.statusCode

/** Pull an image through an engine; the engine reports failures inside the progress stream. */
async function pullImage(engine: Docker, image: string): Promise<void> {
  // An empty X-Registry-Auth: the engine asks for the header even where the registry has no accounts.
  const stream = (await engine.pull(image, { authconfig: { serveraddress: image.split('/')[0] } })) as NodeJS.ReadableStream
  const events = await new Promise<Array<{ error?: string }>>((resolve, reject) => {
    engine.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => (err ? reject(err) : resolve(out)))
  })
  const failed = events.find((e) => e.error)
  if (failed) throw new Error(`pulling ${image} failed: ${failed.error}`)
}

/** The SSB port a pub's container environment names (PUB_PORT), if any. */
function portOf(env: string[] | undefined): number | undefined {
  const port = Number(env?.find((e) => e.startsWith('PUB_PORT='))?.slice('PUB_PORT='.length))
  return Number.isInteger(port) && port > 0 ? port : undefined
}

/** Create the Swarm driver. */
export function createSwarmDriver(opts: SwarmDriverOptions): PubDriver {
  return new SwarmDriver(opts)
}

class SwarmDriver implements PubDriver {
  readonly name = 'swarm'
  private readonly docker: Docker
  private readonly repo: string
  /** The last node list, for hub addresses when building specs. */
  private hubs = new Map<string, Hub>()
  /** Node id of each engine (asked once: an engine's node never changes). */
  private readonly engineNodes = new Map<Docker, Promise<string | undefined>>()
  /** One task listing serves both listHubs (foreign reservations) and listTasks within a pass. */
  private tasksInFlight: Promise<DockerTask[]> | undefined
  /** OOMKilled of dead containers never changes: asked once per container, bounded. */
  private readonly oomCache = new Map<string, boolean | undefined>()
  private prepared: Promise<unknown> | undefined

  constructor(private readonly opts: SwarmDriverOptions) {
    this.docker = opts.docker
    this.repo = opts.imageRepo ?? PUB_IMAGE_REPO
  }

  /* ---------- observing ---------- */

  private tasks(): Promise<DockerTask[]> {
    if (!this.tasksInFlight) {
      this.tasksInFlight = this.docker.listTasks() as Promise<DockerTask[]>
      // Shared only by calls made in the same synchronous run (readObserved starts its four listings together):
      // any later call, of this pass or the next, reads afresh.
      queueMicrotask(() => (this.tasksInFlight = undefined))
    }
    return this.tasksInFlight
  }

  async listHubs(): Promise<Hub[]> {
    const [nodes, tasks] = await Promise.all([this.docker.listNodes() as Promise<DockerNode[]>, this.tasks()])
    // Memory that other services reserved on a node is not ours to hand out.
    const foreign = new Map<string, number>()
    for (const t of tasks) {
      if (!t.NodeID || t.DesiredState !== 'running' || ownership(t.Spec?.ContainerSpec?.Labels).ours) continue
      const bytes = t.Spec?.Resources?.Reservations?.MemoryBytes ?? 0
      foreign.set(t.NodeID, (foreign.get(t.NodeID) ?? 0) + bytes)
    }
    const hubs = nodes.map((n): Hub => {
      const availability = n.Spec?.Availability
      return {
        id: n.ID,
        name: n.Description?.Hostname ?? n.ID,
        address: n.Spec?.Labels?.[ADDRESS_LABEL] ?? this.opts.hubAddress ?? n.Status?.Addr ?? n.Description?.Hostname ?? n.ID,
        memoryMiB: Math.floor((n.Description?.Resources?.MemoryBytes ?? 0) / MiB),
        foreignReservedMiB: Math.ceil((foreign.get(n.ID) ?? 0) / MiB),
        availability: availability === 'pause' || availability === 'drain' ? availability : 'active',
        ready: n.Status?.State === 'ready',
      }
    })
    this.hubs = new Map(hubs.map((h) => [h.id, h]))
    return hubs
  }

  async listServices(): Promise<ServiceListing[]> {
    const services = (await this.docker.listServices()) as DockerService[]
    return services.map((s) => this.serviceListing(s))
  }

  private serviceListing(s: DockerService): ServiceListing {
    const spec = s.Spec ?? {}
    const task = (spec.TaskTemplate ?? {}) as Docker.ContainerTaskSpec
    const container = task.ContainerSpec ?? {}
    const listing: ServiceListing = {
      id: s.ID,
      name: spec.Name ?? s.ID,
      labels: spec.Labels ?? {},
      replicas: spec.Mode?.Replicated?.Replicas ?? 0,
      forceUpdate: task.ForceUpdate ?? 0,
    }
    const hub = task.Placement?.Constraints?.map((c) => /^node\.id\s*==\s*(\S+)$/.exec(c)?.[1]).find((id) => id !== undefined)
    if (hub !== undefined) listing.hub = hub
    const envNumber = (name: string) => Number(container.Env?.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1))
    const port = portOf(container.Env)
    if (port !== undefined) listing.port = port
    const diskMiB = envNumber('PUB_DISK_MIB')
    if (Number.isInteger(diskMiB) && diskMiB > 0) listing.diskMiB = diskMiB
    const webPort = envNumber('PUB_WEB_PORT')
    if (Number.isInteger(webPort) && webPort > 0) listing.webPort = webPort
    // Swarm may pin the image by digest (`repo:tag@sha256:…`); the tag is what we compare.
    const image = container.Image?.replace(/@sha256:[0-9a-f]+$/, '')
    if (image !== undefined) listing.imageVersion = image.startsWith(`${this.repo}:`) ? image.slice(this.repo.length + 1) : image
    const limit = task.Resources?.Limits?.MemoryBytes
    if (limit) listing.memoryMiB = Math.round(limit / MiB)
    return listing
  }

  async listTasks(): Promise<TaskListing[]> {
    const tasks = (await this.tasks()).filter((t) => ownership(t.Spec?.ContainerSpec?.Labels).ours)
    // Health is not in the task: one container listing per engine gives it for every pub on that node.
    const health = new Map<string, ObservedTask['health']>()
    for (const { containers } of await this.containersByEngine()) {
      for (const c of containers) {
        const h = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status ?? '')?.[1]
        if (h) health.set(c.Id, h === 'health: starting' ? 'starting' : h === 'healthy' ? 'healthy' : 'unhealthy')
      }
    }
    const out: TaskListing[] = []
    for (const t of tasks) {
      const status = t.Status ?? {}
      let state = TASK_STATE[status.State ?? ''] ?? 'pending'
      // A task told to shut down is on its way out even while it still runs: an update read back at once must not
      // look finished because the old task has not stopped yet.
      if (state === 'running' && t.DesiredState !== undefined && t.DesiredState !== 'running') state = 'shutdown'
      const listing: TaskListing = { serviceId: t.ServiceID, state, at: Date.parse(status.Timestamp ?? '') || 0 }
      const port = portOf(t.Spec?.ContainerSpec?.Env)
      if (port !== undefined) listing.port = port
      const containerId = status.ContainerStatus?.ContainerID
      const h = containerId ? health.get(containerId) : undefined
      if (state === 'running' && h) listing.health = h
      const exitCode = status.ContainerStatus?.ExitCode
      if (exitCode !== undefined && state !== 'running' && state !== 'pending' && state !== 'starting') listing.exitCode = exitCode
      if (status.Err) listing.error = status.Err
      if (state === 'failed' && exitCode === 137 && containerId && t.NodeID) {
        const oom = await this.oomKilled(containerId, t.NodeID)
        if (oom !== undefined) listing.oomKilled = oom
      }
      out.push(listing)
    }
    return out
  }

  /** Whether a dead container was OOM-killed (exit 137 alone may be a plain SIGKILL); undefined when unknowable. */
  private async oomKilled(containerId: string, node: string): Promise<boolean | undefined> {
    if (this.oomCache.has(containerId)) return this.oomCache.get(containerId)
    const engine = await this.engineFor(node)
    let oom: boolean | undefined
    if (engine) {
      try {
        oom = Boolean((await engine.getContainer(containerId).inspect()).State?.OOMKilled)
      } catch {
        oom = undefined
      }
    }
    if (this.oomCache.size >= 1000) this.oomCache.delete(this.oomCache.keys().next().value!)
    this.oomCache.set(containerId, oom)
    return oom
  }

  async listVolumes(): Promise<VolumeList> {
    const out: VolumeListing[] = []
    // Only hubs whose engine answered: a hub with no engine, or a failing one, may hold volumes nobody sees.
    const hubs: string[] = []
    for (const { engine, node } of await this.engines()) {
      if (node === undefined) continue
      let volumes: Array<{ Name: string; Labels?: Record<string, string> | null; CreatedAt?: string }>
      try {
        volumes = (await engine.listVolumes()).Volumes ?? []
      } catch (err) {
        // The manager's engine failing is the engine being unreachable; a worker's only hides that hub's volumes.
        if (engine === this.docker) throw err
        continue
      }
      for (const v of volumes) {
        const labels = v.Labels ?? {}
        // Only volumes that claim to be ours (label or name): the host's other volumes are none of our business.
        if (labels[LABELS.managedBy] === undefined && !NAME_RE.test(v.Name)) continue
        out.push({ name: v.Name, hub: node, labels, createdAt: Date.parse(v.CreatedAt ?? '') || 0 })
      }
      hubs.push(node)
    }
    return { volumes: out, hubs }
  }

  /* ---------- engines per node ---------- */

  private nodeOf(engine: Docker): Promise<string | undefined> {
    let node = this.engineNodes.get(engine)
    if (!node) {
      node = engine.info().then(
        (info: { Swarm?: { NodeID?: string } }) => info.Swarm?.NodeID || undefined,
        (err: unknown) => {
          this.engineNodes.delete(engine)
          if (engine === this.docker) throw err
          return undefined
        },
      )
      this.engineNodes.set(engine, node)
    }
    return node
  }

  private async engines(): Promise<Array<{ engine: Docker; node: string | undefined }>> {
    const all = [this.docker, ...(this.opts.hubEngines ?? [])]
    return Promise.all(all.map(async (engine) => ({ engine, node: await this.nodeOf(engine) })))
  }

  private async engineFor(hub: string): Promise<Docker | undefined> {
    return (await this.engines()).find((e) => e.node === hub)?.engine
  }

  private async requireEngine(hub: string, what: string): Promise<Docker> {
    const engine = await this.engineFor(hub)
    if (!engine) throw new Error(`${what} needs a connection to the engine of hub ${hub} (runtime.hubEngines)`)
    return engine
  }

  private async containersByEngine(): Promise<Array<{ engine: Docker; node: string; containers: DockerContainer[] }>> {
    const out: Array<{ engine: Docker; node: string; containers: DockerContainer[] }> = []
    for (const { engine, node } of await this.engines()) {
      if (node === undefined) continue
      try {
        const containers = (await engine.listContainers({ filters: { label: [OURS_FILTER] } })) as DockerContainer[]
        out.push({ engine, node, containers })
      } catch (err) {
        if (engine === this.docker) throw err
      }
    }
    return out
  }

  /* ---------- changing ---------- */

  async createVolume(request: MsgId, hub: string): Promise<void> {
    const engine = await this.engineFor(hub)
    // Without that hub's engine, Swarm creates the volume at first task start from the mount's VolumeOptions.
    if (!engine) return
    await this.ensureVolume(engine, request, hub, {})
  }

  /** Create the pub's volume on this engine (labelled ours, plus `extra`) unless it exists; refuse one not the pub's. */
  private async ensureVolume(engine: Docker, request: MsgId, hub: string, extra: Record<string, string>): Promise<void> {
    const name = objectName(request)
    // Creating a volume that exists returns it unchanged, so this is safe to repeat; its labels say whose it is.
    await engine.createVolume({ Name: name, Labels: { ...extra, ...labelsFor(request) } })
    const volume = (await engine.getVolume(name).inspect()) as { Labels?: Record<string, string> | null }
    const owner = ownership(volume.Labels ?? undefined)
    if (!owner.ours || owner.request !== request) throw new Error(`a volume named ${name} exists on ${hub} and is not this pub's: left alone`)
  }

  private prepare(): Promise<unknown> {
    if (!this.opts.prepare) return Promise.resolve()
    this.prepared ??= this.opts.prepare().catch((err: unknown) => {
      this.prepared = undefined
      throw err
    })
    return this.prepared
  }

  /** The pub's key as a Swarm secret named like its service: found if it exists and is ours, created if not. */
  private async ensureSecret(request: MsgId, pub: PubIdentity): Promise<{ id: string; name: string }> {
    const name = objectName(request)
    try {
      const created = (await this.docker.createSecret({
        Name: name,
        Labels: labelsFor(request),
        Data: Buffer.from(keysFileText(pub.keys)).toString('base64'),
      })) as { id?: string; ID?: string }
      return { id: created.id ?? created.ID ?? '', name }
    } catch (err) {
      if (statusOf(err) !== 409) throw err
    }
    // It exists: made by an earlier attempt that crashed before the service (the key is derived, so it is the same).
    const existing = (await this.docker.getSecret(name).inspect()) as { ID: string; Spec?: { Labels?: Record<string, string> } }
    const owner = ownership(existing.Spec?.Labels)
    if (!owner.ours || owner.request !== request) throw new Error(`a secret named ${name} exists and is not this pub's: left alone`)
    return { id: existing.ID, name }
  }

  /** The full service spec for a pub: the image's own spec, pinned and sized by the plan, with our labels. */
  private buildSpec(spec: ServiceSpec, pub: PubIdentity, secret: { id: string; name: string }, serviceName: string): Docker.CreateServiceOptions {
    const hub = this.hubs.get(spec.hub)
    if (!hub) throw new Error(`hub ${spec.hub} is not in the node list`)
    const name = objectName(spec.request)
    const labels = labelsFor(spec.request)
    const base = pubServiceSpec({
      name: serviceName,
      image: `${this.repo}:${spec.imageVersion}`,
      owner: spec.owner,
      provider: pub.provider,
      pubName: spec.name ?? 'ButtCloud pub',
      port: spec.port,
      host: this.opts.listenHost ?? '0.0.0.0',
      externalHost: hub.address,
      volume: name,
      keySecret: secret,
      memoryBytes: spec.memoryMiB * MiB,
      ...(spec.webPort !== undefined ? { webPort: spec.webPort } : {}),
      ...(spec.diskMiB !== undefined ? { diskMiB: spec.diskMiB } : {}),
      labels,
      ...(this.opts.caps ? { caps: this.opts.caps } : {}),
      ...(this.opts.env || spec.hops !== undefined ? { env: { ...this.opts.env, ...(spec.hops !== undefined ? { PUB_HOPS: String(spec.hops) } : {}) } } : {}),
      healthIntervalMs: this.opts.healthIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS,
      stopGraceMs: this.opts.stopGraceMs ?? 1000,
      restartDelayMs: this.opts.restartDelayMs ?? 1000,
    })
    const task = base.TaskTemplate as Docker.ContainerTaskSpec
    const container = task.ContainerSpec!
    // Auto-created on a hub we have no engine for, the volume must still carry our labels.
    container.Mounts = (container.Mounts ?? []).map((m) =>
      m.Source === name ? { ...m, VolumeOptions: { NoCopy: false, Labels: labels, DriverConfig: { Name: 'local', Options: {} } } } : m,
    )
    task.Placement = { Constraints: [`node.id==${spec.hub}`] }
    // The limit is the pub's OOM bound; the reservation is what the planner packs by (the limit shared by the
    // overcommit ratio), so Swarm's own scheduler agrees with the planner about how full a node is.
    const reservedMiB = Math.ceil(spec.memoryMiB / Math.max(1, this.opts.memoryOvercommit ?? 1))
    task.Resources = { Limits: { MemoryBytes: spec.memoryMiB * MiB }, Reservations: { MemoryBytes: reservedMiB * MiB } }
    task.ForceUpdate = spec.forceUpdate
    return {
      ...base,
      Mode: { Replicated: { Replicas: spec.replicas } },
      // One replica: parallelism 0 (all at once) and a short monitor, stop-first because the new task needs the
      // old one's port and volume. `continue`: a failed upgrade shows as a down pub, not a paused update.
      UpdateConfig: { Parallelism: 0, Order: 'stop-first', FailureAction: 'continue', Monitor: 1000 * MS },
    }
  }

  async createService(spec: ServiceSpec, pub: PubIdentity): Promise<void> {
    await this.prepare()
    const secret = await this.ensureSecret(spec.request, pub)
    const name = objectName(spec.request)
    try {
      await this.docker.createService(this.buildSpec(spec, pub, secret, name))
    } catch (err) {
      // The name is deterministic, so a create repeated after a crash fails here instead of making a second pub.
      if (statusOf(err) === 409) throw new Error(`a service named ${name} already exists; the next pass will read it`, { cause: err })
      throw err
    }
  }

  /** Read a service and check it is this pub's: nothing else is ever changed or removed. */
  private async ownService(serviceId: string, request: MsgId): Promise<DockerService> {
    const service = (await this.docker.getService(serviceId).inspect()) as DockerService
    const owner = ownership(service.Spec?.Labels)
    if (!owner.ours || owner.request !== request) throw new Error(`service ${serviceId} is not ${request}'s: left alone`)
    return service
  }

  async updateService(serviceId: string, spec: ServiceSpec, pub: PubIdentity): Promise<void> {
    await this.prepare()
    const current = await this.ownService(serviceId, spec.request)
    const name = objectName(spec.request)
    const secrets = ((current.Spec?.TaskTemplate as Docker.ContainerTaskSpec | undefined)?.ContainerSpec?.Secrets ?? []) as Docker.SecretReference[]
    const held = secrets.find((s) => s.SecretName === name && s.SecretID)
    const secret = held ? { id: held.SecretID!, name } : await this.ensureSecret(spec.request, pub)
    const next = this.buildSpec(spec, pub, secret, current.Spec?.Name ?? name)
    // Written back with the version read: a concurrent change makes this fail instead of being overwritten.
    await this.docker.getService(serviceId).update({ ...next, version: current.Version?.Index })
  }

  async removeService(request: MsgId, serviceId: string): Promise<void> {
    await this.ownService(serviceId, request)
    try {
      await this.docker.getService(serviceId).remove()
    } catch (err) {
      if (statusOf(err) !== 404) throw err
    }
    await this.removeSecret(request)
  }

  /** Remove the pub's key secret unless another service of the pub still uses it (a duplicate was removed). */
  private async removeSecret(request: MsgId): Promise<void> {
    const name = objectName(request)
    let secret: { ID: string; Spec?: { Labels?: Record<string, string> } }
    try {
      secret = await this.docker.getSecret(name).inspect()
    } catch (err) {
      if (statusOf(err) === 404) return
      throw err
    }
    const owner = ownership(secret.Spec?.Labels)
    if (!owner.ours || owner.request !== request) return
    try {
      await this.docker.getSecret(secret.ID).remove()
    } catch (err) {
      // In use: another service of this pub still runs with it (the removed one was a duplicate).
      if (statusOf(err) !== 400 && statusOf(err) !== 409 && statusOf(err) !== 404) throw err
    }
  }

  async purgeVolume(request: MsgId, hub: string, volumeName: string): Promise<void> {
    const engine = await this.requireEngine(hub, `purging ${volumeName}`)
    const volume = engine.getVolume(volumeName)
    let info: { Labels?: Record<string, string> | null }
    try {
      info = await volume.inspect()
    } catch (err) {
      if (statusOf(err) === 404) return
      throw err
    }
    const owner = ownership(info.Labels ?? undefined)
    if (!owner.ours || owner.request !== request) throw new Error(`volume ${volumeName} on ${hub} is not ${request}'s: left alone`)
    // Swarm keeps the containers of a service's old tasks (a moved pub's on its old hub for as long as the service
    // lives; a removed service's for a few seconds): ended containers of this pub that hold the volume go first.
    await this.removeEndedContainers(engine, request, volumeName)
    try {
      await volume.remove()
    } catch (err) {
      if (statusOf(err) === 409) throw new Error(`volume ${volumeName} is still in use by the pub's containers; the next pass retries`, { cause: err })
      throw err
    }
  }

  /** Remove this pub's containers on one engine that use `volumeName` and do not run (old tasks, helpers). */
  private async removeEndedContainers(engine: Docker, request: MsgId, volumeName: string): Promise<void> {
    const containers = (await engine.listContainers({
      all: true,
      filters: { label: [OURS_FILTER, `${LABELS.request}=${request}`], volume: [volumeName] },
    })) as DockerContainer[]
    for (const c of containers) {
      if (c.State === 'running' || c.State === 'restarting' || !ownership(c.Labels).ours) continue
      await engine
        .getContainer(c.Id)
        .remove({ force: true, v: false })
        .catch((err: unknown) => {
          if (statusOf(err) !== 404) throw err
        })
    }
  }

  /* ---------- stats and backups ---------- */

  async sampleStats(only?: ReadonlySet<MsgId>): Promise<StatsSample[]> {
    const out: StatsSample[] = []
    const limit = Math.max(1, this.opts.statsConcurrency ?? 4)
    const wanted = (c: DockerContainer) => {
      const owner = ownership(c.Labels)
      return owner.ours && (!only || only.has(owner.request))
    }
    for (const { engine, containers } of await this.containersByEngine()) {
      const running = containers.filter((c) => c.State === 'running' && wanted(c))
      // A few at a time per node: a stats call costs the engine a cgroup read per container.
      for (let i = 0; i < running.length; i += limit) {
        const batch = await Promise.all(running.slice(i, i + limit).map((c) => this.sampleOne(engine, c)))
        for (const s of batch) if (s) out.push(s)
      }
    }
    return out
  }

  private async sampleOne(engine: Docker, c: DockerContainer): Promise<StatsSample | undefined> {
    const owner = ownership(c.Labels)
    if (!owner.ours) return undefined
    let stats: Docker.ContainerStats
    try {
      // one-shot: no second reading inside the engine (that costs ~1 s per call); rates come from our own series.
      stats = await engine.getContainer(c.Id).stats({ stream: false, 'one-shot': true })
    } catch {
      return undefined
    }
    const mem = stats.memory_stats ?? ({} as Docker.ContainerStats['memory_stats'])
    const inactive = (mem.stats as Record<string, number> | undefined)?.total_inactive_file ?? (mem.stats as Record<string, number> | undefined)?.inactive_file ?? 0
    const sample: StatsSample = {
      request: owner.request,
      at: Date.parse(stats.read) || Date.now(),
      instance: c.Id,
      startedAt: (c.Created ?? 0) * 1000,
      cpuNanos: stats.cpu_stats?.cpu_usage?.total_usage ?? 0,
      memoryBytes: Math.max(0, (mem.usage ?? 0) - inactive),
      memoryLimitBytes: mem.limit ?? 0,
    }
    // Host networking: a container has no interfaces of its own, so its traffic cannot be told apart.
    const networks = Object.values(stats.networks ?? {})
    if (networks.length > 0) {
      sample.rxBytes = networks.reduce((n, x) => n + x.rx_bytes, 0)
      sample.txBytes = networks.reduce((n, x) => n + x.tx_bytes, 0)
    }
    return sample
  }

  async backup(request: MsgId, hub: string, sink: (archive: Readable) => Promise<void>): Promise<void> {
    const engine = await this.requireEngine(hub, 'a backup')
    const name = objectName(request)
    const volume = (await engine.getVolume(name).inspect()) as { Labels?: Record<string, string> | null }
    const owner = ownership(volume.Labels ?? undefined)
    if (!owner.ours || owner.request !== request) throw new Error(`volume ${name} is not ${request}'s`)
    // A container that is never started, with the volume mounted read-only: the archive API reads through it,
    // for a running pub and a stopped one alike, without touching the pub's own container.
    const images = (await engine.listImages({ filters: { reference: [`${this.repo}:*`] } })) as Array<{ RepoTags?: string[] }>
    const image = images.flatMap((i) => i.RepoTags ?? []).find((t) => t.startsWith(`${this.repo}:`))
    if (!image) throw new Error(`no ${this.repo} image on hub ${hub} to read the volume with`)
    const helper = await engine.createContainer({
      Image: image,
      Labels: labelsFor(request),
      NetworkDisabled: true,
      HostConfig: { Binds: [`${name}:${DATA_DIR}:ro`], NetworkMode: 'none' },
    })
    try {
      const tar = await helper.getArchive({ path: `${DATA_DIR}/.` })
      const excluded = new Set<string>(BACKUP_EXCLUDED)
      const filtered = tar.pipe(tarWithout((path) => excluded.has(path.split('/')[0]!)))
      tar.once('error', (err: Error) => filtered.destroy(err))
      await sink(filtered.pipe(createGzip()))
    } finally {
      await helper.remove({ force: true }).catch(() => undefined)
    }
  }

  async restore(request: MsgId, hub: string, imageVersion: string, archive: Readable): Promise<void> {
    await this.restoreInto(request, hub, imageVersion, archive, {})
  }

  async moveData(request: MsgId, from: string, to: string, imageVersion: string): Promise<void> {
    const source = await this.requireEngine(from, 'a move')
    await this.requireEngine(to, 'a move')
    const name = objectName(request)
    // Copied only while nothing of the pub runs on its old hub: a pub writing meanwhile would lose those writes.
    const running = (await source.listContainers({ filters: { label: [OURS_FILTER, `${LABELS.request}=${request}`], volume: [name] } })) as DockerContainer[]
    if (running.length > 0) throw new Error(`the pub still runs on hub ${from}; its move waits until it has stopped`)
    // What an interrupted copy left on the target goes first: the volume is filled from an empty one, every time.
    await this.purgeVolume(request, to, name)
    await this.backup(request, from, (archive) => this.restoreInto(request, to, imageVersion, archive, { [LABELS.movedFrom]: from }))
  }

  private async restoreInto(request: MsgId, hub: string, imageVersion: string, archive: Readable, labels: Record<string, string>): Promise<void> {
    const engine = await this.requireEngine(hub, 'a restore')
    const name = objectName(request)
    await this.ensureVolume(engine, request, hub, labels)
    // The hub may never have run this image (a move's target): pull it now, as the pub's first task would.
    const image = `${this.repo}:${imageVersion}`
    const present = await engine.getImage(image).inspect().then(() => true, () => false)
    if (!present) await pullImage(engine, image)
    // As for backups, a container that is never started: the archive API writes through its read-write mount.
    const helper = await engine.createContainer({
      Image: image,
      Labels: labelsFor(request),
      NetworkDisabled: true,
      HostConfig: { Binds: [`${name}:${DATA_DIR}`], NetworkMode: 'none' },
    })
    try {
      // The engine unpacks gzipped tars itself, keeping the owners and modes the archive recorded.
      await helper.putArchive(archive, { path: DATA_DIR })
    } finally {
      await helper.remove({ force: true }).catch(() => undefined)
    }
  }

  isUnreachable(err: unknown): boolean {
    for (let e = err as DockerError | undefined, depth = 0; e && depth < 5; e = e.cause as DockerError | undefined, depth++) {
      if (e.code && UNREACHABLE_CODES.has(e.code)) return true
      // 503: the engine answers but is no usable manager (not in a swarm, or the swarm has no leader).
      if (e.statusCode === 503) return true
      if (/socket hang up/i.test(e.message ?? '')) return true
    }
    return false
  }

  async close(): Promise<void> {
    // Services keep running without the provider: that is the point of handing them to Swarm.
  }
}
