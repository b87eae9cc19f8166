/**
 * One planning pass as the control loop runs it: index once, plan, summarise. The loop then executes `actions` and
 * reports `states`; both come from the same snapshot.
 */
import type { MsgId } from '../protocol/ids.js'
import type { Action } from './actions.js'
import { planWorld } from './plan.js'
import { summariseWorld, type CrashLoop, type ObservedPubState } from './summary.js'
import type { Capacity, DesiredPub, Observed } from './types.js'
import { indexWorld } from './world.js'

export interface PassInput {
  desired: readonly DesiredPub[]
  observed: Observed
  capacity: Capacity
  now: number
  crashLoop?: CrashLoop
}

export interface PassResult {
  actions: Action[]
  states: Map<MsgId, ObservedPubState>
}

/** Plan one pass and summarise each pub's observed state from the same snapshot. */
export function planPass(input: PassInput): PassResult {
  const world = indexWorld(input.desired, input.observed)
  const actions = planWorld(world, input.capacity, input.now)
  const states = summariseWorld(world, {
    now: input.now,
    plan: actions,
    ...(input.crashLoop ? { crashLoop: input.crashLoop } : {}),
  })
  return { actions, states }
}
