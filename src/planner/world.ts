/**
 * One pass's inputs indexed once: desired pubs by request (duplicates merged deterministically), our services and
 * volumes by request, hubs by id. Every later step is a Map lookup, so a pass is linear in the number of pubs.
 */
import type { MsgId } from '../protocol/ids.js'
import type { DesiredPub, ForeignObject, Hub, Observed, ObservedService, ObservedVolume } from './types.js'

export interface World {
  desired: Map<MsgId, DesiredPub>
  /** Requests listed more than once with different content. */
  conflictingDuplicates: MsgId[]
  /** The service that stands for each request (see `preferService`). */
  services: Map<MsgId, ObservedService>
  /** Further services of ours for a request that already has one. */
  extraServices: ObservedService[]
  volumes: Map<MsgId, ObservedVolume[]>
  hubs: Map<string, Hub>
  foreign: readonly ForeignObject[]
  /** Hubs whose volumes were listed; undefined: every hub's. */
  volumeHubs?: ReadonlySet<string>
}

const INTENT_RANK = { destroyed: 0, stopped: 1, running: 2 } as const

/** A JSON text with sorted keys, so two equal pubs compare equal whatever order their fields were built in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/**
 * Which of two different entries for one request wins. A total order, so the winner does not depend on list order.
 * Destroy beats stop beats run and the higher restart generation wins: the log only moves forward, so the entry
 * that has seen more commands is the newer one.
 */
function preferDesired(a: DesiredPub, b: DesiredPub): DesiredPub {
  const byIntent = INTENT_RANK[a.intent] - INTENT_RANK[b.intent]
  if (byIntent !== 0) return byIntent < 0 ? a : b
  if (a.restartGeneration !== b.restartGeneration) return a.restartGeneration > b.restartGeneration ? a : b
  return canonical(a) <= canonical(b) ? a : b
}

/**
 * Which of two services for one request stands for it: the one where the record says the pub lives, then the
 * lower id. Also a total order; the others are duplicates to remove.
 */
function preferService(a: ObservedService, b: ObservedService, pub: DesiredPub | undefined): ObservedService {
  const at = (s: ObservedService) => (pub?.placement && s.hub === pub.placement.hub && s.port === pub.placement.port ? 0 : 1)
  const byPlace = at(a) - at(b)
  if (byPlace !== 0) return byPlace < 0 ? a : b
  return a.id <= b.id ? a : b
}

/** Index one pass's desired and observed state. */
export function indexWorld(desiredList: readonly DesiredPub[], observed: Observed): World {
  const desired = new Map<MsgId, DesiredPub>()
  const conflicting = new Set<MsgId>()
  for (const pub of desiredList) {
    const seen = desired.get(pub.request)
    if (seen === undefined) {
      desired.set(pub.request, pub)
    } else if (seen !== pub && canonical(seen) !== canonical(pub)) {
      conflicting.add(pub.request)
      desired.set(pub.request, preferDesired(seen, pub))
    }
  }

  const services = new Map<MsgId, ObservedService>()
  const losers: ObservedService[] = []
  for (const svc of observed.services) {
    const seen = services.get(svc.request)
    if (seen === undefined) {
      services.set(svc.request, svc)
    } else if (seen.id !== svc.id) {
      const winner = preferService(seen, svc, desired.get(svc.request))
      services.set(svc.request, winner)
      losers.push(winner === seen ? svc : seen)
    }
  }

  const volumes = new Map<MsgId, ObservedVolume[]>()
  for (const vol of observed.volumes) {
    const list = volumes.get(vol.request)
    if (list) list.push(vol)
    else volumes.set(vol.request, [vol])
  }

  const hubs = new Map<string, Hub>()
  for (const hub of observed.hubs) hubs.set(hub.id, hub)

  return {
    desired,
    conflictingDuplicates: [...conflicting].sort(),
    services,
    extraServices: losers,
    volumes,
    hubs,
    foreign: observed.foreign,
    ...(observed.volumeHubs ? { volumeHubs: new Set(observed.volumeHubs) } : {}),
  }
}

/** Can new tasks be scheduled on this hub? */
export function schedulable(hub: Hub | undefined): boolean {
  return hub !== undefined && hub.ready && hub.availability === 'active'
}

/** Is this pub meant to hold a place on a hub (its memory and its port)? */
export function isLive(pub: DesiredPub): boolean {
  return pub.intent !== 'destroyed'
}
