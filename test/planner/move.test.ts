/**
 * Drain and move: a pub whose hub is drained gets a new placement on another hub (its own port when free there),
 * then, pass by pass and each step from what is observed, its service is stopped where it is, its volume copied to
 * the new hub and its service pinned there, and its old volume purged once it serves from the copy. A pub no hub can
 * take stays and says why; reruns and crashes between steps never record a second move or lose the data.
 */
import { describe, expect, it } from 'vitest'
import { capacityReport, changesOf, formatCapacityReport, objectName, plan, planPass, type Action, type DesiredPub, type Observed } from '../../src/planner/index.js'
import { CAPACITY, NOW, converge, converged, execute, hub, observed, pub, serviceOf, specOf, volumeOf, type State } from '../../testkit/planner-fixtures.js'

const FIRST = CAPACITY.ports.first
const A = hub(1, { availability: 'drain' })
const B = hub(2)
const C = hub(3)
const onA = (n: number, port = FIRST, over: Parameters<typeof pub>[1] = {}): DesiredPub => pub(n, { placement: { hub: A.id, port }, ...over })

/** A converged world on A, then A drained: Swarm has shut its task down (the service still wants one replica). */
function drained(pubs: DesiredPub[], hubs = [A, B]): State {
  const world = converged(pubs, hubs)
  world.services = world.services.map((s) => ({ ...s, tasks: [{ state: 'shutdown', at: NOW - 1000 }, ...s.tasks] }))
  return { desired: pubs, observed: world }
}

const kinds = (actions: readonly Action[]) => changesOf(actions).map((a) => a.kind)

describe('plan: drain and move', () => {
  it('records a move to another hub on the same port, builds nothing in that pass, and tells the owner "moving"', () => {
    const p = onA(1)
    const { observed: world } = drained([p])
    const pass = planPass({ desired: [p], observed: world, capacity: CAPACITY, now: NOW })
    expect(changesOf(pass.actions)).toEqual([{ kind: 'record-placement', request: p.request, hub: B.id, port: FIRST, why: 'move' }])
    expect(pass.states.get(p.request)).toEqual({ state: 'down', reason: 'moving' })
  })

  it('takes the lowest free port when its own is held on every other hub, and prefers a hub where it is free', () => {
    const p = onA(1, FIRST + 5)
    const holderB = pub(2, { placement: { hub: B.id, port: FIRST + 5 } })
    const { observed: world } = drained([p, holderB], [A, B])
    expect(changesOf(plan([p, holderB], world, CAPACITY, NOW))).toEqual([{ kind: 'record-placement', request: p.request, hub: B.id, port: FIRST, why: 'move' }])

    // With C free at that port, C wins over B, even though B is the tighter fit.
    const both = drained([p, holderB], [A, B, C]).observed
    expect(changesOf(plan([p, holderB], both, CAPACITY, NOW))).toEqual([{ kind: 'record-placement', request: p.request, hub: C.id, port: FIRST + 5, why: 'move' }])
  })

  it('with no room elsewhere, stays (hub unavailable for its owner) and says why for the operator', () => {
    const p = onA(1)
    const full = hub(2, { memoryMiB: CAPACITY.headroomMiB + 64 })
    const { observed: world } = drained([p], [A, full])
    const pass = planPass({ desired: [p], observed: world, capacity: CAPACITY, now: NOW })
    expect(changesOf(pass.actions)).toEqual([])
    expect(pass.actions).toContainEqual({ kind: 'report-move-blocked', request: p.request, hub: A.id, why: 'no-room' })
    expect(pass.states.get(p.request)).toEqual({ state: 'down', reason: 'hub-unavailable' })
    // The capacity report still counts it on the drained hub.
    const report = capacityReport([p], world, CAPACITY)
    expect(report.hubs.find((h) => h.id === A.id)).toMatchObject({ pubs: 1, schedulable: false, drained: true })
    expect(formatCapacityReport(report)).toMatch(/hub-1\s+node0001\s+no \(drained\)/)
  })

  it('waits when the data on the drained hub cannot be read, rather than starting the pub empty elsewhere', () => {
    const p = onA(1)
    const { observed: world } = drained([p])
    world.volumeHubs = [B.id]
    const actions = plan([p], world, CAPACITY, NOW)
    expect(changesOf(actions)).toEqual([])
    expect(actions).toContainEqual({ kind: 'report-move-blocked', request: p.request, hub: A.id, why: 'data-unreadable' })
  })

  it('moves step by step: stop where it is, copy and pin there, purge the old volume once up; then nothing', () => {
    const p = onA(1)
    let state = drained([p])
    const steps: string[][] = []
    for (let i = 0; i < 6; i++) {
      const actions = plan(state.desired, state.observed, CAPACITY, NOW)
      if (changesOf(actions).length === 0) break
      steps.push(kinds(actions))
      state = execute(actions, state)
    }
    expect(steps).toEqual([['record-placement'], ['update-service'], ['move-data', 'update-service'], ['purge-volume']])
    const moved = state.desired[0]!
    expect(moved.placement).toEqual({ hub: B.id, port: FIRST })
    expect(state.observed.services).toEqual([serviceOf(moved)])
    expect(state.observed.volumes).toEqual([expect.objectContaining({ name: objectName(p.request), hub: B.id, movedFrom: A.id })])
  })

  it('stops the service on its old placement first, so the copy never races the pub', () => {
    const p = onA(1)
    const movedTo = { ...p, placement: { hub: B.id, port: FIRST } }
    const { observed: world } = drained([p])
    const svc = world.services[0]!
    expect(changesOf(plan([movedTo], world, CAPACITY, NOW))).toEqual([
      { kind: 'update-service', serviceId: svc.id, spec: { ...specOf(p), replicas: 0 }, changes: ['stop-for-move'] },
    ])
    // While a task of it still runs there, nothing is copied.
    const stopping: Observed = { ...world, services: [{ ...svc, replicas: 0, tasks: [{ state: 'running', at: NOW - 10 }] }] }
    expect(changesOf(plan([movedTo], stopping, CAPACITY, NOW))).toEqual([])
  })

  it('after a crash between the copy and the update, copies again and updates; never records a second move', () => {
    const p = onA(1)
    const movedTo = { ...p, placement: { hub: B.id, port: FIRST } }
    const { observed: world } = drained([p])
    const svc = { ...world.services[0]!, replicas: 0, tasks: [{ state: 'shutdown' as const, at: NOW - 1000 }] }
    // The copy finished (or half finished) on B; the service is still pinned to A.
    const afterCrash: Observed = { ...world, services: [svc], volumes: [volumeOf(p), volumeOf(movedTo, { movedFrom: A.id })] }
    const actions = changesOf(plan([movedTo], afterCrash, CAPACITY, NOW))
    expect(actions).toEqual([
      { kind: 'move-data', request: p.request, from: A.id, to: B.id, imageVersion: p.imageVersion },
      { kind: 'update-service', serviceId: svc.id, spec: specOf(movedTo), changes: ['replicas', 'placement'] },
    ])
  })

  it('keeps the old volume until the pub is up from its copy, and never purges one a move did not copy from', () => {
    const moved = pub(1, { placement: { hub: B.id, port: FIRST } })
    const starting = serviceOf(moved, { tasks: [{ state: 'starting', at: NOW - 10 }] })
    const old = volumeOf(moved, { hub: A.id })
    const copy = volumeOf(moved, { movedFrom: A.id })
    const world = observed({ hubs: [A, B], services: [starting], volumes: [old, copy] })
    expect(changesOf(plan([moved], world, CAPACITY, NOW))).toEqual([])

    const up = { ...world, services: [serviceOf(moved)] }
    expect(changesOf(plan([moved], up, CAPACITY, NOW))).toEqual([{ kind: 'purge-volume', request: moved.request, hub: A.id, volumeName: old.name, why: 'moved' }])

    // A volume on B made some other way (no moved-from label): the one on A is only warned about.
    const unlabelled = { ...up, volumes: [old, volumeOf(moved)] }
    const actions = plan([moved], unlabelled, CAPACITY, NOW)
    expect(changesOf(actions)).toEqual([])
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'warn-orphan', object: 'volume', why: 'off-placement' }))
  })

  it('converges in a bounded number of passes for several pubs, running and stopped, and reruns change nothing', () => {
    const pubs = [onA(1, FIRST), onA(2, FIRST + 1, { intent: 'stopped' }), onA(3, FIRST + 2)]
    const start = drained(pubs, [A, B, C])
    // Stopped pubs keep a service with no replica: no stop step for them.
    start.observed.services = start.observed.services.map((s) => (s.request === pubs[1]!.request ? { ...s, replicas: 0, tasks: [] } : s))
    const end = converge(start, CAPACITY, NOW)
    expect(end.passes).toBeLessThanOrEqual(4)
    expect(end.desired.every((d) => d.placement!.hub !== A.id)).toBe(true)
    expect(end.observed.volumes.every((v) => v.hub !== A.id)).toBe(true)
    expect(end.desired.map((d) => d.placement!.port).sort()).toEqual([FIRST, FIRST + 1, FIRST + 2])
    expect(changesOf(plan(end.desired, end.observed, CAPACITY, NOW))).toEqual([])
  })

  it('leaves pubs on a paused hub where they are (pause only stops new placements)', () => {
    const paused = hub(1, { availability: 'pause' })
    const p = pub(1, { placement: { hub: paused.id, port: FIRST } })
    expect(changesOf(plan([p], converged([p], [paused, B]), CAPACITY, NOW))).toEqual([])
  })

  it('survives a crash after any step of any pass: never loses data, never starts a pub without it, never moves it twice', () => {
    // Seeded, so every run is the same: 150 worlds of three small hubs (room for three pubs each), one or two drained.
    let seed = 7
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32)
    const small = (n: number, availability: 'active' | 'drain') => hub(n, { memoryMiB: CAPACITY.headroomMiB + 3 * 128, availability })
    let moved = 0
    let blocked = 0
    for (let world = 0; world < 150; world++) {
      const drainedHubs = random() < 0.2 ? 2 : 1
      const hubs = [1, 2, 3].map((n) => small(n, n <= drainedHubs ? 'drain' : 'active'))
      const pubs = [1, 2, 3, 4, 5, 6].map((n) => pub(n, { placement: { hub: hubs[(n - 1) % 3]!.id, port: FIRST + n }, ...(random() < 0.3 ? { intent: 'stopped' as const } : {}) }))
      let state: State = { desired: pubs, observed: converged(pubs, hubs) }
      state.observed.services = state.observed.services.map((svc) => (pubs.find((p) => p.request === svc.request)!.intent === 'stopped' ? { ...svc, replicas: 0, tasks: [] } : svc))
      const records = new Map<string, number>()
      let passes = 0
      for (; passes < 40; passes++) {
        const changes = changesOf(plan(state.desired, state.observed, CAPACITY, NOW))
        if (changes.length === 0) break
        // A crash after a random number of this pass's steps (none, some, or all of them done).
        const done = random() < 0.4 ? Math.floor(random() * (changes.length + 1)) : changes.length
        for (const a of changes.slice(0, done)) if (a.kind === 'record-placement') records.set(a.request, (records.get(a.request) ?? 0) + 1)
        state = execute(changes.slice(0, done), state)
        for (const p of state.desired) {
          const volumes = state.observed.volumes.filter((v) => v.request === p.request)
          expect(volumes.length, 'a pub lost its data').toBeGreaterThan(0)
          const svc = state.observed.services.find((x) => x.request === p.request)!
          // Wherever its service is pinned, its data is there: the original volume, or a finished copy.
          expect(volumes.some((v) => v.hub === svc.hub), 'a service pinned where its data is not').toBe(true)
        }
      }
      expect(passes, 'no convergence').toBeLessThan(40)
      expect([...records.values()].every((n) => n === 1), 'a pub moved twice').toBe(true)
      for (const p of state.desired) {
        const onDrained = hubs.some((h) => h.availability === 'drain' && h.id === p.placement!.hub)
        if (!onDrained) continue
        // Only when no hub had room: each active hub is full (three pubs) or short of a port.
        blocked++
        expect(state.desired.filter((d) => hubs.some((h) => h.availability === 'active' && h.id === d.placement!.hub)).length).toBe(3 * (3 - drainedHubs))
      }
      moved += records.size
    }
    // The worlds exercised both outcomes.
    expect(moved).toBeGreaterThan(100)
    expect(blocked).toBeGreaterThan(0)
  })
})
