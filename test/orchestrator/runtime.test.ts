import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { derivePubKeys } from '../../src/orchestrator/desired.js'
import { createOrchestratorRuntime, type OrchestratorOptions } from '../../src/orchestrator/runtime.js'
import { formatCapacitySnapshot, readCapacitySnapshot } from '../../src/provider/capacity.js'
import { changesOf, type Capacity } from '../../src/planner/index.js'
import { multiserverAddress } from '../../src/protocol/ids.js'
import { FakeEngine, fakeHost, HUB, msgId, noInvites, record, runtimePub } from './fakes.js'

const CAPACITY: Capacity = { hubMemoryMiB: 4096, headroomMiB: 0, ports: { first: 9000, last: 9009 }, retentionMs: 60_000 }
const BACKOFF = { baseMs: 1000, maxMs: 5000 }
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

function setup(over: Partial<OrchestratorOptions> = {}, engine = new FakeEngine()) {
  const host = fakeHost()
  const runtime = createOrchestratorRuntime({
    driver: engine.driver(),
    inviter: noInvites,
    capacity: CAPACITY,
    defaultImageVersion: '0.1.0',
    settleMs: 2000,
    settlePollMs: 1,
    stats: { sampleIntervalMs: 0 },
    ...over,
  })(host)
  closers.push(() => runtime.close())
  return { engine, host, runtime }
}

describe('orchestrator runtime', () => {
  it('places a new pub, builds on the placement once it is read back, and reports it "up" at its derived identity', async () => {
    const { engine, host, runtime } = setup()
    engine.startPolls = 2
    const r = record(1)
    const pubId = derivePubKeys(host.providerKeys, r.request).id
    const pub = { id: pubId, address: multiserverAddress(HUB.address, 9000, pubId) }
    let obs = await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect(host.placements.get(r.request)).toEqual({ hub: HUB.id, port: 9000 })
    expect(changesOf(runtime.lastActions()).map((a) => a.kind)).toEqual(['record-placement'])
    expect(engine.services.size).toBe(0)
    expect(obs.get(r.request)).toEqual({ state: 'provisioning', pub })

    // The plugin feeds the recorded placement back: now the volume and service are made, and the pass waits for "up".
    obs = await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect(changesOf(runtime.lastActions()).map((a) => a.kind)).toEqual(['create-volume', 'create-service'])
    expect(obs.get(r.request)).toEqual({ state: 'up', pub })
    expect(engine.serviceOf(r.request)?.identity.keys.id).toBe(pubId)
  })

  it('asks for a pass again soon while a placed pub is still coming up', async () => {
    const { engine, host, runtime } = setup({ settleMs: 0 })
    const requestPass = vi.fn()
    host.requestPass = requestPass
    engine.startPolls = 1000
    const r = record(30)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    const built = await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect(built.get(r.request)?.state).toBe('provisioning')
    await vi.waitFor(() => expect(requestPass).toHaveBeenCalledTimes(1), { timeout: 5000 })
  })

  it('does nothing in a converged pass, with one read of each kind', async () => {
    const { engine, host, runtime } = setup()
    const r = record(2)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    engine.calls = []
    const obs = await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect(obs.get(r.request)?.state).toBe('up')
    expect(changesOf(runtime.lastActions())).toEqual([])
    expect(engine.calls.sort()).toEqual(['listHubs', 'listServices', 'listTasks', 'listVolumes'])
  })

  it('reports "provisioning" when told not to wait, and "up" on a later pass', async () => {
    const { engine, host, runtime } = setup({ settleMs: 0 })
    engine.startPolls = 1
    const r = record(3)
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('provisioning')
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('provisioning')
    expect(engine.services.size).toBe(1)
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('up')
  })

  it('gives up waiting after settleMs and reports the pub as provisioning', async () => {
    const { engine, host, runtime } = setup({ settleMs: 30, settlePollMs: 5 })
    engine.startPolls = 1_000_000
    const r = record(4)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    const started = Date.now()
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('provisioning')
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('stops, restarts and destroys through updates and removals', async () => {
    const { engine, host, runtime } = setup()
    const r = record(5)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('up')
    const stopped = { ...r, intent: 'stopped' as const }
    expect((await runtime.reconcile([runtimePub(stopped, host)], Date.now())).get(r.request)?.state).toBe('stopped')
    expect(engine.serviceOf(r.request)?.listing.replicas).toBe(0)

    const restarted = { ...r, restartGeneration: 1 }
    expect((await runtime.reconcile([runtimePub(restarted, host)], Date.now())).get(r.request)?.state).toBe('up')
    expect(engine.serviceOf(r.request)?.listing).toMatchObject({ replicas: 1, forceUpdate: 1 })

    const destroyed = { ...restarted, intent: 'destroyed' as const, destroyedAt: Date.now() }
    const obs = await runtime.reconcile([runtimePub(destroyed, host)], Date.now())
    expect(obs.get(r.request)).toEqual({ state: 'destroyed' })
    expect(engine.serviceOf(r.request)).toBeUndefined()
    expect(engine.volumes.size).toBe(1)
    // Retention over: the volume goes.
    await runtime.reconcile([runtimePub(destroyed, host)], Date.now() + CAPACITY.retentionMs + 1)
    expect(engine.volumes.size).toBe(0)
  })

  it('throws when the engine is unreachable, leaves it alone until the retry is due, and converges when it is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bc-orch-'))
    closers.push(async () => rmSync(dir, { recursive: true, force: true }))
    const reportFile = join(dir, 'capacity.json')
    const { engine, host, runtime } = setup({ backoff: BACKOFF, reportFile })
    const r = record(6)
    const pubs = () => [runtimePub(r, host)]
    const t0 = 1_800_000_000_000
    engine.unreachable = true
    await expect(runtime.reconcile(pubs(), t0)).rejects.toThrow(/ECONNREFUSED/)
    const callsWhileDown = engine.calls.length
    expect(callsWhileDown).toBeGreaterThan(0)

    // Passes before the retry is due fail at once, with the same error and no call to the engine.
    for (const t of [t0 + 1, t0 + 500, t0 + BACKOFF.baseMs - 1]) await expect(runtime.reconcile(pubs(), t)).rejects.toThrow(/ECONNREFUSED/)
    expect(engine.calls.length).toBe(callsWhileDown)
    expect(readCapacitySnapshot(reportFile)?.backoff.engine).toEqual({ failures: 1, lastError: expect.stringMatching(/ECONNREFUSED/), lastFailureAt: t0, nextRetryAt: t0 + BACKOFF.baseMs })

    // Due: one more try, which fails and doubles the wait.
    await expect(runtime.reconcile(pubs(), t0 + BACKOFF.baseMs)).rejects.toThrow(/ECONNREFUSED/)
    expect(engine.calls.length).toBeGreaterThan(callsWhileDown)
    expect(runtime.capacity()?.backoff.engine).toMatchObject({ failures: 2, nextRetryAt: t0 + 3 * BACKOFF.baseMs })
    expect(formatCapacitySnapshot(runtime.capacity()!)).toMatch(/engine: 2 failures in a row, next attempt in 2 s; last: .*ECONNREFUSED/)

    engine.unreachable = false
    const calls = engine.calls.length
    await expect(runtime.reconcile(pubs(), t0 + 2 * BACKOFF.baseMs)).rejects.toThrow(/ECONNREFUSED/)
    expect(engine.calls.length).toBe(calls)
    await runtime.reconcile(pubs(), t0 + 3 * BACKOFF.baseMs)
    expect((await runtime.reconcile(pubs(), t0 + 3 * BACKOFF.baseMs + 1)).get(r.request)?.state).toBe('up')
    expect(runtime.capacity()?.backoff).toEqual({ pubs: [] })
  })

  it("backs off a failing pub's changes exponentially up to the cap, still reports it, and resets on success", async () => {
    const engine = new FakeEngine()
    const plain = engine.driver()
    let failing = true
    const driver = engine.driver({
      createService: async (spec, identity) => {
        if (failing && spec.request === bad.request) {
          engine.calls.push('createService')
          throw new Error('No such image: buttcloud/pub:9')
        }
        return plain.createService(spec, identity)
      },
    })
    const host = fakeHost()
    const runtime = createOrchestratorRuntime({ driver, inviter: noInvites, capacity: CAPACITY, defaultImageVersion: '0.1.0', settleMs: 2000, settlePollMs: 1, stats: { sampleIntervalMs: 0 }, backoff: BACKOFF })(host)
    closers.push(() => runtime.close())
    const bad = record(11)
    const good = record(12)
    const pubs = () => [runtimePub(bad, host), runtimePub(good, host)]
    const creates = () => engine.calls.filter((c) => c === 'createService').length
    let t = 1_800_000_000_000

    await runtime.reconcile(pubs(), t) // placements
    await runtime.reconcile(pubs(), t) // services: the bad one fails
    expect(creates()).toBe(2)
    expect(runtime.capacity()?.backoff.pubs).toEqual([
      { request: bad.request, failures: 1, lastError: 'No such image: buttcloud/pub:9', lastFailureAt: t, nextRetryAt: t + BACKOFF.baseMs },
    ])

    // Each retry comes only when due, and waits twice as long as the last, up to the cap; the good pub is not held.
    const waits: number[] = []
    for (let failures = 1; failures < 6; failures++) {
      const due = runtime.capacity()!.backoff.pubs[0]!.nextRetryAt
      const before = creates()
      const early = await runtime.reconcile(pubs(), due - 1)
      expect(creates()).toBe(before)
      expect(early.get(bad.request)?.state).toBe('provisioning')
      expect(early.get(good.request)?.state).toBe('up')
      await runtime.reconcile(pubs(), due)
      expect(creates()).toBe(before + 1)
      waits.push(due - t)
      t = due
    }
    expect(waits).toEqual([1000, 2000, 4000, 5000, 5000])
    expect(runtime.capacity()?.backoff.pubs[0]).toMatchObject({ failures: 6, nextRetryAt: t + BACKOFF.maxMs })
    expect(formatCapacitySnapshot(runtime.capacity()!)).toContain(`${bad.request}: 6 failures in a row, next attempt in 5 s; last: No such image`)

    failing = false
    const obs = await runtime.reconcile(pubs(), t + BACKOFF.maxMs)
    expect(obs.get(bad.request)?.state).toBe('up')
    expect(runtime.capacity()?.backoff.pubs).toEqual([])
    expect(formatCapacitySnapshot(runtime.capacity()!)).toContain('backoff: none')
  })

  it('tries a new goal of a backing-off pub at once: the owner destroying it is not held back', async () => {
    const engine = new FakeEngine()
    const plain = engine.driver()
    const driver = engine.driver({
      createService: async () => {
        throw new Error('engine says no')
      },
      updateService: plain.updateService,
    })
    const host = fakeHost()
    const runtime = createOrchestratorRuntime({ driver, inviter: noInvites, capacity: CAPACITY, defaultImageVersion: '0.1.0', settleMs: 0, stats: { sampleIntervalMs: 0 }, backoff: BACKOFF })(host)
    closers.push(() => runtime.close())
    const r = record(13)
    const t = 1_800_000_000_000
    await runtime.reconcile([runtimePub(r, host)], t)
    await runtime.reconcile([runtimePub(r, host)], t)
    expect(runtime.capacity()?.backoff.pubs.map((p) => p.failures)).toEqual([1])
    // Held for the same goal...
    await runtime.reconcile([runtimePub(r, host)], t + 1)
    expect(changesOf(runtime.lastActions()).map((a) => a.kind)).toEqual(['create-service'])
    expect(runtime.capacity()?.backoff.pubs.map((p) => p.failures)).toEqual([1])
    // ...but a destroy is a new goal, tried now: nothing is left to do for it, so the failures are forgotten.
    const destroyed = { ...r, intent: 'destroyed' as const, destroyedAt: t }
    expect((await runtime.reconcile([runtimePub(destroyed, host)], t + 2)).get(r.request)).toEqual({ state: 'destroyed' })
    expect(runtime.capacity()?.backoff.pubs).toEqual([])
  })

  it('queues a pub that fits nowhere, tells the operator once, and writes the capacity report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bc-orch-'))
    closers.push(async () => rmSync(dir, { recursive: true, force: true }))
    const reportFile = join(dir, 'capacity.json')
    const { host, runtime } = setup({ reportFile, capacity: { ...CAPACITY, hubPrice: { amountPerMonth: 4000, currency: 'usd' } } })
    const small = record(7)
    const huge = record(8)
    const pubs = () => [runtimePub(small, host), runtimePub(huge, host, 'running', 8192)]
    await runtime.reconcile(pubs(), Date.now())
    const obs = await runtime.reconcile(pubs(), Date.now())
    expect(obs.get(huge.request)).toEqual({ state: 'queued', reason: 'waiting for a hub with room' })
    expect(obs.get(small.request)?.state).toBe('up')
    expect(host.lines.filter((l) => l.startsWith('hubs needed'))).toEqual(['hubs needed: 1 x 8192 MiB for 1 queued pubs'])

    const snapshot = readCapacitySnapshot(reportFile)!
    expect(snapshot.report?.queued).toEqual({ pubs: 1, memoryMiB: 8192 })
    expect(snapshot.report?.totals).toMatchObject({ hubs: 1, pubs: 1, usedMiB: 128 })
    const text = formatCapacitySnapshot(snapshot, snapshot.at)
    expect(text).toContain('runtime fake, report from')
    expect(text).toContain('queued: 1 pubs (8192 MiB); hubs needed: 1 x 8192 MiB')
    expect(text).toContain(`queued: ${huge.request} (8192 MiB) fits on no hub`)
    expect(runtime.capacity()).toEqual(snapshot)
  })

  it('refuses an invite for a pub with no placement yet', async () => {
    const { runtime } = setup()
    await expect(runtime.invite(record(9), 1)).rejects.toThrow(/no place to run yet/)
  })

  it('summarises samples the driver takes for stats, and backs up through the driver', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bc-orch-'))
    closers.push(async () => rmSync(dir, { recursive: true, force: true }))
    const engine = new FakeEngine()
    const host = fakeHost()
    const r = record(10)
    let round = 0
    const runtime = createOrchestratorRuntime({
      inviter: noInvites,
      driver: engine.driver({
        sampleStats: async () => {
          round++
          return [{ request: r.request,
      inviter: noInvites, at: 1000 * round, instance: 'c1', startedAt: 0, cpuNanos: 5e8 * round, memoryBytes: 1000 * round, memoryLimitBytes: 128 << 20 }]
        },
        backup: async (_request, hub, sink) => {
          expect(hub).toBe(HUB.id)
          await sink(Readable.from([Buffer.alloc(42)]))
        },
      }),
      capacity: CAPACITY,
      defaultImageVersion: '0.1.0',
      stats: { sampleIntervalMs: 0, windowMs: 1e15 },
      backups: { dir, baseUrl: 'https://pubs.example.net/backups/', ttlMs: 60_000, maxPubBytes: 1 << 20, maxTotalBytes: 1 << 30, minFreeBytes: 0 },
    })(host)
    closers.push(() => runtime.close())
    // The host runs a day ahead of the driver: the summary is dated on the host's clock.
    const hostAhead = 24 * 3600_000
    await runtime.reconcile([runtimePub(r, host)], Date.now() + hostAhead)
    const first = await runtime.stats(r)
    expect(first.samples).toBe(1)
    expect(first.window.to - Date.now()).toBeGreaterThan(hostAhead - 60_000)
    expect(first.window.to - Date.now()).toBeLessThanOrEqual(hostAhead)
    // Made beside the passes: asked again until it is done.
    const backup = await vi.waitFor(() => runtime.backup(r, msgId('backup command')), { timeout: 5000, interval: 5 })
    expect(backup.url).toMatch(/^https:\/\/pubs\.example\.net\/backups\/[0-9a-f]{32}\.tar\.gz$/)
    expect(backup.bytes).toBe(42)
    expect(backup.expires).toBeGreaterThan(Date.now())
  })
})
