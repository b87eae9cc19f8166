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
import { multiserverAddress, type FeedId } from '../../src/protocol/ids.js'
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
