import { describe, expect, it } from 'vitest'
import { plan, planPass, statusChanges, summarise, type StatusFields } from '../../src/planner/index.js'
import { CAPACITY, DAY, NOW, converged, hub, pub, serviceOf } from './fixtures.js'

describe('planPass', () => {
  const H = hub(1)
  const placed = [1, 2, 3].map((n) => pub(n, { placement: { hub: H.id, port: 20000 + n } }))
  const desired = [...placed, pub(4), pub(5, { placement: { hub: H.id, port: 20009 }, intent: 'destroyed', destroyedAt: NOW - DAY })]
  const observed = { ...converged(placed, [H]), services: [serviceOf(placed[0]!, { imageVersion: 'old' }), serviceOf(placed[1]!)] }

  it('gives what plan, summarise and statusChanges give separately', () => {
    const posted = new Map<string, StatusFields>([[placed[1]!.request, { state: 'provisioning' }]])
    const result = planPass({ desired, observed, capacity: CAPACITY, now: NOW, posted })
    const actions = plan(desired, observed, CAPACITY, NOW)
    const states = summarise(desired, observed, { now: NOW, plan: actions })
    expect(result.actions).toEqual(actions)
    expect(result.states).toEqual(states)
    expect(result.statusChanges).toEqual(statusChanges(posted, states))
    expect(result.statusChanges.length).toBeGreaterThan(0)
  })

  it('a converged pass with everything already posted has nothing to do and nothing to post', () => {
    const steady = converged(placed, [H])
    const first = planPass({ desired: placed, observed: steady, capacity: CAPACITY, now: NOW, posted: new Map() })
    const posted = new Map(first.statusChanges.map((c) => [c.request, c.fields]))
    const again = planPass({ desired: placed, observed: steady, capacity: CAPACITY, now: NOW + DAY, posted })
    expect(again.actions).toEqual([])
    expect(again.statusChanges).toEqual([])
  })
})
