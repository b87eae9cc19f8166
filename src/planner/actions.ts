/**
 * The actions a pass can ask for: a tagged union the executor maps kind by kind (a missing handler is a compile
 * error), and the one order they are returned in.
 */
import type { MsgId } from '../protocol/ids.js'
import type { PlacementWhy } from '../protocol/placement.js'
import type { ForeignObject, ServiceSpec } from './types.js'

/** Which part of a service spec an update changes (for logs and status; the update always writes the whole spec). */
export type SpecChange = 'image' | 'memory' | 'replicas' | 'restart' | 'placement' | 'settings' | 'stop-for-move'

export type Action =
  /** Persist a placement (a private `buttcloud/placement` message) before anything is created on it. */
  | { kind: 'record-placement'; request: MsgId; hub: string; port: number; why: PlacementWhy }
  /** Remove one of our services. Never touches its volume. */
  | { kind: 'remove-service'; request: MsgId; serviceId: string; serviceName: string; why: 'destroyed' | 'duplicate' }
  /** Make sure the pub's volume exists on its hub (safe to repeat). */
  | { kind: 'create-volume'; request: MsgId; hub: string }
  | { kind: 'create-service'; spec: ServiceSpec }
  /** Write back the whole spec (read-modify-write with the version read); `changes` says what differs. */
  | { kind: 'update-service'; serviceId: string; spec: ServiceSpec; changes: SpecChange[] }
  /**
   * Copy a stopped pub's volume from the hub it was on to the hub its new placement names (archive there, unpack
   * here, replacing whatever an interrupted copy left), so the service can then start there with its data.
   */
  | { kind: 'move-data'; request: MsgId; from: string; to: string; imageVersion: string }
  /**
   * Delete a pub's volume: a destroyed pub's once retention has passed and no service uses it, or (`moved`) the
   * volume a moved pub left on its old hub, once it serves from its copy.
   */
  | { kind: 'purge-volume'; request: MsgId; hub: string; volumeName: string; why?: 'moved' }
  /** Persist that a purged pub's port is back in the pool (a private `buttcloud/release` message). */
  | { kind: 'release-placement'; request: MsgId; hub: string; port: number }
  /** No hub has room for this pub: tell the owner. */
  | { kind: 'report-queued'; request: MsgId; memoryMiB: number }
  /** A plan change needs more memory than the pub's hub has free; the service keeps its old size. */
  | { kind: 'report-resize-blocked'; request: MsgId; hub: string; haveMiB: number; wantMiB: number }
  /** A pub on a drained hub cannot move yet: no other hub has room and a port, or its data cannot be read there. */
  | { kind: 'report-move-blocked'; request: MsgId; hub: string; why: 'no-room' | 'data-unreadable' }
  /** For the operator: hubs to add so every queued pub fits. */
  | { kind: 'report-hubs-needed'; count: number; memoryMiB: number; queued: number }
  /** A hub holding our pubs is missing, not ready or not active: nothing is created there. */
  | { kind: 'report-hub-unavailable'; hub: string; pubs: number }
  /**
   * Two records claim one port on one hub; the later request is left alone until an operator decides. `unrecorded`:
   * the request has no record, and its service listens on a port another request's record holds: the record wins,
   * the service is left running and alone, and it is recorded there once that port is free. `stale`: the same for a
   * request whose record is stale (it moved after the backup the provider was restored from: `staleRecord`).
   */
  | { kind: 'warn-conflict'; request: MsgId; hub: string; port: number; holder: MsgId; unrecorded?: true; stale?: true }
  /** The desired list named one request twice with different content. */
  | { kind: 'warn-duplicate-desired'; request: MsgId }
  /** An object of ours that no desired pub explains: left alone (a lagging index must not delete pubs). */
  | { kind: 'warn-orphan'; object: 'service' | 'volume'; id: string; name: string; request: MsgId; why: 'unknown-request' | 'off-placement' }
  /** An object that is not ours: never touched. */
  | { kind: 'warn-foreign'; object: ForeignObject }

export type ActionKind = Action['kind']
export type ActionOf<K extends ActionKind> = Extract<Action, { kind: K }>

/**
 * Kinds in execution order: the record first (nothing is built on an unrecorded placement), removals before
 * creations, reports last. The executor may stop at the first failure and the next pass picks up from there.
 */
const CHANGE_ORDER = [
  'record-placement',
  'remove-service',
  'create-volume',
  'create-service',
  'move-data',
  'update-service',
  'purge-volume',
  'release-placement',
] as const satisfies readonly ActionKind[]

/** Kinds that only inform (the owner, the operator or the log), in the order they are returned. */
const REPORT_ORDER = [
  'report-queued',
  'report-resize-blocked',
  'report-move-blocked',
  'report-hubs-needed',
  'report-hub-unavailable',
  'warn-conflict',
  'warn-duplicate-desired',
  'warn-orphan',
  'warn-foreign',
] as const satisfies readonly ActionKind[]

export const ACTION_ORDER = [...CHANGE_ORDER, ...REPORT_ORDER] as const

// A compile-time check that ACTION_ORDER names every kind.
type Missing = Exclude<ActionKind, (typeof ACTION_ORDER)[number]>
const everyKindOrdered: Missing extends never ? true : never = true
void everyKindOrdered

/** Kinds that change the runtime or the log; the rest only inform. */
export const CHANGE_KINDS: ReadonlySet<ActionKind> = new Set<ActionKind>(CHANGE_ORDER)

/** Does this action change anything (as opposed to reporting)? */
export function isChange(action: Action): boolean {
  return CHANGE_KINDS.has(action.kind)
}

/** The actions of a plan that change something: none means the runtime already matches the desired state. */
export function changesOf(actions: readonly Action[]): Action[] {
  return actions.filter(isChange)
}

const RANK = new Map<ActionKind, number>(ACTION_ORDER.map((k, i) => [k, i]))

/** The key that orders actions of one kind: the request first, then the object. */
function actionKey(a: Action): string {
  switch (a.kind) {
    case 'create-service':
      return a.spec.request
    case 'update-service':
      return `${a.spec.request}\u0000${a.serviceId}`
    case 'remove-service':
      return `${a.request}\u0000${a.serviceId}`
    case 'purge-volume':
      return `${a.request}\u0000${a.hub}\u0000${a.volumeName}`
    case 'report-hubs-needed':
      return ''
    case 'report-hub-unavailable':
      return a.hub
    case 'warn-orphan':
      return `${a.object}\u0000${a.id}`
    case 'warn-foreign':
      return `${a.object.kind}\u0000${a.object.id}`
    default:
      return `${a.request}\u0000${'hub' in a ? a.hub : ''}`
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Sort actions into the one deterministic order (by kind rank, then by key). */
export function sortActions(actions: Action[]): Action[] {
  const keyed = actions.map((a) => ({ a, rank: RANK.get(a.kind)!, key: actionKey(a) }))
  keyed.sort((x, y) => x.rank - y.rank || compare(x.key, y.key))
  return keyed.map((k) => k.a)
}
