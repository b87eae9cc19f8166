/**
 * "Up" before Docker's first health probe: a running task whose health is still "starting" is dialled over SSB; an
 * answer with the pub's own id makes it "up" at once, any other answer or none leaves it provisioning; a pub that
 * crashed is reported down once before its restarted task may count as up.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { PubProber } from '../../src/control/driver.js'
import { derivePubKeys } from '../../src/orchestrator/desired.js'
import { createOrchestratorRuntime } from '../../src/orchestrator/runtime.js'
import type { Capacity } from '../../src/planner/index.js'
import { multiserverAddress, type FeedId, type InviteCode } from '../../src/protocol/ids.js'
import { FakeEngine, fakeHost, HUB, noInvites, record, runtimePub } from './fakes.js'

const CAPACITY: Capacity = { hubMemoryMiB: 4096, headroomMiB: 0, ports: { first: 9000, last: 9009 }, retentionMs: 60_000 }
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

/** A runtime whose fake engine never turns a task healthy by itself, dialled by `answer`. */
function setup(answer: (address: string) => Promise<FeedId>) {
  const host = fakeHost()
  const engine = new FakeEngine()
  engine.startPolls = 1_000_000
  const dialled: string[] = []
  const prober: PubProber = async (_keys, address) => {
    dialled.push(address)
    return answer(address)
  }
  const runtime = createOrchestratorRuntime({ driver: engine.driver(), inviter: noInvites, prober, capacity: CAPACITY, defaultImageVersion: '0.1.0', settleMs: 200, settlePollMs: 1, stats: { sampleIntervalMs: 0 } })(host)
  closers.push(() => runtime.close())
  return { engine, host, runtime, dialled }
}

describe('the runtime dials a starting pub', () => {
  it('reports it up as soon as it answers with its own id, at its address, and dials that task only once', async () => {
    let id: FeedId = '@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519'
    const { host, runtime, dialled } = setup(async () => id)
    const r = record(1)
    const pubId = derivePubKeys(host.providerKeys, r.request).id
    const address = multiserverAddress(HUB.address, 9000, pubId)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    // Answered by someone else: still provisioning, however long the pass waited.
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('provisioning')
    expect(dialled.length).toBeGreaterThan(0)
    expect(dialled.every((a) => a === address)).toBe(true)
    id = pubId
    expect(await runtime.reconcile([runtimePub(r, host)], Date.now())).toEqual(new Map([[r.request, { state: 'up', pub: { id: pubId, address } }]]))
    const dials = dialled.length
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('up')
    expect(dialled.length).toBe(dials)
  })

  it('dials a Swarm task that is still "starting" (Swarm holds a task with a health check there until its first probe)', async () => {
    const { engine, host, runtime } = setup(async () => derivePubKeys(host.providerKeys, r.request).id)
    const r = record(1)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    const svc = engine.serviceOf(r.request)!
    svc.tasks[0] = { state: 'starting', at: svc.tasks[0]!.at + 1 }
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('up')
  })

  it('leaves it provisioning while nothing answers', async () => {
    const { host, runtime } = setup(async () => {
      throw new Error('connect ECONNREFUSED')
    })
    const r = record(1)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('provisioning')
  })

  it('reports a crashed pub down once, then up when its restarted task answers', async () => {
    const { engine, host, runtime } = setup(async () => derivePubKeys(host.providerKeys, r.request).id)
    const r = record(1)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('up')
    // The task dies and the engine starts another, still "starting" in Docker's eyes.
    const svc = engine.serviceOf(r.request)!
    svc.tasks[0]!.state = 'failed'
    svc.tasks[0]!.exitCode = 137
    svc.tasks.unshift({ state: 'running', health: 'starting', at: Date.now() + 1 })
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)).toMatchObject({ state: 'down', reason: 'out of memory: exit code 137' })
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('up')
  })
})

describe('a pub the pass has just created', () => {
  /** A runtime with a greeter (refusing its first `refusals` dials) and an inviter that count their calls; new tasks start as Swarm's "pending" ones. */
  function greeted(opts: { refusals?: number; settlePollMs?: number; settleMs?: number } = {}) {
    const host = fakeHost()
    const engine = new FakeEngine()
    engine.startPolls = 1_000_000
    const base = engine.driver()
    const driver = engine.driver({
      // Swarm lists a new task as pending (preparing, ready) until its container starts.
      createService: async (spec, identity) => {
        await base.createService(spec, identity)
        engine.serviceOf(spec.request)!.tasks[0] = { state: 'pending', at: Date.now() }
      },
    })
    const r = record(1)
    const calls = { greeted: [] as string[], probed: 0, invited: 0 }
    let refusals = opts.refusals ?? 0
    const runtime = createOrchestratorRuntime({
      driver,
      prober: async () => {
        calls.probed++
        throw new Error('connect ECONNREFUSED')
      },
      greeter: async (_keys, address, o) => {
        calls.greeted.push(`${address} uses=${o.uses}`)
        if (refusals-- > 0) throw new Error('connect ECONNREFUSED')
        return { id: derivePubKeys(host.providerKeys, r.request).id, invite: `${address.slice(4)}:first` as InviteCode }
      },
      inviter: async () => {
        calls.invited++
        return 'later' as InviteCode
      },
      capacity: CAPACITY,
      defaultImageVersion: '0.1.0',
      settleMs: opts.settleMs ?? 5000,
      settlePollMs: opts.settlePollMs ?? 1,
      stats: { sampleIntervalMs: 0 },
    })(host)
    closers.push(() => runtime.close())
    return { host, engine, runtime, calls, r }
  }

  it('is greeted while Swarm still prepares its task: up, and its first invite came with the answer', async () => {
    const { host, runtime, calls, r } = greeted()
    const pubId = derivePubKeys(host.providerKeys, r.request).id
    const address = multiserverAddress(HUB.address, 9000, pubId)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect(calls.greeted).toEqual([])
    expect(await runtime.reconcile([runtimePub(r, host)], Date.now())).toEqual(new Map([[r.request, { state: 'up', pub: { id: pubId, address } }]]))
    expect(calls.greeted).toEqual([`${address} uses=1`])
    expect(calls.probed).toBe(0)
    // The first invite is the greeting's, once; any later one is made by the inviter.
    expect(await runtime.invite(r, 1)).toBe(`${address.slice(4)}:first`)
    expect(calls.invited).toBe(0)
    expect(await runtime.invite(r, 1)).toBe('later')
    expect(calls.invited).toBe(1)
  })

  it('is dialled between the looks at the engine until it answers, and is up in the pass that created it', async () => {
    const { host, engine, runtime, calls, r } = greeted({ refusals: 4, settlePollMs: 500 })
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    const readsBefore = engine.calls.filter((c) => c === 'listTasks').length
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('up')
    expect(calls.greeted.length).toBe(5)
    // Five dials, but the engine was read only before the create, after it and once more while waiting (500 ms apart).
    expect(engine.calls.filter((c) => c === 'listTasks').length - readsBefore).toBeLessThanOrEqual(3)
  })

  it('is dialled early only by the pass that created it: a later pass waits for Swarm to start its task', async () => {
    const { host, runtime, calls, r } = greeted({ refusals: 1_000_000, settleMs: 300 })
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    const dials = calls.greeted.length + calls.probed
    expect(dials).toBeGreaterThan(0)
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('provisioning')
    expect(calls.greeted.length + calls.probed).toBe(dials)
  })
})
