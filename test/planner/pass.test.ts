import { describe, expect, it } from 'vitest'
import { plan, planPass, summarise } from '../../src/planner/index.js'
import { CAPACITY, DAY, NOW, converged, hub, pub, serviceOf } from '../../testkit/planner-fixtures.js'

describe('planPass', () => {
  const H = hub(1)
  const placed = [1, 2, 3].map((n) => pub(n, { placement: { hub: H.id, port: 20000 + n } }))
  const desired = [...placed, pub(4), pub(5, { placement: { hub: H.id, port: 20009 }, intent: 'destroyed', destroyedAt: NOW - DAY })]
  const observed = { ...converged(placed, [H]), services: [serviceOf(placed[0]!, { imageVersion: 'old' }), serviceOf(placed[1]!)] }

  it('gives what plan and summarise give separately', () => {
    const result = planPass({ desired, observed, capacity: CAPACITY, now: NOW })
    const actions = plan(desired, observed, CAPACITY, NOW)
    const states = summarise(desired, observed, { now: NOW, plan: actions })
    expect(result.actions).toEqual(actions)
    expect(result.actions.length).toBeGreaterThan(0)
    expect(result.states).toEqual(states)
  })

  it('a converged pass has nothing to do and reports every pub up', () => {
    const steady = converged(placed, [H])
    const again = planPass({ desired: placed, observed: steady, capacity: CAPACITY, now: NOW + DAY })
    expect(again.actions).toEqual([])
    expect([...again.states.values()].map((s) => s.state)).toEqual(['up', 'up', 'up'])
  })
})
