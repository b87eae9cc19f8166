/**
 * One planning pass as the control loop runs it: index once, plan, summarise, and say which statuses are due.
 * The loop then executes `actions` and posts `statusChanges`; both come from the same snapshot.
 */
import type { MsgId } from '../protocol/ids.js'
import type { Action } from './actions.js'
import { planWorld } from './plan.js'
import { statusChanges, summariseWorld, type CrashLoop, type ObservedPubState, type StatusChange, type StatusFields } from './summary.js'
import type { Capacity, DesiredPub, Observed } from './types.js'
import { indexWorld } from './world.js'

export interface PassInput {
  desired: readonly DesiredPub[]
  observed: Observed
  capacity: Capacity
  now: number
  /** The status fields last posted per pub (from the provider's feed), to post only what changed. */
  posted: ReadonlyMap<MsgId, StatusFields>
  crashLoop?: CrashLoop
}

export interface PassResult {
  actions: Action[]
  states: Map<MsgId, ObservedPubState>
  statusChanges: StatusChange[]
}

/** Plan one pass and work out the statuses it makes due. */
export function planPass(input: PassInput): PassResult {
  const world = indexWorld(input.desired, input.observed)
  const actions = planWorld(world, input.capacity, input.now)
  const states = summariseWorld(world, {
    now: input.now,
    plan: actions,
    ...(input.crashLoop ? { crashLoop: input.crashLoop } : {}),
  })
  return { actions, states, statusChanges: statusChanges(input.posted, states) }
}
