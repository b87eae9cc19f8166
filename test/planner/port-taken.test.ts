/**
 * A pub whose recorded port is in use on its hub (its task exits with the pub's port-taken code) is not a crash loop:
 * the planner records a new placement on a free port of the same hub, keeps the taken port out of the pool while
 * Swarm still lists the failed task, and the owner reads why meanwhile.
 */
import { describe, expect, it } from 'vitest'
import { plan, summarise, toStatusFields, type DesiredPub, type ObservedTask } from '../../src/planner/index.js'
import { PUB_EXIT } from '../../src/protocol/pub-exit.js'
import { CAPACITY, NOW, converged, hub, pub, serviceOf, specOf } from '../../testkit/planner-fixtures.js'

const H1 = hub(1)
const FIRST = CAPACITY.ports.first
const placedAt = (n: number, port: number, over: Parameters<typeof pub>[1] = {}): DesiredPub => pub(n, { placement: { hub: H1.id, port }, ...over })
const taken = (port: number, ago: number): ObservedTask => ({ state: 'failed', exitCode: PUB_EXIT.portTaken, port, at: NOW - ago })

describe('plan: a taken port', () => {
  it('records a new placement on the lowest free port of the same hub, and builds nothing in that pass', () => {
    const p = placedAt(1, FIRST)
    const world = converged([p], [H1])
    world.services = [serviceOf(p, { tasks: [taken(FIRST, 1000), taken(FIRST, 3000)] })]
    expect(plan([p], world, CAPACITY, NOW)).toEqual([{ kind: 'record-placement', request: p.request, hub: H1.id, port: FIRST + 1, why: 'port-taken' }])
  })

  it('once the new placement is read back, updates the service to it; the taken port is handed to no new pub', () => {
    const p = placedAt(1, FIRST + 1)
    const newcomer = pub(2)
    const world = converged([p], [H1])
    // The service still has the old port, its failed tasks still listed.
    world.services = [serviceOf(p, { port: FIRST, tasks: [taken(FIRST, 1000)] })]
    const actions = plan([p, newcomer], world, CAPACITY, NOW)
    expect(actions).toContainEqual({ kind: 'update-service', serviceId: world.services[0]!.id, spec: specOf(p), changes: ['placement'] })
    expect(actions).toContainEqual({ kind: 'record-placement', request: newcomer.request, hub: H1.id, port: FIRST + 2, why: 'new' })
  })

  it('moves a pub whose next attempt on the taken port is still coming up, but not one that came up there', () => {
    const p = placedAt(1, FIRST)
    const world = converged([p], [H1])
    // Swarm restarts it every second or so: a pass that looks mid-attempt must still see the failure behind it.
    world.services = [serviceOf(p, { tasks: [{ state: 'running', health: 'starting', port: FIRST, at: NOW - 100 }, taken(FIRST, 1000), taken(FIRST, 2000)] })]
    expect(plan([p], world, CAPACITY, NOW)).toEqual([{ kind: 'record-placement', request: p.request, hub: H1.id, port: FIRST + 1, why: 'port-taken' }])
    world.services = [serviceOf(p, { tasks: [{ state: 'running', health: 'healthy', port: FIRST, at: NOW - 100 }, taken(FIRST, 1000)] })]
    expect(plan([p], world, CAPACITY, NOW)).toEqual([])
  })

  it('does not move a pub that failed for another reason, nor a stopped one', () => {
    const p = placedAt(1, FIRST)
    const world = converged([p], [H1])
    world.services = [serviceOf(p, { tasks: [{ state: 'failed', exitCode: 1, port: FIRST, at: NOW - 1000 }] })]
    expect(plan([p], world, CAPACITY, NOW)).toEqual([])
    const stopped = placedAt(1, FIRST, { intent: 'stopped' })
    const stoppedWorld = converged([stopped], [H1])
    stoppedWorld.services = [serviceOf(stopped, { tasks: [taken(FIRST, 1000)] })]
    expect(plan([stopped], stoppedWorld, CAPACITY, NOW).filter((a) => a.kind === 'record-placement')).toEqual([])
  })

  it('does not move a pub after one port-taken exit alone (a stop-first update racing its own old task)', () => {
    const p = placedAt(1, FIRST)
    const world = converged([p], [H1])
    world.services = [serviceOf(p, { tasks: [{ state: 'starting', port: FIRST, at: NOW - 100 }, taken(FIRST, 1000), { state: 'shutdown', port: FIRST, at: NOW - 5000 }] })]
    expect(plan([p], world, CAPACITY, NOW)).toEqual([])
  })

  it('stays down, saying why, when the hub has no free port left', () => {
    const one = { ...CAPACITY, ports: { first: FIRST, last: FIRST } }
    const p = placedAt(1, FIRST)
    const world = converged([p], [H1])
    world.services = [serviceOf(p, { tasks: [taken(FIRST, 1000)] })]
    expect(plan([p], world, one, NOW)).toEqual([])
    const state = summarise([p], world, { now: NOW }).get(p.request)!
    expect(toStatusFields(state)).toEqual({ state: 'down', reason: `its port is in use on its hub; moving it to a free port: port ${FIRST}` })
  })
})

describe('summary: a taken port', () => {
  it('is not a crash loop, however often it failed: the owner reads that the pub is being moved', () => {
    const p = placedAt(1, FIRST)
    const world = converged([p], [H1])
    world.services = [serviceOf(p, { tasks: [1, 2, 3, 4, 5].map((n) => taken(FIRST, n * 1000)) })]
    expect(summarise([p], world, { now: NOW }).get(p.request)).toEqual({ state: 'down', reason: 'port-taken', detail: `port ${FIRST}` })
  })

  it('is up at the new port once a task there runs, although failures at the old port are still listed', () => {
    const p = placedAt(1, FIRST + 1)
    const world = converged([p], [H1])
    world.services = [serviceOf(p, { port: FIRST + 1, tasks: [{ state: 'running', health: 'healthy', port: FIRST + 1, at: NOW - 100 }, ...[1, 2, 3].map((n) => taken(FIRST, n * 1000))] })]
    expect(summarise([p], world, { now: NOW }).get(p.request)).toMatchObject({ state: 'up', port: FIRST + 1 })
  })
  it('after a restore, an unrecorded service of ours on a port another pub found taken is recorded there: it was what held it', () => {
    // The other pub was re-placed off that port (its failed tasks there still listed); the record of the one that
    // took the port was lost with the restore.
    const moved = placedAt(1, FIRST + 1)
    const holder = placedAt(2, FIRST)
    const { placement: _lost, ...unrecorded } = holder
    const world = converged([moved, holder], [H1])
    world.services = [serviceOf(moved, { tasks: [{ state: 'running', health: 'healthy', port: FIRST + 1, at: NOW - 500 }, taken(FIRST, 1000), taken(FIRST, 3000)] }), serviceOf(holder)]
    expect(plan([moved, unrecorded as DesiredPub, pub(3)], world, CAPACITY, NOW).filter((a) => a.kind === 'record-placement' || a.kind === 'warn-conflict')).toEqual([
      { kind: 'record-placement', request: holder.request, hub: H1.id, port: FIRST, why: 'adopt' },
      { kind: 'record-placement', request: pub(3).request, hub: H1.id, port: FIRST + 2, why: 'new' },
    ])
  })
})
