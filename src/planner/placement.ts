/**
 * Placement: pack pubs onto hubs by memory reservation, and say how many hubs are missing when some pubs fit
 * nowhere. A pub's reservation is its plan's memory divided by the operator's overcommit ratio, or its measured peak
 * with a margin when that is more (`reservationMiB`); its plan's memory stays its limit, the bound the kernel's OOM
 * killer enforces on it alone. Reservations never exceed a hub's room.
 *
 * Best-fit (the hub left with the least room that still fits the pub), not first-fit: a pub moves only when its hub
 * is drained (its volume lives on its hub, and a move copies it), so placement is online and nearly final. Best-fit fills hubs one after another, which keeps
 * large holes for large plans and leaves freshly added hubs empty until they are needed; first-fit would do nearly
 * as well on packing but ties the result to the order of node ids. Worst-fit would spread load, at the price of
 * fragmenting every hub so that a 2 GiB plan fits nowhere while 10 GiB sits free in 128 MiB slivers.
 */
import type { MsgId } from '../protocol/ids.js'
import type { PortBook } from './ports.js'
import type { Capacity, DesiredPub, Hub, ObservedService } from './types.js'
import { isLive, schedulable, type World } from './world.js'
import { staleRecord } from './stale.js'
import { PUB_EXIT } from '../protocol/pub-exit.js'

/** One hub's memory as this pass sees it. */
export interface HubRoom {
  hub: Hub
  /** Memory pubs may reserve: the node's memory less headroom and what others reserved. */
  capacityMiB: number
  /** Held by our pubs (and by our services being removed, until they are gone). */
  usedMiB: number
  /** Live pubs recorded on this hub. */
  pubs: number
}

export interface NewPlacement {
  pub: DesiredPub
  hub: string
  port: number
  /**
   * `adopt`: the record was missing (lost with a restore from an older backup) but a service of ours already runs
   * there, or (no service) a volume of ours holds its data on that hub, or the record is stale (`staleRecord`: the
   * pub moved after that backup and serves from its copy): it is written now from what is observed;
   * `move`: its hub is drained, so it goes to another hub with its data.
   */
  why: 'new' | 'adopt' | 'move'
}

/** A pub on a drained hub that stays for now, and why. */
export interface BlockedMove {
  pub: DesiredPub
  hub: string
  why: 'no-room' | 'data-unreadable'
}

export interface Allocation {
  rooms: Map<string, HubRoom>
  placements: NewPlacement[]
  /** Running pubs that fit on no hub, in the order they claim room (`byClaim`). */
  queued: DesiredPub[]
  /** Pubs whose plan grew beyond their hub's free room: they keep `haveMiB` for now. */
  blocked: Map<MsgId, { hub: string; haveMiB: number; wantMiB: number }>
  /** Pubs on a drained hub that found no other hub with room (or whose data cannot be read): they stay. */
  moveBlocked: BlockedMove[]
  /** Unplaced pubs (or pubs with a stale record: `stale`) whose service sits on a port another request holds. */
  adoptConflicts: Array<{ pub: DesiredPub; hub: string; port: number; holder: MsgId; stale?: true }>
  hubsNeeded: { count: number; memoryMiB: number }
}

/** Oldest request first, then by id: the fair and deterministic order for handing out scarce room. */
export function byAge(a: DesiredPub, b: DesiredPub): number {
  return a.requestedAt - b.requestedAt || (a.request < b.request ? -1 : a.request > b.request ? 1 : 0)
}

/**
 * The order scarce room is handed out in: paying pubs before free ones (the provider caps free pubs, but a queue
 * of them must never hold up a pub someone pays for), then oldest request first.
 */
export function byClaim(a: DesiredPub, b: DesiredPub): number {
  return (a.free === true ? 1 : 0) - (b.free === true ? 1 : 0) || byAge(a, b)
}

/** How much more than its measured peak a pub reserves: room for the next burst before the next sample. */
export const MEASURED_MARGIN = 1.5

/**
 * What a pub with this limit reserves on its hub for packing: the limit divided by the overcommit ratio, or its
 * measured peak times the margin when that is more, never more than the limit itself.
 */
export function reservationMiB(limitMiB: number, capacity: Pick<Capacity, 'overcommit'>, measuredMiB?: number): number {
  const shared = Math.ceil(limitMiB / Math.max(1, capacity.overcommit ?? 1))
  const measured = measuredMiB === undefined ? 0 : Math.ceil(measuredMiB * MEASURED_MARGIN)
  return Math.min(limitMiB, Math.max(shared, measured))
}

function free(room: HubRoom): number {
  return room.capacityMiB - room.usedMiB
}

/** The room each hub offers before any pub is counted. */
function emptyRooms(hubs: Iterable<Hub>, capacity: Capacity): Map<string, HubRoom> {
  const rooms = new Map<string, HubRoom>()
  for (const hub of hubs) {
    const capacityMiB = Math.max(0, hub.memoryMiB - capacity.headroomMiB - hub.foreignReservedMiB)
    rooms.set(hub.id, { hub, capacityMiB, usedMiB: 0, pubs: 0 })
  }
  return rooms
}

/** The schedulable hub where this pub fits most tightly and a port is free, or undefined. */
function bestFit(rooms: Map<string, HubRoom>, ports: PortBook, memoryMiB: number): HubRoom | undefined {
  let best: HubRoom | undefined
  for (const room of rooms.values()) {
    const left = free(room) - memoryMiB
    if (left < 0 || !schedulable(room.hub) || ports.peek(room.hub.id) === undefined) continue
    if (best === undefined || left < free(best) - memoryMiB || (left === free(best) - memoryMiB && room.hub.id < best.hub.id)) {
      best = room
    }
  }
  return best
}

/**
 * How many hubs of which size would take every queued pub: first-fit decreasing into empty hubs of the configured
 * size, or of the largest pub's size plus headroom when a pub is bigger than a configured hub.
 */
export function hubsNeeded(queuedMiB: readonly number[], capacity: Capacity): { count: number; memoryMiB: number } {
  if (queuedMiB.length === 0) return { count: 0, memoryMiB: capacity.hubMemoryMiB }
  const largest = Math.max(...queuedMiB)
  const memoryMiB = Math.max(capacity.hubMemoryMiB, largest + capacity.headroomMiB)
  const usable = memoryMiB - capacity.headroomMiB
  const portsPerHub = capacity.ports.last - capacity.ports.first + 1
  const bins: Array<{ free: number; pubs: number }> = []
  for (const mem of [...queuedMiB].sort((a, b) => b - a)) {
    const bin = bins.find((b) => b.free >= mem && b.pubs < portsPerHub)
    if (bin) {
      bin.free -= mem
      bin.pubs++
    } else {
      bins.push({ free: usable - mem, pubs: 1 })
    }
  }
  return { count: bins.length, memoryMiB }
}

/** Count what is held on each hub, grant plan growth where there is room, adopt or place unplaced pubs. */
export function allocate(world: World, ports: PortBook, capacity: Capacity): Allocation {
  const rooms = emptyRooms(world.hubs.values(), capacity)
  const growing: DesiredPub[] = []
  // Pubs whose record a restore made stale (they moved after the backup): they hold room where their service is,
  // and are recorded there below, like a pub with no record.
  const stale = new Set<MsgId>()
  for (const pub of world.desired.values()) if (staleRecord(pub, world)) stale.add(pub.request)
  // Does this pub hold room on its recorded hub (so its service is counted there, not below)?
  const holdsRoom = (pub: DesiredPub | undefined): pub is DesiredPub =>
    pub !== undefined && pub.placement !== undefined && isLive(pub) && !ports.conflicts.has(pub.request)

  // What live, recorded pubs hold: the size their service has now (a change of plan is only granted below), or
  // the plan's size when the service is still to be created.
  for (const pub of world.desired.values()) {
    if (!holdsRoom(pub)) continue
    const svc = world.services.get(pub.request)
    const held = svc?.memoryMiB ?? pub.memoryMiB
    // A stale record's plan growth waits for its new record (the next pass): this pass only records where it is.
    const isStale = stale.has(pub.request)
    if (held < pub.memoryMiB && !isStale) growing.push(pub)
    const room = rooms.get(isStale ? svc!.hub! : pub.placement!.hub)
    if (room) {
      room.usedMiB += reservationMiB(held, capacity, pub.measuredMiB)
      room.pubs++
    }
  }
  // Our services that stand for no live recorded pub (destroyed, orphaned, duplicated, not yet recorded) still
  // hold their reservation until they are removed: counting them keeps a pass from overcommitting in the meantime.
  const holdElsewhere = (svc: ObservedService) => {
    const room = svc.hub === undefined ? undefined : rooms.get(svc.hub)
    if (room) room.usedMiB += reservationMiB(svc.memoryMiB ?? 0, capacity)
  }
  for (const svc of world.services.values()) if (!holdsRoom(world.desired.get(svc.request))) holdElsewhere(svc)
  for (const svc of world.extraServices) holdElsewhere(svc)

  const blocked: Allocation['blocked'] = new Map()
  for (const pub of growing.sort(byAge)) {
    const hub = pub.placement!.hub
    const room = rooms.get(hub)
    const have = world.services.get(pub.request)!.memoryMiB!
    const delta = reservationMiB(pub.memoryMiB, capacity, pub.measuredMiB) - reservationMiB(have, capacity, pub.measuredMiB)
    if (room && free(room) >= delta) room.usedMiB += delta
    else blocked.set(pub.request, { hub, haveMiB: have, wantMiB: pub.memoryMiB })
  }

  const placements: NewPlacement[] = []
  const adoptConflicts: Allocation['adoptConflicts'] = []
  const unplaced: DesiredPub[] = []
  for (const pub of world.desired.values()) if (!pub.placement || stale.has(pub.request)) unplaced.push(pub)
  // Oldest first here too: two unrecorded services on one port must resolve the same way whatever the list order.
  unplaced.sort(byAge)

  // Services first: the port a service of ours listens on is recorded for it before any port is handed out
  // (to a move, to a pub regained by its volume, to a new pub), so nothing is placed where a pub already listens.
  const serviceless: DesiredPub[] = []
  for (const pub of unplaced) {
    const svc = world.services.get(pub.request)
    if (svc?.hub === undefined || svc.port === undefined) {
      serviceless.push(pub)
      continue
    }
    // A service of ours with no record (the record was lost, e.g. with a restore from an older backup) or a stale
    // one: record where it is, so its port is burnt, unless another request's record holds that port (the record
    // wins: this one is left alone and reported until that port is free). Its memory is already counted on that hub
    // above (a stale record's pub is counted there already).
    const isStale = stale.has(pub.request)
    const holder = ports.holder(svc.hub, svc.port)
    if (holder === undefined) {
      ports.take(svc.hub, svc.port, pub.request)
      placements.push({ pub, hub: svc.hub, port: svc.port, why: 'adopt' })
      const room = rooms.get(svc.hub)
      if (room && isLive(pub) && !isStale) room.pubs++
    } else {
      adoptConflicts.push({ pub, hub: svc.hub, port: svc.port, holder, ...(isStale ? { stale: true as const } : {}) })
    }
  }

  // A port some task of ours found in use (by anything else on the hub) is not handed out again while Swarm still
  // lists that task: the next pub placed there would only fail the same way. Held after the adoptions above, so an
  // unrecorded service of ours that is what held the port (after a restore) is recorded there, not held off for ever.
  for (const svc of world.services.values()) holdTakenPorts(svc, ports)

  // Pubs that hold data go before new ones: a drained hub's pubs are moved first, oldest claim first.
  const moveBlocked = planMoves(world, rooms, ports, capacity, placements)
  const toPlace: DesiredPub[] = []
  for (const pub of serviceless) {
    if (isLive(pub) && adoptData(pub, world, rooms, ports, capacity, placements)) continue
    // Stopped pubs are placed when started: a hub slot held for a pub nobody runs is wasted room.
    if (pub.intent === 'running') toPlace.push(pub)
  }

  const queued: DesiredPub[] = []
  for (const pub of toPlace.sort(byClaim)) {
    const reserved = reservationMiB(pub.memoryMiB, capacity)
    const room = bestFit(rooms, ports, reserved)
    if (!room) {
      queued.push(pub)
      continue
    }
    const port = ports.peek(room.hub.id)!
    ports.take(room.hub.id, port, pub.request)
    room.usedMiB += reserved
    room.pubs++
    placements.push({ pub, hub: room.hub.id, port, why: 'new' })
  }

  return {
    rooms,
    placements,
    queued,
    blocked,
    moveBlocked,
    adoptConflicts,
    hubsNeeded: hubsNeeded(
      queued.map((p) => reservationMiB(p.memoryMiB, capacity)),
      capacity,
    ),
  }
}

/** Hold every port a task of this service exited on because the port was in use. */
function holdTakenPorts(svc: ObservedService, ports: PortBook): void {
  if (svc.hub === undefined) return
  for (const t of svc.tasks) if (t.exitCode === PUB_EXIT.portTaken && t.port !== undefined) ports.take(svc.hub, t.port, svc.request)
}

/**
 * A live pub with no record and no service, but a volume of ours (its record was lost, e.g. by a restore from an
 * older backup, after its service went): recorded on the hub that holds its data, at the lowest free port there (a
 * volume does not say which port its pub had; an owner heard an address only from a running service), when it fits
 * there. Otherwise it is placed like a new pub and the volume is reported off its placement, as before. The oldest
 * volume counts: a second one can only be a move's copy, and the copy is what an interrupted move leaves half-made.
 */
function adoptData(pub: DesiredPub, world: World, rooms: Map<string, HubRoom>, ports: PortBook, capacity: Capacity, placements: NewPlacement[]): boolean {
  const volumes = [...(world.volumes.get(pub.request) ?? [])].sort((a, b) => a.createdAt - b.createdAt || (a.hub < b.hub ? -1 : a.hub > b.hub ? 1 : 0))
  const room = volumes.length > 0 ? rooms.get(volumes[0]!.hub) : undefined
  if (room === undefined) return false
  const reserved = reservationMiB(pub.memoryMiB, capacity, pub.measuredMiB)
  const port = ports.peek(room.hub.id)
  if (port === undefined || free(room) < reserved) return false
  ports.take(room.hub.id, port, pub.request)
  room.usedMiB += reserved
  room.pubs++
  placements.push({ pub, hub: room.hub.id, port, why: 'adopt' })
  return true
}

/**
 * Does this pub have to leave its recorded hub? Its hub is drained (Swarm's node availability `drain`, set by
 * `drain.js` or by hand): every live pub placed there moves, stopped ones too, so the hub can be emptied. Not a pub
 * whose record is stale (`staleRecord`): it already left that hub, and is recorded where it is instead.
 */
export function mustMove(pub: DesiredPub, world: World, ports: PortBook): boolean {
  return (
    isLive(pub) &&
    pub.placement !== undefined &&
    !ports.conflicts.has(pub.request) &&
    world.hubs.get(pub.placement.hub)?.availability === 'drain' &&
    !staleRecord(pub, world)
  )
}

/**
 * The hub a moving pub goes to: schedulable, with room and a port, and its volumes readable when the pub has data to
 * carry; a hub where the pub's own port is free first (its address keeps its port), then the tightest fit.
 */
function moveTarget(rooms: Map<string, HubRoom>, ports: PortBook, memoryMiB: number, port: number, world: World, carriesData: boolean): HubRoom | undefined {
  let best: { room: HubRoom; samePort: boolean; left: number } | undefined
  for (const room of rooms.values()) {
    const left = free(room) - memoryMiB
    if (left < 0 || !schedulable(room.hub) || ports.peek(room.hub.id) === undefined) continue
    if (carriesData && world.volumeHubs && !world.volumeHubs.has(room.hub.id)) continue
    const samePort = ports.isFree(room.hub.id, port)
    const better =
      best === undefined ||
      (samePort && !best.samePort) ||
      (samePort === best.samePort && (left < best.left || (left === best.left && room.hub.id < best.room.hub.id)))
    if (better) best = { room, samePort, left }
  }
  return best?.room
}

/**
 * Give every pub on a drained hub a new placement on another hub (recorded like any placement, the port from the
 * port book: its own port when that is free there), moving its reservation with it. A pub no hub can take stays
 * where it is and is returned, with why, for the operator's report.
 */
function planMoves(world: World, rooms: Map<string, HubRoom>, ports: PortBook, capacity: Capacity, placements: NewPlacement[]): BlockedMove[] {
  const blocked: BlockedMove[] = []
  const moving = [...world.desired.values()].filter((p) => mustMove(p, world, ports)).sort(byClaim)
  for (const pub of moving) {
    const at = pub.placement!
    const svc = world.services.get(pub.request)
    // Its data is where its service is (the source of a move under way too); a pub with no service has none yet.
    const source = svc?.hub
    if (source !== undefined && world.volumeHubs && !world.volumeHubs.has(source)) {
      blocked.push({ pub, hub: at.hub, why: 'data-unreadable' })
      continue
    }
    const reserved = reservationMiB(svc?.memoryMiB ?? pub.memoryMiB, capacity, pub.measuredMiB)
    const room = moveTarget(rooms, ports, reserved, at.port, world, source !== undefined)
    if (!room) {
      blocked.push({ pub, hub: at.hub, why: 'no-room' })
      continue
    }
    const port = at.port >= capacity.ports.first && at.port <= capacity.ports.last && ports.isFree(room.hub.id, at.port) ? at.port : ports.peek(room.hub.id)!
    ports.take(room.hub.id, port, pub.request)
    const old = rooms.get(at.hub)
    if (old) {
      old.usedMiB -= reserved
      old.pubs--
    }
    room.usedMiB += reserved
    room.pubs++
    placements.push({ pub, hub: room.hub.id, port, why: 'move' })
  }
  return blocked
}
