/**
 * A stale placement record: the provider was restored from a backup made before a pub moved off a drained hub, so
 * its latest record names the hub it left while its service serves from the copy on the hub it moved to. The pub is
 * recorded where it serves (`adopt`) and nothing moves; every step of a genuine move, and a crash after any action
 * of any of its passes, still goes forward (a move back to the hub a pub once came from included).
 */
import { describe, expect, it } from 'vitest'
import { changesOf, indexWorld, plan, planPass, staleRecord, type Action, type DesiredPub, type Hub, type Observed } from '../../src/planner/index.js'
import { CAPACITY, NOW, execute, hub, observed, pub, serviceOf, volumeOf, type State } from '../../testkit/planner-fixtures.js'

const FIRST = CAPACITY.ports.first
const A = hub(1, { availability: 'drain' })
const B = hub(2)

/** The world after a finished move of pub 1 from A (port FIRST) to B (port FIRST + 3), its old volume purged or not. */
function movedToB(hubs: Hub[], oldVolumeLeft: boolean): { onB: DesiredPub; world: Observed } {
  const onB = pub(1, { placement: { hub: B.id, port: FIRST + 3 } })
  const volumes = [volumeOf(onB, { movedFrom: A.id, createdAt: NOW - 1000 })]
  if (oldVolumeLeft) volumes.unshift(volumeOf(onB, { hub: A.id }))
  return { onB, world: observed({ hubs, services: [serviceOf(onB)], volumes }) }
}

/** The same pub with the record the backup had: on A, at its old port. */
const restored = (p: DesiredPub): DesiredPub => ({ ...p, placement: { hub: A.id, port: FIRST } })

/** Every action a history of passes planned, while converging from `start` (at most `max` passes). */
function run(start: State, max = 8): { end: State; planned: Action[] } {
  let state = start
  const planned: Action[] = []
  for (let i = 0; i < max; i++) {
    const changes = changesOf(plan(state.desired, state.observed, CAPACITY, NOW))
    if (changes.length === 0) return { end: state, planned }
    planned.push(...changes)
    state = execute(changes, state)
  }
  throw new Error('no convergence')
}

/**
 * A genuine move from `from` to `to`: from every state a crash can leave (after any prefix of any pass's actions),
 * the planner never reads it as stale, never adopts, and the pub ends on `to` with its data there and nowhere else.
 */
function everyCrashGoesForward(start: State, to: string): number {
  let state = start
  let checked = 0
  for (let pass = 0; pass < 8; pass++) {
    const changes = changesOf(plan(state.desired, state.observed, CAPACITY, NOW))
    if (changes.length === 0) break
    for (let done = 0; done <= changes.length; done++) {
      const crashed = execute(changes.slice(0, done), state)
      const world = indexWorld(crashed.desired, crashed.observed)
      expect(staleRecord(crashed.desired[0]!, world), `pass ${pass}, ${done} actions done`).toBe(false)
      const { end, planned } = run(crashed)
      expect(planned.filter((a) => a.kind === 'record-placement' && a.why === 'adopt')).toEqual([])
      expect(end.desired[0]!.placement!.hub).toBe(to)
      expect(end.observed.services.map((s) => s.hub)).toEqual([to])
      expect(end.observed.volumes.map((v) => v.hub)).toEqual([to])
      checked++
    }
    state = execute(changes, state)
  }
  expect(state.desired[0]!.placement!.hub).toBe(to)
  return checked
}

describe('plan: a record made stale by a restore', () => {
  for (const [label, hubs] of [['still drained', [A, B]], ['active again', [{ ...A, availability: 'active' as const }, B]]] as const) {
    for (const oldVolumeLeft of [false, true]) {
      it(`records the pub where it serves and moves nothing (old hub ${label}, old volume ${oldVolumeLeft ? 'not yet purged' : 'purged'})`, () => {
        const { onB, world } = movedToB([...hubs], oldVolumeLeft)
        const back = restored(onB)
        const pass = planPass({ desired: [back], observed: world, capacity: CAPACITY, now: NOW })
        expect(changesOf(pass.actions)).toEqual([{ kind: 'record-placement', request: back.request, hub: B.id, port: FIRST + 3, why: 'adopt' }])
        // Its owner hears nothing new: it is up where it was, not "moving".
        expect(pass.states.get(back.request)).toMatchObject({ state: 'up', hub: B.id, port: FIRST + 3 })
        // Once the record is read back, a finished move's leftovers go, and the pub stays.
        const { end, planned } = run({ desired: [back], observed: world })
        expect(end.desired[0]!.placement).toEqual({ hub: B.id, port: FIRST + 3 })
        expect(end.observed.services).toEqual(world.services)
        expect(planned.map((a) => a.kind)).toEqual(oldVolumeLeft ? ['record-placement', 'purge-volume'] : ['record-placement'])
        expect(end.observed.volumes).toEqual([expect.objectContaining({ hub: B.id, movedFrom: A.id })])
      })
    }
  }

  it('is recorded where it serves when its owner stopped it too', () => {
    const { onB, world } = movedToB([A, B], false)
    const stopped = { ...restored(onB), intent: 'stopped' as const }
    const svc = { ...world.services[0]!, replicas: 0, tasks: [] }
    const actions = changesOf(plan([stopped], { ...world, services: [svc] }, CAPACITY, NOW))
    expect(actions).toEqual([{ kind: 'record-placement', request: stopped.request, hub: B.id, port: FIRST + 3, why: 'adopt' }])
  })

  it('leaves the pub alone, and says so, while another record holds the port its service listens on', () => {
    const { onB, world } = movedToB([A, B], false)
    const back = restored(onB)
    // A pub destroyed after the backup had that port; the backup still has its record, and its release is lost.
    const gone = pub(2, { placement: { hub: B.id, port: FIRST + 3 }, intent: 'destroyed', destroyedAt: NOW - 40 * 24 * 3600_000 })
    const pass = planPass({ desired: [back, gone], observed: world, capacity: CAPACITY, now: NOW })
    expect(changesOf(pass.actions)).toEqual([{ kind: 'release-placement', request: gone.request, hub: B.id, port: FIRST + 3 }])
    expect(pass.actions).toContainEqual({ kind: 'warn-conflict', request: back.request, hub: B.id, port: FIRST + 3, holder: gone.request, stale: true })
    expect(pass.states.get(back.request)).toMatchObject({ state: 'up' })
    // Once the release is made again, it is recorded where it serves.
    const { end } = run({ desired: [back, gone], observed: world })
    expect(end.desired.find((d) => d.request === back.request)!.placement).toEqual({ hub: B.id, port: FIRST + 3 })
    expect(end.observed.services).toEqual(world.services)
  })

  it('a record two moves old (its copy came from a third hub) is still acted on as written: the gap that remains', () => {
    const C = hub(3)
    const { onB, world } = movedToB([{ ...A, availability: 'active' }, B, C], false)
    world.volumes = [volumeOf(onB, { movedFrom: C.id })]
    expect(staleRecord(restored(onB), indexWorld([restored(onB)], world))).toBe(false)
  })

  it('a genuine move goes forward after a crash at any point of any step', () => {
    const p = pub(1, { placement: { hub: A.id, port: FIRST } })
    const start: State = { desired: [p], observed: observed({ hubs: [A, B], services: [serviceOf(p, { tasks: [{ state: 'shutdown', at: NOW - 1000 }] })], volumes: [volumeOf(p)] }) }
    expect(everyCrashGoesForward(start, B.id)).toBeGreaterThanOrEqual(8)
  })

  it('a genuine move back to the hub its copy came from goes forward too, its old volume long purged', () => {
    // It moved from A to B once (B's volume says so, A's was purged); A is active again and B is drained now.
    const { onB, world } = movedToB([{ ...A, availability: 'active' }, { ...B, availability: 'drain' }], false)
    world.services = world.services.map((s) => ({ ...s, tasks: [{ state: 'shutdown', at: NOW - 500 }, ...s.tasks] }))
    expect(everyCrashGoesForward({ desired: [onB], observed: world }, A.id)).toBeGreaterThanOrEqual(8)
  })

  it('a move back whose drain is undone mid-way stays where its data is, and loses nothing', () => {
    // Recorded back to A, stopped on B and copied to A, then B made active again before the pin.
    const { onB, world } = movedToB([{ ...A, availability: 'active' }, B], false)
    const toA = { ...onB, placement: { hub: A.id, port: FIRST } }
    const svc = { ...world.services[0]!, replicas: 0, tasks: [{ state: 'shutdown' as const, at: NOW - 100 }] }
    const copied: Observed = { ...world, services: [svc], volumes: [...world.volumes, volumeOf(toA, { movedFrom: B.id, createdAt: NOW })] }
    const { end } = run({ desired: [toA], observed: copied })
    expect(end.desired[0]!.placement).toEqual({ hub: B.id, port: FIRST + 3 })
    expect(end.observed.services).toEqual([serviceOf(onB, { id: svc.id })])
    expect(end.observed.volumes.map((v) => v.hub)).toEqual([B.id])
  })
})
