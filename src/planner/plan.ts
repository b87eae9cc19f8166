/**
 * The planner: (desired, observed, capacity, now) -> actions. Pure and level-triggered: it compares whole states,
 * so a lost event or a crashed executor is repaired by the next pass. An empty plan means converged.
 */
import type { MsgId } from '../protocol/ids.js'
import { sortActions, type Action, type SpecChange } from './actions.js'
import { allocate, type Allocation } from './placement.js'
import { portBook, webPortFor, type PortBook } from './ports.js'
import type { Capacity, DesiredPub, Observed, ObservedService, ObservedVolume, Placement, ServiceSpec } from './types.js'
import { indexWorld, schedulable, type World } from './world.js'
import { portTaken } from './summary.js'

/** The spec a live pub's service should have. */
function specFor(pub: DesiredPub, at: Placement, memoryMiB: number, ports: Capacity['ports']): ServiceSpec {
  // Assigned rather than spread: this runs for every live pub on every pass.
  const spec: ServiceSpec = {
    request: pub.request,
    owner: pub.owner,
    pubId: pub.pubId,
    hub: at.hub,
    port: at.port,
    imageVersion: pub.imageVersion,
    memoryMiB,
    replicas: pub.intent === 'running' ? 1 : 0,
    forceUpdate: pub.restartGeneration,
  }
  if (pub.name !== undefined) spec.name = pub.name
  if (pub.diskMiB !== undefined) spec.diskMiB = pub.diskMiB
  if (pub.webView) spec.webPort = webPortFor(at.port, ports)
  if (pub.hops !== undefined) spec.hops = pub.hops
  return spec
}

/** What differs between a service and its spec, in a fixed order. */
export function specChanges(svc: ObservedService, spec: ServiceSpec): SpecChange[] {
  const changes: SpecChange[] = []
  if (svc.imageVersion !== spec.imageVersion) changes.push('image')
  if (svc.memoryMiB !== spec.memoryMiB) changes.push('memory')
  if (svc.replicas !== spec.replicas) changes.push('replicas')
  if (svc.forceUpdate !== spec.forceUpdate) changes.push('restart')
  if (svc.hub !== spec.hub || svc.port !== spec.port) changes.push('placement')
  if (svc.diskMiB !== spec.diskMiB || svc.webPort !== spec.webPort) changes.push('settings')
  return changes
}

/** Actions for one live pub whose placement is recorded and uncontested. */
function planLive(pub: DesiredPub, world: World, alloc: Allocation, ports: Capacity['ports'], out: Action[]): void {
  const at = pub.placement!
  const memoryMiB = alloc.blocked.get(pub.request)?.haveMiB ?? pub.memoryMiB
  const spec = specFor(pub, at, memoryMiB, ports)
  const svc = world.services.get(pub.request)
  const volumes = world.volumes.get(pub.request) ?? []

  if (svc?.hub !== undefined && svc.hub !== at.hub) {
    planMoveSteps(pub, svc, world, spec, ports, out)
    return
  }
  if (svc === undefined) {
    // Nothing is created on a hub that cannot run it; report-hub-unavailable tells the operator.
    if (!schedulable(world.hubs.get(at.hub))) return
    if (!volumes.some((v) => v.hub === at.hub)) out.push({ kind: 'create-volume', request: pub.request, hub: at.hub })
    out.push({ kind: 'create-service', spec })
  } else {
    const changes = specChanges(svc, spec)
    if (changes.length > 0) out.push({ kind: 'update-service', serviceId: svc.id, spec, changes })
  }
  for (const v of volumes) {
    if (v.hub === at.hub) continue
    if (movedAway(pub, svc, v, volumes, world)) {
      out.push({ kind: 'purge-volume', request: pub.request, hub: v.hub, volumeName: v.name, why: 'moved' })
    } else {
      out.push({ kind: 'warn-orphan', object: 'volume', id: v.name, name: v.name, request: pub.request, why: 'off-placement' })
    }
  }
}

/**
 * The steps of a move under way (the record names another hub than the one the pub's service is pinned to), each
 * planned from what is observed, so a crash between two of them resumes at the first one not done: stop the service
 * where it is; once nothing of it runs there, copy its volume to the new hub and, in the same pass, pin the service
 * there (the copy always precedes the update, so a service on its new hub always finds its data).
 */
function planMoveSteps(pub: DesiredPub, svc: ObservedService, world: World, spec: ServiceSpec, ports: Capacity['ports'], out: Action[]): void {
  const at = pub.placement!
  const from = svc.hub!
  if (svc.replicas !== 0) {
    // Stopped where it is, on its old placement: the copy must not race the pub's own writes.
    const stop = specFor(pub, { hub: from, port: svc.port ?? at.port }, svc.memoryMiB ?? spec.memoryMiB, ports)
    stop.replicas = 0
    out.push({ kind: 'update-service', serviceId: svc.id, spec: stop, changes: ['stop-for-move'] })
    return
  }
  if (svc.tasks.some((t) => t.state === 'running' || t.state === 'starting')) return
  if (!schedulable(world.hubs.get(at.hub))) return
  const volumes = world.volumes.get(pub.request) ?? []
  if (volumes.some((v) => v.hub === from)) {
    out.push({ kind: 'move-data', request: pub.request, from, to: at.hub, imageVersion: svc.imageVersion ?? pub.imageVersion })
  } else if (world.volumeHubs && !world.volumeHubs.has(from)) {
    // Its data may be there, unseen: nothing starts elsewhere until it can be read (report-move-blocked says so).
    out.push({ kind: 'report-move-blocked', request: pub.request, hub: from, why: 'data-unreadable' })
    return
  }
  out.push({ kind: 'update-service', serviceId: svc.id, spec, changes: specChanges(svc, spec) })
}

/** A running task that passed its health check (or has none): the pub serves from where it is. */
function serving(svc: ObservedService): boolean {
  const t = svc.tasks[0]
  return t?.state === 'running' && t.health !== 'starting' && t.health !== 'unhealthy'
}

/**
 * Is `v` the volume a finished move left behind? Its copy on the pub's hub says it came from `v`'s hub, the service
 * is pinned there, and the pub is up from it (a stopped pub: its service stopped there), so deleting `v` loses nothing.
 */
function movedAway(pub: DesiredPub, svc: ObservedService | undefined, v: ObservedVolume, volumes: readonly ObservedVolume[], world: World): boolean {
  const at = pub.placement!
  if (!svc || svc.hub !== at.hub) return false
  if (!volumes.some((c) => c.hub === at.hub && c.movedFrom === v.hub)) return false
  if (world.volumeHubs && !world.volumeHubs.has(v.hub)) return false
  return pub.intent === 'running' ? svc.replicas === 1 && serving(svc) : svc.replicas === 0
}

/**
 * Actions for one destroyed pub: its service goes now, its volumes once retention has passed and no service is
 * left, and its port once nothing of it is left at all.
 */
function planDestroyed(pub: DesiredPub & { intent: 'destroyed' }, world: World, capacity: Capacity, now: number, out: Action[]): void {
  const svc = world.services.get(pub.request)
  if (svc) out.push({ kind: 'remove-service', request: pub.request, serviceId: svc.id, serviceName: svc.name, why: 'destroyed' })
  // Duplicates of a destroyed pub are removed by the duplicate rule; wait for all of them before purging.
  if (svc || now < pub.destroyedAt + capacity.retentionMs) return
  if (world.extraServices.some((s) => s.request === pub.request)) return
  const volumes = world.volumes.get(pub.request) ?? []
  for (const v of volumes) {
    out.push({ kind: 'purge-volume', request: pub.request, hub: v.hub, volumeName: v.name })
  }
  // The release waits for a later pass that sees the volumes gone: planned from what is observed, never from what
  // this pass is about to do, so a purge that fails (or a crash after it) can never free a port early.
  const at = pub.placement
  if (volumes.length > 0 || at === undefined || at.released) return
  if (world.volumeHubs && !world.volumeHubs.has(at.hub)) return
  out.push({ kind: 'release-placement', request: pub.request, hub: at.hub, port: at.port })
}

/**
 * A running pub whose recorded port turned out to be in use on its hub (its task exited with the pub's port-taken
 * code) gets a new placement on the same hub (its volume is there): recorded first, built on in a later pass like
 * any placement, so the records stay the one source of truth for ports. False when there is nothing to move or no
 * free port (then it stays down and says why).
 */
function replaceTakenPort(pub: DesiredPub, world: World, ports: PortBook, out: Action[]): boolean {
  const at = pub.placement!
  const svc = world.services.get(pub.request)
  if (pub.intent !== 'running' || !svc || svc.port !== at.port || !portTaken(svc, at.port)) return false
  const port = ports.peek(at.hub)
  if (port === undefined) return false
  ports.take(at.hub, port, pub.request)
  out.push({ kind: 'record-placement', request: pub.request, hub: at.hub, port, why: 'port-taken' })
  return true
}

function holdServicePort(svc: ObservedService, world: World, ports: PortBook): void {
  if (svc.hub === undefined || svc.port === undefined) return
  const pub = world.desired.get(svc.request)
  if (pub === undefined || (pub.intent === 'destroyed' && pub.placement?.released)) ports.take(svc.hub, svc.port, svc.request)
}

/** Turn one pass's desired and observed state into the actions that close the gap, in execution order. */
export function plan(desired: readonly DesiredPub[], observed: Observed, capacity: Capacity, now: number): Action[] {
  return planWorld(indexWorld(desired, observed), capacity, now)
}

/** `plan` on an already indexed world (a pass that also summarises indexes once). */
export function planWorld(world: World, capacity: Capacity, now: number): Action[] {
  const ports = portBook(world.desired.values(), capacity.ports)
  // A service of ours that no record explains (its pub is held back, unknown to this pass, or released) still
  // listens on its port: nothing new is placed there while it stands.
  for (const svc of world.services.values()) holdServicePort(svc, world, ports)
  for (const svc of world.extraServices) holdServicePort(svc, world, ports)
  // A port some task of ours found in use is held too, once unrecorded services are adopted (see `allocate`).
  const alloc = allocate(world, ports, capacity)
  const out: Action[] = []

  for (const p of alloc.placements) {
    out.push({ kind: 'record-placement', request: p.pub.request, hub: p.hub, port: p.port, why: p.why })
  }
  // A pub placed in this pass waits for its record to be read back before anything is built on it.
  const recordedNow = new Set<MsgId>(alloc.placements.map((p) => p.pub.request))
  // A pub whose stale record could not be replaced yet (its service's port is another record's) is left alone as it
  // runs, like a service with no record: acting on the stale record would move it back.
  for (const c of alloc.adoptConflicts) if (c.stale) recordedNow.add(c.pub.request)
  const unavailable = new Map<string, number>()

  for (const pub of world.desired.values()) {
    if (pub.intent === 'destroyed') {
      planDestroyed(pub, world, capacity, now, out)
      continue
    }
    if (!pub.placement || recordedNow.has(pub.request)) continue
    const holder = ports.conflicts.get(pub.request)
    if (holder !== undefined) {
      out.push({ kind: 'warn-conflict', request: pub.request, hub: pub.placement.hub, port: pub.placement.port, holder })
      continue
    }
    if (!schedulable(world.hubs.get(pub.placement.hub))) {
      unavailable.set(pub.placement.hub, (unavailable.get(pub.placement.hub) ?? 0) + 1)
    }
    if (replaceTakenPort(pub, world, ports, out)) continue
    planLive(pub, world, alloc, capacity.ports, out)
  }

  for (const c of alloc.adoptConflicts) {
    out.push({ kind: 'warn-conflict', request: c.pub.request, hub: c.hub, port: c.port, holder: c.holder, ...(c.stale ? { stale: true as const } : { unrecorded: true as const }) })
  }
  for (const svc of world.extraServices) {
    if (world.desired.has(svc.request)) {
      out.push({ kind: 'remove-service', request: svc.request, serviceId: svc.id, serviceName: svc.name, why: 'duplicate' })
    }
  }
  for (const svc of [...world.services.values(), ...world.extraServices]) {
    if (!world.desired.has(svc.request)) {
      out.push({ kind: 'warn-orphan', object: 'service', id: svc.id, name: svc.name, request: svc.request, why: 'unknown-request' })
    }
  }
  for (const [request, volumes] of world.volumes) {
    if (world.desired.has(request)) continue
    for (const v of volumes) {
      out.push({ kind: 'warn-orphan', object: 'volume', id: v.name, name: v.name, request, why: 'unknown-request' })
    }
  }

  for (const pub of alloc.queued) out.push({ kind: 'report-queued', request: pub.request, memoryMiB: pub.memoryMiB })
  if (alloc.queued.length > 0) {
    out.push({ kind: 'report-hubs-needed', ...alloc.hubsNeeded, queued: alloc.queued.length })
  }
  for (const [request, b] of alloc.blocked) out.push({ kind: 'report-resize-blocked', request, ...b })
  for (const m of alloc.moveBlocked) out.push({ kind: 'report-move-blocked', request: m.pub.request, hub: m.hub, why: m.why })
  for (const [hub, pubs] of unavailable) out.push({ kind: 'report-hub-unavailable', hub, pubs })
  for (const request of world.conflictingDuplicates) out.push({ kind: 'warn-duplicate-desired', request })
  for (const object of world.foreign) out.push({ kind: 'warn-foreign', object })

  return sortActions(out)
}
