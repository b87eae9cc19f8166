/**
 * Drain and move through the runtime, on the in-memory engine: a pub on a hub that gets drained is reported
 * "moving", recorded on the other hub, stopped, copied and started there, reported "up" at its new address, and its
 * old volume goes; with nowhere to go it stays and the operator's capacity report says why.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createOrchestratorRuntime, MOVING_REFUSAL } from '../../src/orchestrator/runtime.js'
import { derivePubKeys } from '../../src/orchestrator/desired.js'
import { formatCapacitySnapshot } from '../../src/provider/capacity.js'
import { changesOf, objectName, REASON_TEXT, type Capacity } from '../../src/planner/index.js'
import { multiserverAddress } from '../../src/protocol/ids.js'
import { FakeEngine, fakeHost, HUB, msgId, noInvites, record, runtimePub } from './fakes.js'
import type { BackupSettings } from '../../src/orchestrator/backups.js'
import { RuntimePending, RuntimeRefusal } from '../../src/control/runtime.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const CAPACITY: Capacity = { hubMemoryMiB: 4096, headroomMiB: 0, ports: { first: 9000, last: 9009 }, retentionMs: 60_000 }
const HUB_B = { ...HUB, id: 'node-b', name: 'hub-b', address: 'hub-b.example.net' }
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

function setup(hubs = [HUB, HUB_B], backups?: BackupSettings) {
  const engine = new FakeEngine()
  engine.hubs = hubs.map((h) => ({ ...h }))
  const copies: string[] = []
  /** The hubs archives were made on, in order. */
  const archived: string[] = []
  const host = fakeHost()
  const driver = engine.driver(engine.dataHandlers(archived, copies))
  const runtime = createOrchestratorRuntime({ driver, inviter: noInvites, capacity: CAPACITY, defaultImageVersion: '1', settleMs: 2000, settlePollMs: 1, stats: { sampleIntervalMs: 0 }, ...(backups ? { backups } : {}) })(host)
  closers.push(() => runtime.close())
  /** Drain a hub as Swarm does: nothing new goes there, and the tasks running there are shut down. */
  const drain = (id: string) => {
    engine.hubs.find((h) => h.id === id)!.availability = 'drain'
    for (const s of engine.services.values()) if (s.listing.hub === id) for (const t of s.tasks) if (t.state === 'running') t.state = 'shutdown'
  }
  return { engine, host, runtime, copies, archived, drain }
}

describe('orchestrator runtime: drain and move', () => {
  it('moves a pub off a drained hub with its data: "moving", then "up" at the new address; the old volume goes', async () => {
    const { engine, host, runtime, copies, drain } = setup()
    const r = record(1)
    const pubId = derivePubKeys(host.providerKeys, r.request).id
    const pass = async () => (await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)
    await pass()
    expect(await pass()).toEqual({ state: 'up', pub: { id: pubId, address: multiserverAddress(HUB.address, 9000, pubId) } })

    drain(HUB.id)
    const seen = []
    for (let i = 0; i < 6; i++) {
      seen.push({ state: await pass(), actions: changesOf(runtime.lastActions()).map((a) => a.kind) })
      if (seen.at(-1)!.actions.length === 0) break
    }
    const moving = { state: 'down', reason: REASON_TEXT.moving, pub: { id: pubId, address: multiserverAddress(HUB_B.address, 9000, pubId) } }
    const up = { state: 'up', pub: { id: pubId, address: multiserverAddress(HUB_B.address, 9000, pubId) } }
    expect(seen).toEqual([
      { state: moving, actions: ['record-placement'] },
      { state: moving, actions: ['update-service'] },
      { state: up, actions: ['move-data', 'update-service'] },
      { state: up, actions: ['purge-volume'] },
      { state: up, actions: [] },
    ])
    expect(host.placements.get(r.request)).toEqual({ hub: HUB_B.id, port: 9000 })
    expect(copies).toEqual([`${HUB.id}>${HUB_B.id}`])
    expect([...engine.volumes.keys()]).toEqual([`${HUB_B.id}/${objectName(r.request)}`])
    expect(engine.serviceOf(r.request)?.listing).toMatchObject({ hub: HUB_B.id, port: 9000, replicas: 1 })
  })

  it('with nowhere to go, keeps the pub where it is and says why in the capacity report', async () => {
    const { host, runtime, drain } = setup([HUB])
    const r = record(2)
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    await runtime.reconcile([runtimePub(r, host)], Date.now())
    drain(HUB.id)
    const obs = await runtime.reconcile([runtimePub(r, host)], Date.now())
    expect(obs.get(r.request)).toMatchObject({ state: 'down', reason: REASON_TEXT['hub-unavailable'] })
    expect(host.placements.get(r.request)).toEqual({ hub: HUB.id, port: 9000 })
    const report = formatCapacitySnapshot(runtime.capacity()!)
    expect(report).toContain(`move blocked: ${r.request} stays on drained hub ${HUB.id}: no other hub has room and a free port`)
    expect(report).toMatch(/hub-a\s+node-a\s+no \(drained\)/)
  })
  it('a backup asked for while the pub moves is refused with "ask again in a minute"; once moved, it is made on the new hub', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'move-backup-'))
    closers.push(async () => rmSync(dir, { recursive: true, force: true }))
    const backups: BackupSettings = { dir, baseUrl: 'https://pubs.example.net/backups', ttlMs: 60_000, maxPubBytes: 1000, maxTotalBytes: 10_000, minFreeBytes: 0 }
    const { host, runtime, archived, drain } = setup([HUB, HUB_B], backups)
    const r = record(3)
    const pass = async () => (await runtime.reconcile([runtimePub(r, host)], Date.now())).get(r.request)
    await pass()
    await pass()
    drain(HUB.id)
    // The move is recorded: the record names hub B, the data is still on hub A.
    await pass()
    expect(host.placements.get(r.request)).toEqual({ hub: HUB_B.id, port: 9000 })
    const refused = await runtime.backup(r, msgId('backup during the move')).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(RuntimeRefusal)
    expect((refused as Error).message).toBe(MOVING_REFUSAL)
    for (let i = 0; i < 6 && changesOf(runtime.lastActions()).length > 0; i++) await pass()
    expect(changesOf(runtime.lastActions())).toEqual([])
    // Moved: the same command, asked again, archives the copy on hub B.
    const again = msgId('backup after the move')
    await expect(runtime.backup(r, again)).rejects.toBeInstanceOf(RuntimePending)
    const done = await vi.waitFor(() => runtime.backup(r, again))
    expect(done.url).toMatch(/^https:\/\/pubs\.example\.net\/backups\//)
    expect(archived).toEqual([HUB_B.id])
  })
})
