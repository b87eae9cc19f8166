/**
 * In-memory fakes for orchestrator unit tests. Every fake throws on a call the test did not set up, so a test
 * cannot pass by accident through a method nobody meant to reach.
 */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { PubRecord } from '../../src/control/record.js'
import type { RuntimeFactory, RuntimeHost, RuntimePub } from '../../src/control/runtime.js'
import { createOrchestratorRuntime } from '../../src/orchestrator/runtime.js'
import type { MsgId } from '../../src/protocol/ids.js'
import type { PlacementWhy } from '../../src/protocol/placement.js'
import { LABELS, labelsFor, objectName, type Hub, type ObservedTask, type ServiceListing, type ServiceSpec, type TaskListing, type VolumeListing } from '../../src/planner/index.js'
import type { PubDriver, PubIdentity, PubInviter } from '../../src/control/driver.js'
import { generateKeys, type SsbKeys } from '../../src/ssb/keys.js'

/** A message id derived from a label. */
export const msgId = (label: string): MsgId => `%${createHash('sha256').update(label).digest('base64')}.sha256`

/** A driver whose every method throws unless `impl` gives it. */
export function strictDriver(impl: Partial<PubDriver>): PubDriver {
  return new Proxy(impl as PubDriver, {
    get(target, prop) {
      if (prop in target) return target[prop as keyof PubDriver]
      if (prop === 'then') return undefined
      return () => {
        throw new Error(`unexpected call: driver.${String(prop)}`)
      }
    },
  })
}

export interface FakeHost extends RuntimeHost {
  placements: Map<MsgId, { hub: string; port: number; released?: true }>
  /** Why each pub's latest placement was recorded. */
  reasons: Map<MsgId, PlacementWhy | undefined>
  lines: string[]
}

/** A host that records placements (and their releases) and log lines. */
export function fakeHost(providerKeys: SsbKeys = generateKeys()): FakeHost {
  const placements = new Map<MsgId, { hub: string; port: number; released?: true }>()
  const lines: string[] = []
  const reasons = new Map<MsgId, PlacementWhy | undefined>()
  return {
    providerKeys,
    providerId: providerKeys.id,
    placements,
    reasons,
    lines,
    log: (line) => lines.push(line),
    async recordPlacement(request, hub, port, why) {
      placements.set(request, { hub, port })
      reasons.set(request, why)
    },
    async releasePlacement(request, hub, port) {
      const at = placements.get(request)
      if (!at || at.hub !== hub || at.port !== port) throw new Error(`release of a placement never recorded: ${request} ${hub}:${port}`)
      at.released = true
    },
  }
}

/** A pub record as the fold would make it. */
export function record(n: number, over: Partial<PubRecord> = {}): PubRecord {
  return {
    request: msgId(`request ${n}`),
    owner: generateKeys().id,
    provider: generateKeys().id,
    plan: 'free',
    name: `pub ${n}`,
    requestedAt: 1_700_000_000_000 + n,
    requestSequence: 1,
    requestPrivate: true,
    intent: 'running',
    restartGeneration: 0,
    commands: [],
    ...over,
  }
}

/** The RuntimePub the plugin would pass, with the host's recorded placement fed back as the plugin does. */
export function runtimePub(r: PubRecord, host: FakeHost, intent: RuntimePub['intent'] = r.intent, memoryMiB = 128): RuntimePub {
  const placement = host.placements.get(r.request)
  return {
    record: r,
    intent,
    memoryMiB,
    ...(placement ? { placement } : {}),
    ...(intent === 'destroyed' ? { destroyedAt: r.destroyedAt ?? 0 } : {}),
  }
}

export const HUB: Hub = {
  id: 'node-a',
  name: 'hub-a',
  address: 'hub-a.example.net',
  memoryMiB: 4096,
  foreignReservedMiB: 0,
  availability: 'active',
  ready: true,
}

interface FakeService {
  listing: ServiceListing
  tasks: ObservedTask[]
  identity: PubIdentity
}

/**
 * A stateful in-memory engine behind the PubDriver interface: services made from specs, tasks that come up after
 * `startPolls` reads, volumes per hub. Counts every call, so tests can check how many reads a pass makes.
 */
export class FakeEngine {
  hubs: Hub[] = [HUB]
  services = new Map<string, FakeService>()
  volumes = new Map<string, VolumeListing>()
  calls: string[] = []
  /** Reads of tasks a new task stays "starting" before it is healthy. */
  startPolls = 0
  private pollsLeft = new Map<string, number>()
  unreachable = false
  private nextId = 1

  private call(name: string): void {
    this.calls.push(name)
    if (this.unreachable) throw Object.assign(new Error(`connect ECONNREFUSED /fake/docker.sock`), { code: 'ECONNREFUSED' })
  }

  /**
   * A pub's data as the Swarm driver handles it: `backup` archives a volume that must exist on its hub (the hubs
   * archived on go into `archived`, in order), and `moveData` copies one to another hub, labelled with where it came
   * from. `copies` gets each copy as `from>to`.
   */
  dataHandlers(archived: string[], copies: string[] = []): Pick<PubDriver, 'backup' | 'moveData'> {
    return {
      backup: async (request, hub, sink) => {
        if (!this.volumes.has(`${hub}/${objectName(request)}`)) throw new Error(`no volume of ${request} on ${hub}`)
        archived.push(hub)
        await sink(Readable.from([Buffer.from('archive')]))
      },
      moveData: async (request, from, to) => {
        const name = objectName(request)
        if (!this.volumes.has(`${from}/${name}`)) throw new Error(`no volume of ${request} on ${from}`)
        copies.push(`${from}>${to}`)
        this.volumes.set(`${to}/${name}`, { name, hub: to, labels: { ...labelsFor(request), [LABELS.movedFrom]: from }, createdAt: 2 })
      },
    }
  }

  driver(extra: Partial<PubDriver> = {}): PubDriver {
    return strictDriver({
      name: 'fake',
      listHubs: async () => (this.call('listHubs'), this.hubs.map((h) => ({ ...h }))),
      listServices: async () => (this.call('listServices'), [...this.services.values()].map((s) => ({ ...s.listing }))),
      listTasks: async () => {
        this.call('listTasks')
        const out: TaskListing[] = []
        for (const [id, s] of this.services) {
          const left = this.pollsLeft.get(id) ?? 0
          if (left > 0) this.pollsLeft.set(id, left - 1)
          else if (s.tasks[0]?.health === 'starting') s.tasks[0].health = 'healthy'
          for (const t of s.tasks) out.push({ ...t, serviceId: id })
        }
        return out
      },
      listVolumes: async () => (this.call('listVolumes'), [...this.volumes.values()]),
      createVolume: async (request, hub) => {
        this.call('createVolume')
        this.volumes.set(`${hub}/${objectName(request)}`, { name: objectName(request), hub, labels: labelsFor(request), createdAt: 1 })
      },
      createService: async (spec, identity) => {
        this.call('createService')
        const id = `svc-${this.nextId++}`
        this.services.set(id, { listing: listingOf(id, spec), tasks: [], identity })
        this.run(id, spec)
      },
      updateService: async (id, spec, identity) => {
        this.call('updateService')
        const s = this.services.get(id)
        if (!s) throw new Error(`no service ${id}`)
        s.listing = listingOf(id, spec)
        s.identity = identity
        for (const t of s.tasks) if (t.state === 'running') t.state = 'shutdown'
        this.run(id, spec)
      },
      removeService: async (_request, id) => {
        this.call('removeService')
        this.services.delete(id)
      },
      purgeVolume: async (_request, hub, name) => {
        this.call('purgeVolume')
        this.volumes.delete(`${hub}/${name}`)
      },
      isUnreachable: (err) => (err as { code?: string }).code === 'ECONNREFUSED',
      close: async () => undefined,
      ...extra,
    })
  }

  private run(id: string, spec: ServiceSpec): void {
    const s = this.services.get(id)!
    if (spec.replicas === 0) return
    s.tasks.unshift({ state: 'running', health: 'starting', at: Date.now() })
    this.pollsLeft.set(id, this.startPolls)
  }

  /** The one service of a request. */
  serviceOf(request: MsgId): FakeService | undefined {
    return [...this.services.values()].find((s) => s.listing.labels['buttcloud.request'] === request)
  }
}

function listingOf(id: string, spec: ServiceSpec): ServiceListing {
  return {
    id,
    name: objectName(spec.request),
    labels: labelsFor(spec.request),
    hub: spec.hub,
    port: spec.port,
    imageVersion: spec.imageVersion,
    memoryMiB: spec.memoryMiB,
    replicas: spec.replicas,
    forceUpdate: spec.forceUpdate,
  }
}

/** An inviter for runtimes that must not reach a pub: any invite fails the test. */
export const noInvites: PubInviter = async () => {
  throw new Error('this test set up no pub to invite to')
}

/** The orchestrator on a fresh in-memory engine (ports 9000-9009): a provider's runtime when only its records matter. */
export function inMemoryRuntime(): RuntimeFactory {
  return createOrchestratorRuntime({
    driver: new FakeEngine().driver(),
    inviter: noInvites,
    capacity: { hubMemoryMiB: 4096, headroomMiB: 0, ports: { first: 9000, last: 9009 }, retentionMs: 60_000 },
    defaultImageVersion: '1',
    settleMs: 2000,
    settlePollMs: 5,
    stats: { sampleIntervalMs: 0 },
  })
}
