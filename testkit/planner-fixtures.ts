/**
 * Builders for planner tests and the planning benchmark: desired pubs, hubs, converged services, and a fake
 * executor that applies a plan to the state the way a driver would, so tests can check a second pass.
 */
import { createHash } from 'node:crypto'
import type { FeedId, MsgId } from '../src/protocol/ids.js'
import type {
  Action,
  Capacity,
  DesiredPub,
  Hub,
  Observed,
  ObservedService,
  ObservedVolume,
  ServiceSpec,
} from '../src/planner/index.js'
import { changesOf, objectName, plan, webPortFor } from '../src/planner/index.js'

const hash = (text: string) => createHash('sha256').update(text).digest('base64')

/** The request id of test pub number n (its order as ids sort is unrelated to n, as with real ids). */
export const req = (n: number): MsgId => `%${hash(`request ${n}`)}.sha256`
export const feed = (label: string): FeedId => `@${hash(`feed ${label}`)}.ed25519`

export const DAY = 24 * 3600_000
export const NOW = 1_750_000_000_000

export const CAPACITY: Capacity = {
  hubMemoryMiB: 16384,
  headroomMiB: 1024,
  ports: { first: 20000, last: 29999 },
  retentionMs: 30 * DAY,
  hubPrice: { amountPerMonth: 4000, currency: 'usd' },
}

/** A ready, active hub; its id sorts in the same order as its number. */
export function hub(n: number, over: Partial<Hub> = {}): Hub {
  return {
    id: `node${String(n).padStart(4, '0')}`,
    name: `hub-${n}`,
    address: `hub-${n}.example.net`,
    memoryMiB: CAPACITY.hubMemoryMiB,
    foreignReservedMiB: 0,
    availability: 'active',
    ready: true,
    ...over,
  }
}

type PubOver = Partial<Omit<DesiredPub, 'intent' | 'destroyedAt'>> &
  ({ intent?: 'running' | 'stopped' } | { intent: 'destroyed'; destroyedAt: number })

/** A running desired pub (128 MiB, image 1.0.0, generation 0, unplaced) unless told otherwise. */
export function pub(n: number, over: PubOver = {}): DesiredPub {
  return {
    request: req(n),
    owner: feed(`owner ${n}`),
    plan: 'small',
    memoryMiB: 128,
    pubId: feed(`pub ${n}`),
    requestedAt: NOW - DAY + n,
    restartGeneration: 0,
    imageVersion: '1.0.0',
    intent: 'running',
    ...over,
  } as DesiredPub
}

/** The spec the planner would give a placed pub. */
export function specOf(p: DesiredPub): ServiceSpec {
  if (!p.placement) throw new Error('specOf needs a placed pub')
  return {
    request: p.request,
    owner: p.owner,
    pubId: p.pubId,
    ...(p.name !== undefined ? { name: p.name } : {}),
    hub: p.placement.hub,
    port: p.placement.port,
    imageVersion: p.imageVersion,
    memoryMiB: p.memoryMiB,
    ...(p.diskMiB !== undefined ? { diskMiB: p.diskMiB } : {}),
    ...(p.webView ? { webPort: webPortFor(p.placement.port, CAPACITY.ports) } : {}),
    replicas: p.intent === 'running' ? 1 : 0,
    forceUpdate: p.restartGeneration,
    ...(p.hops !== undefined ? { hops: p.hops } : {}),
  }
}

/** A service of ours as a driver would list it after creating it from a spec: one healthy running task. */
export function serviceFromSpec(spec: ServiceSpec, id = `svc-${objectName(spec.request)}`): ObservedService {
  return {
    id,
    name: objectName(spec.request),
    request: spec.request,
    hub: spec.hub,
    port: spec.port,
    imageVersion: spec.imageVersion,
    memoryMiB: spec.memoryMiB,
    ...(spec.diskMiB !== undefined ? { diskMiB: spec.diskMiB } : {}),
    ...(spec.webPort !== undefined ? { webPort: spec.webPort } : {}),
    replicas: spec.replicas,
    forceUpdate: spec.forceUpdate,
    tasks: spec.replicas === 1 ? [{ state: 'running', health: 'healthy', at: NOW - 60_000 }] : [],
  }
}

/** The service a converged, placed pub has. */
export const serviceOf = (p: DesiredPub, over: Partial<ObservedService> = {}): ObservedService => ({
  ...serviceFromSpec(specOf(p)),
  ...over,
})

export function volumeOf(p: DesiredPub, over: Partial<ObservedVolume> = {}): ObservedVolume {
  return { name: objectName(p.request), request: p.request, hub: p.placement!.hub, createdAt: NOW - DAY, ...over }
}

export function observed(over: Partial<Observed> = {}): Observed {
  return { hubs: [], services: [], volumes: [], foreign: [], ...over }
}

/** Placed pubs with their services and volumes: a converged world. */
export function converged(pubs: DesiredPub[], hubs: Hub[]): Observed {
  const live = pubs.filter((p) => p.placement && p.intent !== 'destroyed')
  return observed({ hubs, services: live.map((p) => serviceOf(p)), volumes: live.map((p) => volumeOf(p)) })
}

export interface State {
  desired: DesiredPub[]
  observed: Observed
}

/**
 * Apply a plan as a well-behaved executor and driver would: records become placements in the desired state (the
 * log read back), objects are created, updated and removed. Throws on an action that names an unknown object.
 */
export function execute(actions: readonly Action[], state: State): State {
  const desired = state.desired.map((p) => ({ ...p }))
  let services = state.observed.services.map((s) => ({ ...s }))
  let volumes = [...state.observed.volumes]
  const byRequest = new Map(desired.map((p) => [p.request, p]))
  for (const a of actions) {
    switch (a.kind) {
      case 'record-placement': {
        const p = byRequest.get(a.request)
        if (!p) throw new Error(`record for unknown ${a.request}`)
        // A placed pub gets another record only when it moves, or when its record is stale (`staleRecord`: adopted).
        if (p.placement && a.why !== 'move' && a.why !== 'adopt') throw new Error(`second record for ${a.request}`)
        const holder = desired.find((d) => d.placement?.hub === a.hub && d.placement.port === a.port && !(d.placement.released && d.intent === 'destroyed'))
        if (holder) throw new Error(`port ${a.hub}:${a.port} handed to ${a.request} while ${holder.request} holds it`)
        p.placement = { hub: a.hub, port: a.port }
        break
      }
      case 'move-data': {
        if (!volumes.some((v) => v.request === a.request && v.hub === a.from)) throw new Error(`move of ${a.request} from ${a.from}, where it has no volume`)
        if (services.some((s) => s.request === a.request && s.tasks.some((t) => t.state === 'running'))) throw new Error(`move of ${a.request} while it runs`)
        volumes = volumes.filter((v) => !(v.request === a.request && v.hub === a.to))
        volumes.push({ name: objectName(a.request), request: a.request, hub: a.to, createdAt: NOW, movedFrom: a.from })
        break
      }
      case 'create-volume':
        volumes.push({ name: objectName(a.request), request: a.request, hub: a.hub, createdAt: NOW })
        break
      case 'create-service':
        if (services.some((s) => s.name === objectName(a.spec.request))) throw new Error('name taken')
        services.push(serviceFromSpec(a.spec))
        break
      case 'update-service': {
        const i = services.findIndex((s) => s.id === a.serviceId)
        if (i < 0) throw new Error(`update of unknown service ${a.serviceId}`)
        services[i] = serviceFromSpec(a.spec, a.serviceId)
        break
      }
      case 'remove-service':
        if (!services.some((s) => s.id === a.serviceId)) throw new Error(`removal of unknown service ${a.serviceId}`)
        services = services.filter((s) => s.id !== a.serviceId)
        break
      case 'purge-volume':
        if (!volumes.some((v) => v.name === a.volumeName && v.hub === a.hub)) throw new Error('purge of unknown volume')
        volumes = volumes.filter((v) => !(v.name === a.volumeName && v.hub === a.hub))
        break
      case 'release-placement': {
        const p = byRequest.get(a.request)
        if (!p?.placement || p.placement.hub !== a.hub || p.placement.port !== a.port) throw new Error(`release of an unrecorded placement ${a.request}`)
        if (p.intent !== 'destroyed') throw new Error(`release of live pub ${a.request}`)
        if (services.some((s) => s.request === a.request) || volumes.some((v) => v.request === a.request)) {
          throw new Error(`release of ${a.request} while something of it remains`)
        }
        p.placement = { ...p.placement, released: true }
        break
      }
      default:
        break // reports change nothing
    }
  }
  return { desired, observed: { ...state.observed, services, volumes } }
}

/** Plan and execute until a plan changes nothing; returns the passes that changed something and the final state. */
export function converge(start: State, capacity: Capacity, now: number, maxPasses = 5): State & { passes: number; last: Action[] } {
  let state = start
  for (let passes = 0; passes <= maxPasses; passes++) {
    const actions = plan(state.desired, state.observed, capacity, now)
    if (changesOf(actions).length === 0) return { ...state, passes, last: actions }
    state = execute(actions, state)
  }
  throw new Error(`no convergence within ${maxPasses} passes`)
}
