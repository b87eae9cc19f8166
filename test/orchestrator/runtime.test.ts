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
import { FakeEngine, fakeHost, HUB, msgId, record, runtimePub } from './fakes.js'

const CAPACITY: Capacity = { hubMemoryMiB: 4096, headroomMiB: 0, ports: { first: 9000, last: 9009 }, retentionMs: 60_000 }
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

function setup(over: Partial<OrchestratorOptions> = {}, engine = new FakeEngine()) {
  const host = fakeHost()
  const runtime = createOrchestratorRuntime({
    driver: engine.driver(),
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

  it('throws when the engine is unreachable, and converges when it is back', async () => {
    const { engine, host, runtime } = setup()
    const r = record(6)
    engine.unreachable = true
    await expect(runtime.reconcile([runtimePub(r, host)], Date.now())).rejects.toThrow(/ECONNREFUSED/)
    engine.unreachable = false
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect((await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)?.state).toBe('up')
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
    expect(snapshot.report.queued).toEqual({ pubs: 1, memoryMiB: 8192 })
    expect(snapshot.report.totals).toMatchObject({ hubs: 1, pubs: 1, usedMiB: 128 })
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
      driver: engine.driver({
        sampleStats: async () => {
          round++
          return [{ request: r.request, at: 1000 * round, instance: 'c1', startedAt: 0, cpuNanos: 5e8 * round, memoryBytes: 1000 * round, memoryLimitBytes: 128 << 20 }]
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
