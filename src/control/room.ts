/**
 * Room for free pubs: a global cap on the free pubs that hold a place, and a share per owner. Pure.
 *
 * A free pub (one that needs no payment) holds a place from the moment it may claim room until its port is
 * released, that is while it is live and, once destroyed, through its retention period until its data is purged.
 * Counting destroyed-but-unpurged pubs is what stops one identity from cycling request -> destroy -> request to
 * hold ports without end: its destroyed pubs keep counting against its share (`pubsPerOwner`) and against the cap
 * until they are purged, so free pubs never hold more than `cap` ports between them and one owner never more than
 * its share. A shorter retention for free pubs was the other way; it would only shrink the window, not bound it.
 *
 * Free pubs beyond the cap or their owner's share wait, oldest request first, and are never handed to the runtime
 * (so never given a port). Paying pubs are not counted and never wait for free ones.
 */
import type { MsgId } from '../protocol/ids.js'
import type { Gated } from './gate.js'
import type { RuntimePub } from './runtime.js'

export interface FreeRoom {
  /** Free pubs that may hold a place at once, over the whole provider. */
  cap: number
  /** Places one owner's free pubs may hold at once. */
  perOwner: number
}

/** Why a free pub waits, and its place among those waiting for the cap (1 = next). */
export type FreeWait = { why: 'cap'; position: number; cap: number } | { why: 'owner'; perOwner: number }

/** Does this pub hold a free place: a free pub whose recorded port is not released? */
function holdsFreePlace(p: RuntimePub): boolean {
  return p.free === true && p.placement !== undefined && !(p.placement.released === true && p.intent === 'destroyed')
}

/** Oldest request first, then by id: the same order for every pass and every node. */
function oldestFirst(a: RuntimePub, b: RuntimePub): number {
  const x = a.record
  const y = b.record
  return x.requestedAt - y.requestedAt || (x.request < y.request ? -1 : x.request > y.request ? 1 : 0)
}

/**
 * The free pubs that must wait this pass, by request. Pubs already placed keep their place whatever the cap says
 * now (a pub is never evicted); unplaced running free pubs claim the free places left, oldest first.
 */
export function freeWaits(pubs: readonly RuntimePub[], room: FreeRoom): Map<MsgId, FreeWait> {
  let held = 0
  const heldBy = new Map<string, number>()
  const claims: RuntimePub[] = []
  for (const p of pubs) {
    if (holdsFreePlace(p)) {
      held++
      heldBy.set(p.record.owner, (heldBy.get(p.record.owner) ?? 0) + 1)
    } else if (p.free === true && p.intent === 'running' && p.placement === undefined) {
      claims.push(p)
    }
  }
  const waits = new Map<MsgId, FreeWait>()
  let position = 0
  for (const p of claims.sort(oldestFirst)) {
    const owner = p.record.owner
    const mine = heldBy.get(owner) ?? 0
    if (mine >= room.perOwner) {
      waits.set(p.record.request, { why: 'owner', perOwner: room.perOwner })
    } else if (held >= room.cap) {
      waits.set(p.record.request, { why: 'cap', position: ++position, cap: room.cap })
    } else {
      held++
      heldBy.set(owner, mine + 1)
    }
  }
  return waits
}

/**
 * Hold the free pubs that must wait, in place: they are not handed to the runtime (so get no port) and their owner
 * is told why. Returns how many wait.
 */
export function holdWaitingFree(gated: Map<MsgId, Gated>, room: FreeRoom): number {
  const waits = freeWaits([...gated.values()].map((g) => g.pub), room)
  for (const [request, wait] of waits) {
    const g = gated.get(request)!
    gated.set(request, { pub: { ...g.pub, intent: 'hold' }, status: { request, state: 'queued', reason: freeWaitReason(wait) } })
  }
  return waits.size
}

/** What the owner of a waiting free pub is told. */
export function freeWaitReason(wait: FreeWait): string {
  if (wait.why === 'owner') {
    return (
      `your free pubs already hold ${wait.perOwner} places here (a destroyed pub keeps its place until its data is ` +
      'purged at the end of the retention period); this pub starts when one is released'
    )
  }
  return `${FREE_QUEUE_PREFIX} ${wait.cap} free pubs; yours is number ${wait.position} in the queue (oldest request first)`
}

/** Every cap-queue reason starts so; `sameWait` tells two of them apart by that alone. */
export const FREE_QUEUE_PREFIX = 'waiting for room: this provider runs at most'

/**
 * Do two reasons tell the owner the same thing, ignoring a move in the free queue? Posting a new status to every
 * waiting owner each time the queue moves would cost the provider's feed one message per waiting pub per move.
 */
export function sameWait(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true
  return a !== undefined && b !== undefined && a.startsWith(FREE_QUEUE_PREFIX) && b.startsWith(FREE_QUEUE_PREFIX)
}
