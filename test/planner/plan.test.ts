import { describe, expect, it } from 'vitest'
import { changesOf, objectName, plan, type Action, type DesiredPub, type Observed } from '../../src/planner/index.js'
import {
  CAPACITY,
  DAY,
  NOW,
  converge,
  converged,
  execute,
  hub,
  observed,
  pub,
  req,
  serviceOf,
  specOf,
  volumeOf,
} from '../../testkit/planner-fixtures.js'

const H1 = hub(1)
const H2 = hub(2)
const at = (h: typeof H1, port: number) => ({ hub: h.id, port })
const placed = (n: number, port: number, over: Parameters<typeof pub>[1] = {}) => pub(n, { placement: at(H1, port), ...over })
const kinds = (actions: Action[]) => actions.map((a) => a.kind)

interface Row {
  name: string
  desired: DesiredPub[]
  observed: Observed
  expected: Action[]
}

describe('plan: create', () => {
  it("carries the plan's replication hops into the spec, and a service without them is not updated for that alone", () => {
    const p = placed(1, CAPACITY.ports.first, { hops: 2 })
    const create = plan([p], observed({ hubs: [H1], volumes: [volumeOf(p)] }), CAPACITY, NOW).find((a) => a.kind === 'create-service')
    expect(create).toMatchObject({ kind: 'create-service', spec: { request: p.request, hops: 2 } })
    // Observed services carry no hops (drivers do not read them back): a converged pub stays as it is.
    expect(plan([p], converged([p], [H1]), CAPACITY, NOW).filter((a) => a.kind === 'update-service')).toEqual([])
  })

  it('records a placement first and builds nothing on it in the same pass', () => {
    const p = pub(1)
    expect(plan([p], observed({ hubs: [H1] }), CAPACITY, NOW)).toEqual([
      { kind: 'record-placement', request: p.request, hub: H1.id, port: CAPACITY.ports.first, why: 'new' },
    ])
  })

  it('once the record is read back, creates the volume and then the service with the full spec', () => {
    const p = placed(1, CAPACITY.ports.first)
    expect(plan([p], observed({ hubs: [H1] }), CAPACITY, NOW)).toEqual([
      { kind: 'create-volume', request: p.request, hub: H1.id },
      { kind: 'create-service', spec: specOf(p) },
    ])
  })

  it("gives the service the plan's disk allowance and a web port at the placement's place above the pool", () => {
    const p = placed(1, CAPACITY.ports.first + 7, { diskMiB: 512, webView: true })
    const create = plan([p], observed({ hubs: [H1] }), CAPACITY, NOW).find((a) => a.kind === 'create-service')
    expect(create).toMatchObject({ spec: { port: 20007, webPort: 30007, diskMiB: 512 } })
    // No web view in the plan: no web port.
    const bare = plan([placed(2, 20008, { webView: false })], observed({ hubs: [H1] }), CAPACITY, NOW).find((a) => a.kind === 'create-service')
    expect(bare && 'spec' in bare ? bare.spec.webPort : 'none').toBeUndefined()
  })

  it('updates a service started without them (an older version) once, then plans nothing', () => {
    const p = placed(1, 20003, { diskMiB: 1024, webView: true })
    const old = serviceOf(p)
    delete old.diskMiB
    delete old.webPort
    const actions = plan([p], observed({ hubs: [H1], services: [old], volumes: [volumeOf(p)] }), CAPACITY, NOW)
    expect(actions).toEqual([{ kind: 'update-service', serviceId: old.id, spec: specOf(p), changes: ['settings'] }])
    expect(plan([p], converged([p], [H1]), CAPACITY, NOW)).toEqual([])
  })

  it('converges from nothing in two changing passes, then plans nothing', () => {
    const pubs = [1, 2, 3].map((n) => pub(n))
    const end = converge({ desired: pubs, observed: observed({ hubs: [H1, H2] }) }, CAPACITY, NOW)
    expect(end.passes).toBe(2)
    expect(end.last).toEqual([])
    expect(end.observed.services.map((s) => s.request).sort()).toEqual(pubs.map((p) => p.request).sort())
  })
})

describe('plan: nothing to do', () => {
  it('returns [] when every live pub has its service and volume as specified', () => {
    const pubs = [placed(1, 20000), placed(2, 20001), pub(3, { placement: at(H2, 20000) }), placed(4, 20002, { intent: 'stopped' })]
    expect(plan(pubs, converged(pubs, [H1, H2]), CAPACITY, NOW)).toEqual([])
  })

  it('returns [] for no pubs and no hubs', () => {
    expect(plan([], observed(), CAPACITY, NOW)).toEqual([])
  })
})

describe('plan: drift', () => {
  const p = placed(1, 20000)
  const base = converged([p], [H1])
  const withService = (over: Parameters<typeof serviceOf>[1]): Observed => ({ ...base, services: [serviceOf(p, over)] })
  const svcId = base.services[0]!.id
  const update = (changes: string[]): Action[] => [
    { kind: 'update-service', serviceId: svcId, spec: specOf(p), changes } as Action,
  ]
  const rows: Row[] = [
    { name: 'wrong image', desired: [p], observed: withService({ imageVersion: '0.9.0' }), expected: update(['image']) },
    { name: 'scaled to zero by hand', desired: [p], observed: withService({ replicas: 0 }), expected: update(['replicas']) },
    { name: 'scaled up by hand', desired: [p], observed: withService({ replicas: 3 }), expected: update(['replicas']) },
    { name: 'wrong memory', desired: [p], observed: withService({ memoryMiB: 256 }), expected: update(['memory']) },
    { name: 'wrong port', desired: [p], observed: withService({ port: 20007 }), expected: update(['placement']) },
    { name: 'spec unreadable', desired: [p], observed: withService({ imageVersion: undefined, memoryMiB: undefined }), expected: update(['image', 'memory']) },
    {
      name: 'several fields at once',
      desired: [p],
      observed: withService({ imageVersion: '0.9.0', replicas: 0, forceUpdate: 7 }),
      expected: update(['image', 'replicas', 'restart']),
    },
    {
      name: 'service missing, volume kept',
      desired: [p],
      observed: { ...base, services: [] },
      expected: [{ kind: 'create-service', spec: specOf(p) }],
    },
    {
      name: 'service and volume missing',
      desired: [p],
      observed: observed({ hubs: [H1] }),
      expected: [
        { kind: 'create-volume', request: p.request, hub: H1.id },
        { kind: 'create-service', spec: specOf(p) },
      ],
    },
  ]
  it.each(rows)('$name', ({ desired, observed: obs, expected }) => {
    expect(plan(desired, obs, CAPACITY, NOW)).toEqual(expected)
  })

  it('repairs every drift in one changing pass', () => {
    for (const row of rows) {
      const end = converge({ desired: row.desired, observed: row.observed }, CAPACITY, NOW)
      expect(end.passes, row.name).toBe(1)
      expect(end.last, row.name).toEqual([])
    }
  })

  it('an upgrade to a new image version is an update of the image only', () => {
    const upgraded = { ...p, imageVersion: '1.1.0' }
    const actions = plan([upgraded], base, CAPACITY, NOW)
    expect(actions).toEqual([{ kind: 'update-service', serviceId: svcId, spec: specOf(upgraded), changes: ['image'] }])
  })
})

describe('plan: not ours', () => {
  const p = placed(1, 20000)
  const foreignService = { kind: 'service' as const, id: 'f-svc', name: 'postgres', why: 'unlabelled' as const }
  const foreignVolume = { kind: 'volume' as const, id: `${H1.id}/pgdata`, name: 'pgdata', why: 'unlabelled' as const }
  const mislabelled = { kind: 'service' as const, id: 'f-bad', name: 'pub-bad', why: 'bad-request-label' as const }

  it('only warns about foreign objects, never acts on them', () => {
    const obs = { ...converged([p], [H1]), foreign: [mislabelled, foreignVolume, foreignService] }
    const actions = plan([p], obs, CAPACITY, NOW)
    expect(actions).toEqual([
      { kind: 'warn-foreign', object: mislabelled },
      { kind: 'warn-foreign', object: foreignService },
      { kind: 'warn-foreign', object: foreignVolume },
    ])
    expect(changesOf(actions)).toEqual([])
  })

  it('leaves foreign objects alone while creating, updating and destroying pubs around them', () => {
    const destroyed = placed(2, 20001, { intent: 'destroyed', destroyedAt: NOW - 60 * DAY })
    const drifted = placed(3, 20002)
    const obs: Observed = {
      hubs: [H1],
      services: [serviceOf(destroyed), serviceOf(drifted, { imageVersion: 'old' })],
      volumes: [volumeOf(destroyed), volumeOf(drifted)],
      foreign: [foreignService, foreignVolume],
    }
    const actions = plan([p, destroyed, drifted, pub(4)], obs, CAPACITY, NOW)
    const touched = JSON.stringify(changesOf(actions))
    expect(touched).not.toContain(foreignService.id)
    expect(touched).not.toContain(foreignVolume.name)
    expect(kinds(changesOf(actions))).toEqual(['record-placement', 'remove-service', 'create-volume', 'create-service', 'update-service'])
  })

  it('warns about our own objects that no desired pub explains, and leaves them', () => {
    const stranger = placed(9, 20009)
    const obs = observed({ hubs: [H1], services: [serviceOf(stranger)], volumes: [volumeOf(stranger)] })
    const svc = obs.services[0]!
    expect(plan([], obs, CAPACITY, NOW)).toEqual([
      { kind: 'warn-orphan', object: 'service', id: svc.id, name: svc.name, request: stranger.request, why: 'unknown-request' },
      { kind: 'warn-orphan', object: 'volume', id: svc.name, name: svc.name, request: stranger.request, why: 'unknown-request' },
    ])
  })
})

describe('plan: no capacity', () => {
  const usable = CAPACITY.hubMemoryMiB - CAPACITY.headroomMiB
  const fits = Math.floor(usable / 128)

  it('queues what does not fit, oldest first, and says how many hubs of which size are needed', () => {
    const pubs = Array.from({ length: fits + 3 }, (_, i) => pub(i + 1))
    const actions = plan(pubs, observed({ hubs: [H1] }), CAPACITY, NOW)
    const records = actions.filter((a) => a.kind === 'record-placement')
    const queued = actions.filter((a) => a.kind === 'report-queued')
    expect(records).toHaveLength(fits)
    // The newest three requests are the ones that wait.
    const newest = [...pubs].sort((a, b) => b.requestedAt - a.requestedAt).slice(0, 3)
    expect(queued.map((a) => a.request).sort()).toEqual(newest.map((p) => p.request).sort())
    expect(actions.filter((a) => a.kind === 'report-hubs-needed')).toEqual([
      { kind: 'report-hubs-needed', count: 1, memoryMiB: CAPACITY.hubMemoryMiB, queued: 3 },
    ])
  })

  it('counts memory held by others and by stopped pubs: never overcommits', () => {
    const crowded = hub(1, { foreignReservedMiB: usable - 256 })
    const stopped = pub(1, { placement: at(crowded, 20000), intent: 'stopped' })
    const actions = plan([stopped, pub(2), pub(3)], converged([stopped], [crowded]), CAPACITY, NOW)
    expect(kinds(actions)).toEqual(['record-placement', 'report-queued', 'report-hubs-needed'])
  })

  it('asks for bigger hubs when a pub is larger than a configured hub', () => {
    const big = pub(1, { memoryMiB: 32768 })
    const actions = plan([big], observed({ hubs: [H1] }), CAPACITY, NOW)
    expect(actions).toEqual([
      { kind: 'report-queued', request: big.request, memoryMiB: 32768 },
      { kind: 'report-hubs-needed', count: 1, memoryMiB: 32768 + CAPACITY.headroomMiB, queued: 1 },
    ])
  })

  it('places nothing on a hub that is drained, paused or down, and reports recorded pubs there', () => {
    const hubs = [hub(1, { availability: 'drain' }), hub(2, { availability: 'pause' }), hub(3, { ready: false })]
    const p = pub(1, { placement: at(hubs[2]!, 20000) })
    const actions = plan([p, pub(2)], observed({ hubs }), CAPACITY, NOW)
    expect(kinds(actions)).toEqual(['report-queued', 'report-hubs-needed', 'report-hub-unavailable'])
    expect(actions.at(-1)).toEqual({ kind: 'report-hub-unavailable', hub: hubs[2]!.id, pubs: 1 })
  })
})

describe('plan: ports', () => {
  it("never hands out a purged pub's port before its release is recorded", () => {
    const gone = placed(1, 20000, { intent: 'destroyed', destroyedAt: NOW - 365 * DAY })
    const actions = plan([gone, pub(2)], observed({ hubs: [H1] }), CAPACITY, NOW)
    expect(actions).toEqual([
      { kind: 'record-placement', request: pub(2).request, hub: H1.id, port: 20001, why: 'new' },
      { kind: 'release-placement', request: gone.request, hub: H1.id, port: 20000 },
    ])
  })

  it('a paying pub passes older free ones for the last port', () => {
    const range = { ...CAPACITY, ports: { first: 20000, last: 20001 } }
    const holder = placed(1, 20000)
    const older = [pub(2, { free: true, requestedAt: 1 }), pub(3, { free: true, requestedAt: 2 })]
    const paying = pub(4, { requestedAt: 3 })
    const actions = plan([holder, ...older, paying], converged([holder], [H1]), range, NOW)
    expect(actions.filter((a) => a.kind === 'record-placement')).toEqual([
      { kind: 'record-placement', request: paying.request, hub: H1.id, port: 20001, why: 'new' },
    ])
    expect(actions.filter((a) => a.kind === 'report-queued').map((a) => a.request).sort()).toEqual(older.map((p) => p.request).sort())
  })

  it('keeps a pub on its recorded port across stop, start and restart', () => {
    let state = { desired: [placed(1, 20005)], observed: observed({ hubs: [H1] }) }
    for (const change of [{ intent: 'stopped' }, { intent: 'running' }, { restartGeneration: 1 }] as const) {
      state = converge({ desired: state.desired.map((p) => ({ ...p, ...change }) as DesiredPub), observed: state.observed }, CAPACITY, NOW)
      expect(state.observed.services.map((s) => s.port)).toEqual([20005])
    }
  })

  it('adopts a service of ours whose record is missing, at its own port', () => {
    const p = placed(1, 20042)
    const obs = converged([p], [H1])
    const { placement: _dropped, ...unrecorded } = p
    expect(plan([unrecorded as DesiredPub], obs, CAPACITY, NOW)).toEqual([
      { kind: 'record-placement', request: p.request, hub: H1.id, port: 20042, why: 'adopt' },
    ])
  })

  it('adopts an unrecorded pub with no service on the hub that holds its volume (not the tightest fit), at its lowest free port', () => {
    // Best fit would take H1 (it already holds a pub); the data is on the empty H2, so the pub goes there.
    const holder = pub(9, { placement: at(H1, 20000) })
    const lost = pub(1)
    const obs = observed({ hubs: [H1, H2], services: [serviceOf(holder)], volumes: [volumeOf(holder), volumeOf({ ...lost, placement: at(H2, 0) })] })
    // A new pub beside it still goes by best fit.
    const records = changesOf(plan([holder, lost, pub(3)], obs, CAPACITY, NOW))
    expect(new Set(records)).toEqual(new Set([
      { kind: 'record-placement', request: lost.request, hub: H2.id, port: 20000, why: 'adopt' },
      { kind: 'record-placement', request: req(3), hub: H1.id, port: 20001, why: 'new' },
    ]))
    // Read back, the service is built on that hub beside its data: no second volume anywhere.
    const next = execute(plan([holder, lost], obs, CAPACITY, NOW), { desired: [holder, lost], observed: obs })
    expect(kinds(changesOf(plan(next.desired, next.observed, CAPACITY, NOW)))).toEqual(['create-service'])
  })

  it('adopts a stopped pub by its volume too (it would otherwise be placed anew, away from its data, when started); a destroyed one is not placed', () => {
    const stopped = pub(1, { intent: 'stopped' })
    const destroyed = pub(2, { intent: 'destroyed', destroyedAt: NOW - DAY })
    const obs = observed({ hubs: [H1, H2], volumes: [volumeOf({ ...stopped, placement: at(H2, 0) }), volumeOf({ ...destroyed, placement: at(H2, 0) })] })
    expect(changesOf(plan([stopped, destroyed], obs, CAPACITY, NOW))).toEqual([
      { kind: 'record-placement', request: stopped.request, hub: H2.id, port: 20000, why: 'adopt' },
    ])
  })

  it("never hands an unrecorded service's port to another pub, whatever their ages (services are adopted first)", () => {
    const older = pub(1, { requestedAt: 1 })
    const younger = placed(2, 20000, { requestedAt: 2 })
    const { placement: _lost, ...unrecorded } = younger
    const obs = observed({ hubs: [H1], services: [serviceOf(younger)], volumes: [volumeOf(younger), volumeOf({ ...older, placement: at(H1, 0) })] })
    expect(new Set(changesOf(plan([older, unrecorded as DesiredPub], obs, CAPACITY, NOW)))).toEqual(new Set([
      { kind: 'record-placement', request: younger.request, hub: H1.id, port: 20000, why: 'adopt' },
      { kind: 'record-placement', request: older.request, hub: H1.id, port: 20001, why: 'adopt' },
    ]))
  })

  it('places an unrecorded pub anew when the hub holding its volume has no room, and reports that volume off its placement', () => {
    const full = hub(2, { memoryMiB: CAPACITY.headroomMiB + 64 })
    const lost = pub(1)
    const obs = observed({ hubs: [H1, full], volumes: [volumeOf({ ...lost, placement: at(full, 0) })] })
    const state = converge({ desired: [lost], observed: obs }, CAPACITY, NOW)
    expect(state.desired[0]!.placement).toEqual(at(H1, 20000))
    expect(state.last).toContainEqual({ kind: 'warn-orphan', object: 'volume', id: objectName(lost.request), name: objectName(lost.request), request: lost.request, why: 'off-placement' })
  })

  it('two unrecorded services on one port: the older request adopts it in any order, the other is a conflict', () => {
    const older = placed(1, 20042, { requestedAt: 1 })
    const newer = placed(2, 20042, { requestedAt: 2 })
    const obs = converged([older, newer], [H1])
    const unrecorded = [older, newer].map(({ placement: _p, ...rest }) => rest as DesiredPub)
    const expected: Action[] = [
      { kind: 'record-placement', request: older.request, hub: H1.id, port: 20042, why: 'adopt' },
      { kind: 'warn-conflict', request: newer.request, hub: H1.id, port: 20042, holder: older.request, unrecorded: true },
    ]
    expect(plan(unrecorded, obs, CAPACITY, NOW)).toEqual(expected)
    expect(plan([...unrecorded].reverse(), { ...obs, services: [...obs.services].reverse() }, CAPACITY, NOW)).toEqual(expected)
  })

  it('leaves the later of two records for one port alone and warns', () => {
    const first = placed(1, 20000)
    const second = placed(2, 20000)
    const actions = plan([second, first], observed({ hubs: [H1] }), CAPACITY, NOW)
    expect(actions).toEqual([
      { kind: 'create-volume', request: first.request, hub: H1.id },
      { kind: 'create-service', spec: specOf(first) },
      { kind: 'warn-conflict', request: second.request, hub: H1.id, port: 20000, holder: first.request },
    ])
  })
})

describe('plan: restart generations', () => {
  const p = placed(1, 20000, { restartGeneration: 4 })
  it.each([
    ['one restart behind', 3],
    ['several restarts behind', 0],
    ['ahead (the log is the truth)', 9],
  ])('%s: writes the generation as ForceUpdate', (_name, observedGeneration) => {
    const obs = { ...converged([p], [H1]), services: [serviceOf(p, { forceUpdate: observedGeneration })] }
    const actions = plan([p], obs, CAPACITY, NOW)
    expect(actions).toEqual([{ kind: 'update-service', serviceId: obs.services[0]!.id, spec: specOf(p), changes: ['restart'] }])
    expect((actions[0] as Extract<Action, { kind: 'update-service' }>).spec.forceUpdate).toBe(p.restartGeneration)
  })

  it('a generation already written restarts nothing', () => {
    expect(plan([p], converged([p], [H1]), CAPACITY, NOW)).toEqual([])
  })

  it('a new service starts at the current generation: no restart follows its creation', () => {
    const end = converge({ desired: [pub(1, { restartGeneration: 6 })], observed: observed({ hubs: [H1] }) }, CAPACITY, NOW)
    expect(end.observed.services[0]!.forceUpdate).toBe(6)
    expect(end.last).toEqual([])
  })
})

describe('plan: stop and start', () => {
  const running = placed(1, 20000)
  const stopped = { ...running, intent: 'stopped' } as DesiredPub

  it('stop scales the service to zero and keeps the volume', () => {
    const actions = plan([stopped], converged([running], [H1]), CAPACITY, NOW)
    expect(actions).toEqual([
      { kind: 'update-service', serviceId: converged([running], [H1]).services[0]!.id, spec: { ...specOf(running), replicas: 0 }, changes: ['replicas'] },
    ])
  })

  it('start scales it back to one', () => {
    const actions = plan([running], converged([stopped], [H1]), CAPACITY, NOW)
    expect(actions).toMatchObject([{ kind: 'update-service', spec: { replicas: 1 }, changes: ['replicas'] }])
  })

  it('a stopped pub that was never placed takes no room and no port', () => {
    const never = pub(1, { intent: 'stopped' })
    expect(plan([never], observed({ hubs: [H1] }), CAPACITY, NOW)).toEqual([])
  })
})

describe('plan: destroy and purge', () => {
  const destroyedAt = NOW - DAY
  const p = placed(1, 20000, { intent: 'destroyed', destroyedAt })
  const live = placed(1, 20000)

  it('removes the service at once and keeps the volume', () => {
    const obs = converged([live], [H1])
    expect(plan([p], obs, CAPACITY, NOW)).toEqual([
      { kind: 'remove-service', request: p.request, serviceId: obs.services[0]!.id, serviceName: obs.services[0]!.name, why: 'destroyed' },
    ])
  })

  it('keeps the volume until retention has passed, then purges it', () => {
    const obs = observed({ hubs: [H1], volumes: [volumeOf(p)] })
    const due = destroyedAt + CAPACITY.retentionMs
    expect(plan([p], obs, CAPACITY, due - 1)).toEqual([])
    expect(plan([p], obs, CAPACITY, due)).toEqual([{ kind: 'purge-volume', request: p.request, hub: H1.id, volumeName: volumeOf(p).name }])
  })

  it('does not purge in the pass that removes the service, even when retention is over', () => {
    const late = destroyedAt + CAPACITY.retentionMs + DAY
    const obs = converged([live], [H1])
    expect(kinds(plan([p], obs, CAPACITY, late))).toEqual(['remove-service'])
    const end = converge({ desired: [p], observed: obs }, CAPACITY, late)
    // Remove, purge, release: each planned from what the pass before left behind.
    expect(end.passes).toBe(3)
    expect(end.observed.volumes).toEqual([])
    expect(end.desired[0]!.placement).toEqual({ ...p.placement, released: true })
  })

  it('frees the memory of a destroyed pub but not its port', () => {
    const full = hub(1, { memoryMiB: 128 + CAPACITY.headroomMiB })
    const gone = pub(1, { placement: at(full, 20000), intent: 'destroyed', destroyedAt })
    expect(plan([gone, pub(2)], observed({ hubs: [full] }), CAPACITY, NOW)).toEqual([
      { kind: 'record-placement', request: pub(2).request, hub: full.id, port: 20001, why: 'new' },
    ])
  })
})

describe('plan: port release after purge', () => {
  const destroyedAt = NOW - 40 * DAY
  const due = destroyedAt + CAPACITY.retentionMs
  const gone = placed(1, 20000, { intent: 'destroyed', destroyedAt })
  const released = { ...gone, placement: { ...gone.placement!, released: true as const } }
  const release: Action = { kind: 'release-placement', request: gone.request, hub: H1.id, port: 20000 }
  const leftover = serviceOf(placed(1, 20000))

  const rows: Row[] = [
    { name: 'purged (no service, no volume) and retention over: release', desired: [gone], observed: observed({ hubs: [H1] }), expected: [release] },
    {
      name: 'a service remains: remove it, no release',
      desired: [gone],
      observed: observed({ hubs: [H1], services: [leftover] }),
      expected: [{ kind: 'remove-service', request: gone.request, serviceId: leftover.id, serviceName: leftover.name, why: 'destroyed' }],
    },
    {
      name: 'a volume remains: purge it, release in a later pass',
      desired: [gone],
      observed: observed({ hubs: [H1], volumes: [volumeOf(gone)] }),
      expected: [{ kind: 'purge-volume', request: gone.request, hub: H1.id, volumeName: volumeOf(gone).name }],
    },
    {
      name: 'a volume remains on another hub: purge it, no release',
      desired: [gone],
      observed: observed({ hubs: [H1, H2], volumes: [volumeOf(gone, { hub: H2.id })] }),
      expected: [{ kind: 'purge-volume', request: gone.request, hub: H2.id, volumeName: volumeOf(gone).name }],
    },
    {
      name: 'retention still runs: nothing, even with nothing left',
      desired: [placed(1, 20000, { intent: 'destroyed', destroyedAt: NOW - DAY })],
      observed: observed({ hubs: [H1] }),
      expected: [],
    },
    {
      name: "the hub's volumes could not be listed: no release",
      desired: [gone],
      observed: observed({ hubs: [H1, H2], volumeHubs: [H2.id] }),
      expected: [],
    },
    { name: "the hub's volumes were listed: release", desired: [gone], observed: observed({ hubs: [H1], volumeHubs: [H1.id] }), expected: [release] },
    { name: 'already released: nothing (a rerun writes no second release)', desired: [released], observed: observed({ hubs: [H1] }), expected: [] },
    {
      name: 'a destroyed pub never placed: nothing to release',
      desired: [pub(1, { intent: 'destroyed', destroyedAt })],
      observed: observed({ hubs: [H1] }),
      expected: [],
    },
  ]
  it.each(rows)('$name', ({ desired, observed: obs, expected }) => {
    expect(plan(desired, obs, CAPACITY, NOW)).toEqual(expected)
  })

  it('a duplicate service of the pub holds the release back until it is gone', () => {
    const svc = serviceOf(placed(1, 20000))
    const dup = { ...svc, id: 'svc-dup' }
    const obs = observed({ hubs: [H1], services: [svc, dup] })
    expect(kinds(plan([gone], obs, CAPACITY, due))).toEqual(['remove-service', 'remove-service'])
  })

  it('a released port is handed out again, lowest first', () => {
    const other = placed(2, 20001)
    const actions = plan([released, other, pub(3)], converged([other], [H1]), CAPACITY, NOW)
    expect(actions).toEqual([{ kind: 'record-placement', request: pub(3).request, hub: H1.id, port: 20000, why: 'new' }])
  })

  it('a service of a pub this pass does not know (held back, or unknown) keeps its port from new placements', () => {
    const stray = serviceOf(placed(9, 20000))
    const actions = plan([pub(2)], observed({ hubs: [H1], services: [stray] }), CAPACITY, NOW)
    expect(actions.filter((a) => a.kind === 'record-placement')).toEqual([
      { kind: 'record-placement', request: pub(2).request, hub: H1.id, port: 20001, why: 'new' },
    ])
  })

  it('a release in the log for a pub that is not destroyed frees nothing', () => {
    const live = placed(1, 20000)
    const claimed = { ...live, placement: { ...live.placement!, released: true as const } }
    const actions = plan([claimed, pub(2)], converged([live], [H1]), CAPACITY, NOW)
    expect(actions).toEqual([{ kind: 'record-placement', request: pub(2).request, hub: H1.id, port: 20001, why: 'new' }])
  })

  it('a crash between purge and release converges: the next pass releases, a rerun before the read-back asks again', () => {
    const start = { desired: [gone], observed: observed({ hubs: [H1], volumes: [volumeOf(gone)] }) }
    const purgeOnly = plan(start.desired, start.observed, CAPACITY, NOW)
    expect(kinds(purgeOnly)).toEqual(['purge-volume'])
    // The purge ran; the provider died before the next pass.
    const afterPurge = execute(purgeOnly, start)
    const first = plan(afterPurge.desired, afterPurge.observed, CAPACITY, NOW)
    expect(first).toEqual([release])
    // The release was published but not yet read back (or the provider died again): the same release, once.
    expect(plan(afterPurge.desired, afterPurge.observed, CAPACITY, NOW)).toEqual([release])
    const done = execute(first, afterPurge)
    expect(done.desired[0]!.placement!.released).toBe(true)
    expect(changesOf(plan(done.desired, done.observed, CAPACITY, NOW))).toEqual([])
  })
})

describe('plan: duplicates, order and determinism', () => {
  const pubs = [
    placed(1, 20000),
    placed(2, 20001, { imageVersion: '2.0.0' }),
    placed(3, 20002, { intent: 'destroyed', destroyedAt: NOW - 90 * DAY }),
    pub(4),
    pub(5, { memoryMiB: 512 }),
    placed(6, 20003, { intent: 'stopped' }),
  ]
  const obs: Observed = {
    hubs: [H1, H2],
    services: [serviceOf(pubs[0]!), serviceOf(pubs[1]!, { imageVersion: '1.0.0' })],
    volumes: [volumeOf(pubs[0]!), volumeOf(pubs[2]!)],
    foreign: [{ kind: 'service', id: 'x', name: 'x', why: 'unlabelled' }],
  }
  const expected = plan(pubs, obs, CAPACITY, NOW)

  // A small seeded shuffle: the same permutations on every run.
  function shuffled<T>(list: readonly T[], seed: number): T[] {
    const out = [...list]
    let s = seed
    for (let i = out.length - 1; i > 0; i--) {
      s = (s * 1103515245 + 12345) % 2 ** 31
      const j = s % (i + 1)
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }

  it('the plan covers every kind of work in this scenario', () => {
    expect(new Set(kinds(expected))).toEqual(
      new Set(['record-placement', 'create-volume', 'create-service', 'update-service', 'purge-volume', 'warn-foreign']),
    )
  })

  it.each([1, 2, 3, 4, 5])('reordered and duplicated inputs (seed %i) give the same plan', (seed) => {
    const desired = shuffled([...pubs, ...pubs.slice(0, seed)], seed)
    const reordered: Observed = {
      hubs: shuffled(obs.hubs, seed + 10),
      services: shuffled(obs.services, seed + 20),
      volumes: shuffled(obs.volumes, seed + 30),
      foreign: obs.foreign,
    }
    expect(plan(desired, reordered, CAPACITY, NOW)).toEqual(expected)
  })

  it('two differing entries for one request: the same winner either way round, and a warning', () => {
    const a = placed(1, 20000)
    const b = { ...a, restartGeneration: 2 }
    const one = plan([a, b], converged([a], [H1]), CAPACITY, NOW)
    const other = plan([b, a], converged([a], [H1]), CAPACITY, NOW)
    expect(one).toEqual(other)
    expect(kinds(one)).toEqual(['update-service', 'warn-duplicate-desired'])
    expect(one[0]).toMatchObject({ changes: ['restart'], spec: { forceUpdate: 2 } })
  })

  it('removes a second service of ours for one pub, keeping the one where the record says it lives', () => {
    const p = pubs[0]!
    const stray = serviceOf(p, { id: 'aaa-first-by-id', hub: H2.id })
    const actions = plan([p], { ...converged([p], [H1]), services: [stray, serviceOf(p)] }, CAPACITY, NOW)
    expect(actions).toEqual([
      { kind: 'remove-service', request: p.request, serviceId: stray.id, serviceName: stray.name, why: 'duplicate' },
    ])
  })

  it('a pass on the state the plan leaves behind changes nothing', () => {
    const after = execute(expected, { desired: pubs, observed: obs })
    const end = converge(after, CAPACITY, NOW)
    // One more pass builds what was recorded in the first; after that, nothing.
    expect(end.passes).toBe(1)
    expect(changesOf(end.last)).toEqual([])
    expect(plan(end.desired, end.observed, CAPACITY, NOW)).toEqual(end.last)
  })
})
