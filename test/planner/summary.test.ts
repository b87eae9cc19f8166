import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CRASH_LOOP,
  REASON_TEXT,
  plan,
  summarise,
  toStatusFields,
  type DesiredPub,
  type ObservedPubState,
  type ObservedTask,
} from '../../src/planner/index.js'
import { PubStatus, multiserverAddress } from '../../src/protocol/index.js'
import { CAPACITY, NOW, converged, feed, hub, observed, pub, serviceOf } from '../../testkit/planner-fixtures.js'

const H = hub(1)
const p = pub(1, { placement: { hub: H.id, port: 20000 } })
const task = (state: ObservedTask['state'], agoMs: number, over: Partial<ObservedTask> = {}): ObservedTask => ({
  state,
  at: NOW - agoMs,
  ...over,
})

function stateWith(tasks: ObservedTask[], desired: DesiredPub = p): ObservedPubState {
  const obs = { ...converged([p], [H]), services: [serviceOf(p, { tasks })] }
  return summarise([desired], obs, { now: NOW }).get(desired.request)!
}

describe('summarise: from tasks', () => {
  const up: ObservedPubState = { state: 'up', hub: H.id, port: 20000, address: multiserverAddress(H.address, 20000, p.pubId) }
  const rows: Array<[string, ObservedTask[], ObservedPubState]> = [
    ['running and healthy', [task('running', 0, { health: 'healthy' })], up],
    ['running without a health check', [task('running', 0)], up],
    ['running, health check still starting', [task('running', 0, { health: 'starting' })], { state: 'provisioning' }],
    ['no task yet', [], { state: 'provisioning' }],
    ['pending', [task('pending', 0)], { state: 'provisioning' }],
    ['running but unhealthy', [task('running', 0, { health: 'unhealthy' })], { state: 'down', reason: 'unhealthy' }],
    ['OOM-killed, restarting', [task('starting', 0), task('failed', 1000, { exitCode: 137, oomKilled: true })], { state: 'down', reason: 'oom', detail: 'exit code 137' }],
    ['exit 137 and the driver could not tell why', [task('failed', 0, { exitCode: 137 })], { state: 'down', reason: 'oom', detail: 'exit code 137' }],
    ['exit 137 from a kill, known not OOM', [task('failed', 0, { exitCode: 137, oomKilled: false })], { state: 'down', reason: 'exited', detail: 'exit code 137' }],
    ['exited with an error code', [task('failed', 0, { exitCode: 1 })], { state: 'down', reason: 'exited', detail: 'exit code 1' }],
    ['rejected', [task('rejected', 0, { error: 'No such image: pub:9' })], { state: 'down', reason: 'rejected', detail: 'No such image: pub:9' }],
    ['replaced after a planned restart', [task('starting', 0), task('shutdown', 1000)], { state: 'provisioning' }],
    ['up again after one failure', [task('running', 0, { health: 'healthy' }), task('failed', 60_000, { exitCode: 137 })], up],
  ]
  it.each(rows)('%s', (_name, tasks, expected) => {
    expect(stateWith(tasks)).toEqual(expected)
  })

  it('calls repeated failures within the window a crash loop, even while a task happens to be up', () => {
    const failures = Array.from({ length: DEFAULT_CRASH_LOOP.failures }, (_, i) => task('failed', (i + 1) * 10_000, { exitCode: 1 }))
    expect(stateWith([task('running', 0), ...failures])).toEqual({ state: 'down', reason: 'crash-loop', detail: REASON_TEXT.exited })
  })

  it('forgets failures older than the window', () => {
    const old = DEFAULT_CRASH_LOOP.windowMs + 1
    const failures = Array.from({ length: DEFAULT_CRASH_LOOP.failures }, (_, i) => task('failed', old + i, { exitCode: 1 }))
    expect(stateWith([task('running', 0), ...failures]).state).toBe('up')
  })
})

describe('summarise: from intent and placement', () => {
  it('queued when this pass reported it queued, provisioning when it is about to be placed', () => {
    const q = pub(2)
    const obs = observed({ hubs: [] })
    const actions = plan([q], obs, CAPACITY, NOW)
    expect(summarise([q], obs, { now: NOW, plan: actions }).get(q.request)).toEqual({ state: 'queued' })
    const roomy = observed({ hubs: [H] })
    expect(summarise([q], roomy, { now: NOW, plan: plan([q], roomy, CAPACITY, NOW) }).get(q.request)).toEqual({ state: 'provisioning' })
  })

  it('stopped once the service is scaled to zero (or absent), and until then what the tasks say', () => {
    const stopped = { ...p, intent: 'stopped' } as DesiredPub
    expect(summarise([stopped], converged([stopped], [H]), { now: NOW }).get(p.request)).toEqual({ state: 'stopped' })
    expect(summarise([stopped], observed({ hubs: [H] }), { now: NOW }).get(p.request)).toEqual({ state: 'stopped' })
    expect(stateWith([task('running', 0)], stopped).state).toBe('up')
  })

  it('destroyed as soon as it is desired destroyed', () => {
    const gone = { ...p, intent: 'destroyed', destroyedAt: NOW } as DesiredPub
    expect(summarise([gone], converged([p], [H]), { now: NOW }).get(p.request)).toEqual({ state: 'destroyed' })
  })

  it('down with the hub unavailable when its hub is gone or not ready', () => {
    for (const hubs of [[], [hub(1, { ready: false })]]) {
      const obs = { ...converged([p], [H]), hubs, services: [serviceOf(p, { tasks: [task('pending', 0)] })] }
      expect(summarise([p], obs, { now: NOW }).get(p.request)).toEqual({ state: 'down', reason: 'hub-unavailable' })
    }
  })

  it('provisioning while a start is on its way (service still at zero replicas)', () => {
    const obs = { ...converged([p], [H]), services: [serviceOf(p, { replicas: 0, tasks: [] })] }
    expect(summarise([p], obs, { now: NOW }).get(p.request)).toEqual({ state: 'provisioning' })
  })
})

describe('status fields and changes', () => {
  const RECPS = [feed('owner 1'), feed('provider')]

  it('every observed state gives fields a buttcloud/status accepts', () => {
    const states: ObservedPubState[] = [
      { state: 'queued' },
      { state: 'provisioning' },
      { state: 'up', address: multiserverAddress('hub.example.net', 20000, p.pubId) },
      { state: 'down', reason: 'rejected', detail: `line one\nline two ${'x'.repeat(400)}` },
      { state: 'stopped' },
      { state: 'destroyed' },
    ]
    for (const s of states) {
      const fields = toStatusFields(s)
      const { address, ...rest } = fields
      const content = { type: 'buttcloud/status', version: 1, request: p.request, ...rest, ...(address ? { pub: { id: p.pubId, address } } : {}), recps: RECPS }
      expect(PubStatus.safeParse(content).success, JSON.stringify(fields)).toBe(true)
    }
  })
})
