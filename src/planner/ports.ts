/**
 * Ports: unique per hub, kept for a pub's whole life and until its data is purged, never handed out twice.
 *
 * The recorded placements are the only memory: every record counts, destroyed pubs included, until a release
 * record says the pub is purged (see `planDestroyed` in plan.ts). A pass hands out the lowest port no unreleased
 * record holds, and returns a `record-placement` action; nothing is created on it until a later pass reads the
 * record back. A crash before the record is persisted loses nothing (the port was never used), and a crash after
 * it finds the record. Released ports are reused lowest first, like never-used ones.
 */
import type { MsgId } from '../protocol/ids.js'
import type { Capacity, DesiredPub } from './types.js'

interface HubPorts {
  holders: Map<number, MsgId>
  /** Ports below this are all used: allocation never scans them again. */
  cursor: number
  usedInRange: number
}

export interface PortBook {
  /** Requests whose recorded port is held by an earlier request, with that holder. */
  readonly conflicts: ReadonlyMap<MsgId, MsgId>
  isFree(hub: string, port: number): boolean
  /** The request holding a port, if any. */
  holder(hub: string, port: number): MsgId | undefined
  /** Mark a port used by a request (a new or adopted placement within this pass). */
  take(hub: string, port: number, request: MsgId): void
  /** The lowest free port in range on this hub, or undefined when the range is spent. Does not take it. */
  peek(hub: string): number | undefined
  /** Ports in range that no record holds. */
  free(hub: string): number
}

/** Earlier requests hold a contested port: a total order, so the holder does not depend on list order. */
function earlier(a: DesiredPub, b: DesiredPub): boolean {
  return a.requestedAt !== b.requestedAt ? a.requestedAt < b.requestedAt : a.request < b.request
}

/** Does this pub's recorded placement still hold its port? Only a destroyed pub's release gives it back. */
export function holdsPort(pub: DesiredPub): boolean {
  return pub.placement !== undefined && !(pub.placement.released === true && pub.intent === 'destroyed')
}

/** Build the port book from every recorded placement that still holds its port (destroyed, unreleased pubs included). */
export function portBook(desired: Iterable<DesiredPub>, range: Capacity['ports']): PortBook {
  const hubs = new Map<string, HubPorts>()
  const hubPorts = (hub: string): HubPorts => {
    let h = hubs.get(hub)
    if (!h) hubs.set(hub, (h = { holders: new Map(), cursor: range.first, usedInRange: 0 }))
    return h
  }

  // Two records for one hub:port should never exist; if they do, the earlier request keeps it and the later one
  // is a conflict, whatever order the list came in.
  const placed: DesiredPub[] = []
  const first = new Map<string, Map<number, DesiredPub>>()
  for (const pub of desired) {
    if (!holdsPort(pub)) continue
    placed.push(pub)
    const { hub, port } = pub.placement!
    let ports = first.get(hub)
    if (!ports) first.set(hub, (ports = new Map()))
    const holder = ports.get(port)
    if (holder === undefined || earlier(pub, holder)) ports.set(port, pub)
  }

  const take = (hub: string, port: number, request: MsgId): void => {
    const h = hubPorts(hub)
    if (h.holders.has(port)) return
    h.holders.set(port, request)
    if (port >= range.first && port <= range.last) h.usedInRange++
  }
  for (const [hub, ports] of first) for (const [port, pub] of ports) take(hub, port, pub.request)

  const conflicts = new Map<MsgId, MsgId>()
  for (const pub of placed) {
    const holder = hubs.get(pub.placement!.hub)!.holders.get(pub.placement!.port)!
    if (holder !== pub.request) conflicts.set(pub.request, holder)
  }

  return {
    conflicts,
    isFree: (hub, port) => !(hubs.get(hub)?.holders.has(port) ?? false),
    holder: (hub, port) => hubs.get(hub)?.holders.get(port),
    take,
    peek(hub) {
      const h = hubPorts(hub)
      while (h.cursor <= range.last && h.holders.has(h.cursor)) h.cursor++
      return h.cursor <= range.last ? h.cursor : undefined
    },
    free: (hub) => range.last - range.first + 1 - (hubs.get(hub)?.usedInRange ?? 0),
  }
}

/**
 * The web view's port for a pub placed on `port`: the same position in the block just above the pool (pool
 * 8200-8999 gives web ports 9200-9999). Derived, not allocated, so the placement record stays the one source of
 * truth for both ports: a pub holds its web port exactly as long as its SSB port, and a release frees both.
 */
export function webPortFor(port: number, range: Capacity['ports']): number {
  return port + (range.last - range.first + 1)
}
