/**
 * A provider restored from a backup of its records made before a pub was placed, on the in-memory engine: the world
 * still runs that pub, so the restored provider records it where it runs (`adopt`) instead of placing it anew. It
 * keeps its port and its volume, nothing of it is rebuilt, a new pub never gets its port, and what the owner would be
 * told is what they were told before the restore (the plugin posts a status only when it differs from the last).
 * A pub moved off a drained hub after the backup gets its older record back: it is recorded where it serves, and
 * nothing moves.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BackupSettings } from '../../src/orchestrator/backups.js'
import { RuntimePending } from '../../src/control/runtime.js'
import { createOrchestratorRuntime } from '../../src/orchestrator/runtime.js'
import { derivePubKeys } from '../../src/orchestrator/desired.js'
import { changesOf, objectName, type Capacity } from '../../src/planner/index.js'
import type { PubRecord } from '../../src/control/record.js'
import { multiserverAddress } from '../../src/protocol/ids.js'
import { formatCapacitySnapshot } from '../../src/provider/capacity.js'
import { FakeEngine, fakeHost, HUB, msgId, noInvites, record, runtimePub, type FakeHost } from './fakes.js'

const CAPACITY: Capacity = { hubMemoryMiB: 4096, headroomMiB: 0, ports: { first: 9000, last: 9009 }, retentionMs: 60_000 }
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

/** The hubs archives were made on (an owner's `backup` command), in order. */
const archived: string[] = []

function provider(engine: FakeEngine, host: FakeHost, backups?: BackupSettings) {
  const runtime = createOrchestratorRuntime({
    ...(backups ? { backups } : {}),
    // A move's copy, as the Swarm driver makes it: the volume on the new hub, labelled with the hub it came from.
    driver: engine.driver(engine.dataHandlers(archived)),
    inviter: noInvites,
    capacity: CAPACITY,
    defaultImageVersion: '1',
    settleMs: 2000,
    settlePollMs: 1,
    stats: { sampleIntervalMs: 0 },
  })(host)
  closers.push(() => runtime.close())
  return runtime
}

/** Passes until one changes nothing; the observations of each. */
async function converge(runtime: ReturnType<typeof provider>, host: FakeHost, records: PubRecord[]) {
  const seen = []
  for (let i = 0; i < 5; i++) {
    seen.push(await runtime.reconcile(records.map((r) => runtimePub(r, host)), Date.now()))
    if (changesOf(runtime.lastActions()).length === 0) return seen
  }
  throw new Error('no convergence within 5 passes')
}

/**
 * A provider that ran one pub and was then backed up; `restore` gives the host of a provider restored from that
 * backup: the same key (pub identities stay the same), the records as they were then.
 */
async function backedUpAfter(first: PubRecord, hubs = [HUB]) {
  const engine = new FakeEngine()
  engine.hubs = hubs.map((h) => ({ ...h }))
  const old = fakeHost()
  const before = provider(engine, old)
  await converge(before, old, [first])
  const backup = new Map([...old.placements].map(([k, v]) => [k, { ...v }]))
  const restore = () => {
    const restored = fakeHost(old.providerKeys)
    for (const [request, at] of backup) restored.placements.set(request, { ...at })
    return restored
  }
  return { engine, old, before, restore }
}

describe('a provider restored from an older backup of its records', () => {
  it('records a pub placed after the backup where it runs: same port, same volume, nothing rebuilt, nothing new to tell', async () => {
    const early = record(1)
    const { engine, old, before, restore } = await backedUpAfter(early)

    const late = record(2)
    const lastSeen = (await converge(before, old, [early, late])).at(-1)!
    expect(old.placements.get(late.request)).toEqual({ hub: HUB.id, port: 9001 })
    const lateService = engine.serviceOf(late.request)!.listing
    const lateVolume = engine.volumes.get(`${HUB.id}/${objectName(late.request)}`)!
    await before.close()

    // The restored provider: same key, records from the backup, the same engine (the world kept running).
    const restored = restore()
    const after = provider(engine, restored)
    const newcomer = record(3)
    const calls = engine.calls.length
    const passes = await converge(after, restored, [early, late, newcomer])

    // Recorded from what runs, once, with why; the newcomer gets a port of its own.
    expect(restored.placements.get(late.request)).toEqual({ hub: HUB.id, port: 9001 })
    expect(restored.reasons.get(late.request)).toBe('adopt')
    expect(restored.placements.get(newcomer.request)).toEqual({ hub: HUB.id, port: 9002 })
    expect(restored.placements.get(early.request)).toEqual({ hub: HUB.id, port: 9000 })
    // Nothing of it was rebuilt: the same service, spec and volume; the only services made are the newcomer's.
    expect(engine.serviceOf(late.request)!.listing).toEqual(lateService)
    expect(engine.volumes.get(`${HUB.id}/${objectName(late.request)}`)).toBe(lateVolume)
    const made = engine.calls.slice(calls).filter((c) => c !== 'listHubs' && c !== 'listServices' && c !== 'listTasks' && c !== 'listVolumes')
    expect(made).toEqual(['createVolume', 'createService'])
    // The owners of the old pubs would be told exactly what they were told before, in every pass (up, same address).
    const pubId = derivePubKeys(old.providerKeys, late.request).id
    expect(lastSeen.get(late.request)).toEqual({ state: 'up', pub: { id: pubId, address: multiserverAddress(HUB.address, 9001, pubId) } })
    for (const seen of passes) {
      expect(seen.get(late.request)).toEqual(lastSeen.get(late.request))
      expect(seen.get(early.request)).toEqual(lastSeen.get(early.request))
    }
    expect(passes.at(-1)!.get(newcomer.request)?.state).toBe('up')
    expect(restored.lines.some((l) => l.includes(`placed ${late.request} on ${HUB.id}:9001 (adopt)`))).toBe(true)
  })

  it('a port the backup still gives to a pub destroyed since: the record wins until its release is made again, then the pub that runs there is recorded', async () => {
    const gone = record(1)
    const { engine, old, before, restore } = await backedUpAfter(gone)
    // After the backup: the first pub is destroyed, purged and released, and its port goes to a new pub.
    const destroyed = { ...gone, intent: 'destroyed' as const, destroyedAt: Date.now() - 3_600_000 }
    await converge(before, old, [destroyed])
    const next = record(2)
    await converge(before, old, [destroyed, next])
    expect(old.placements.get(gone.request)).toEqual({ hub: HUB.id, port: 9000, released: true })
    expect(old.placements.get(next.request)).toEqual({ hub: HUB.id, port: 9000 })
    const lastSeen = (await converge(before, old, [destroyed, next])).at(-1)!
    await before.close()

    const restored = restore()
    const after = provider(engine, restored)
    const first = await after.reconcile([runtimePub(destroyed, restored), runtimePub(next, restored)], Date.now())
    // The backup's record holds the port: the pub that listens there is left alone, and the operator reads why.
    expect(changesOf(after.lastActions())).toEqual([{ kind: 'release-placement', request: gone.request, hub: HUB.id, port: 9000 }])
    expect(formatCapacitySnapshot(after.capacity()!)).toContain(
      `conflict: ${next.request} has no placement record and its service listens on ${HUB.id}:9000, which the record of ${gone.request} holds; the record wins`,
    )
    expect(first.get(next.request)).toEqual(lastSeen.get(next.request))
    // The release made again, the port is free in the records: the pub that runs there is recorded there.
    const passes = await converge(after, restored, [destroyed, next])
    expect(restored.placements.get(next.request)).toEqual({ hub: HUB.id, port: 9000 })
    expect(restored.reasons.get(next.request)).toBe('adopt')
    for (const seen of passes) expect(seen.get(next.request)).toEqual(lastSeen.get(next.request))
    expect(formatCapacitySnapshot(after.capacity()!)).not.toContain('conflict')
  })

  it('a pub moved off a drained hub after the backup: recorded where it serves, not moved back, and its owner hears nothing new', async () => {
    const HUB_B = { ...HUB, id: 'node-b', name: 'hub-b', address: 'hub-b.example.net' }
    const r = record(4)
    const { engine, old, before, restore } = await backedUpAfter(r, [HUB, HUB_B])
    expect(old.placements.get(r.request)).toEqual({ hub: HUB.id, port: 9000 })
    // After the backup, hub A is drained (Swarm shuts its tasks down) and the pub moves to hub B with its data.
    engine.hubs.find((h) => h.id === HUB.id)!.availability = 'drain'
    for (const s of engine.services.values()) if (s.listing.hub === HUB.id) for (const t of s.tasks) if (t.state === 'running') t.state = 'shutdown'
    const lastSeen = (await converge(before, old, [r])).at(-1)!
    expect(old.placements.get(r.request)).toEqual({ hub: HUB_B.id, port: 9000 })
    expect([...engine.volumes.keys()]).toEqual([`${HUB_B.id}/${objectName(r.request)}`])
    const service = engine.serviceOf(r.request)!.listing
    const pubId = derivePubKeys(old.providerKeys, r.request).id
    expect(lastSeen.get(r.request)).toEqual({ state: 'up', pub: { id: pubId, address: multiserverAddress(HUB_B.address, 9000, pubId) } })
    await before.close()

    // Restored: the record names hub A again, with hub A still drained.
    const restored = restore()
    expect(restored.placements.get(r.request)).toEqual({ hub: HUB.id, port: 9000 })
    const dir = mkdtempSync(join(tmpdir(), 'stale-backup-'))
    closers.push(async () => rmSync(dir, { recursive: true, force: true }))
    const backups: BackupSettings = { dir, baseUrl: 'https://pubs.example.net/backups', ttlMs: 60_000, maxPubBytes: 1000, maxTotalBytes: 10_000, minFreeBytes: 0 }
    const after = provider(engine, restored, backups)
    const calls = engine.calls.length
    const passes = [await after.reconcile([runtimePub(r, restored)], Date.now())]
    // Right after the pass that recorded it where it serves, a backup is not refused as "moving": it is made there.
    archived.length = 0
    const command = msgId('backup after the restore')
    await expect(after.backup(r, command)).rejects.toBeInstanceOf(RuntimePending)
    expect((await vi.waitFor(() => after.backup(r, command))).url).toMatch(/^https:\/\/pubs\.example\.net\/backups\//)
    expect(archived).toEqual([HUB_B.id])
    passes.push(...(await converge(after, restored, [r])))

    expect(restored.placements.get(r.request)).toEqual({ hub: HUB_B.id, port: 9000 })
    expect(restored.reasons.get(r.request)).toBe('adopt')
    expect(restored.lines.some((l) => l.includes(`placed ${r.request} on ${HUB_B.id}:9000 (adopt)`))).toBe(true)
    // Nothing moved: no copy, no stop, no update; the same service and volume.
    const made = engine.calls.slice(calls).filter((c) => c !== 'listHubs' && c !== 'listServices' && c !== 'listTasks' && c !== 'listVolumes')
    expect(made).toEqual([])
    expect(engine.serviceOf(r.request)!.listing).toEqual(service)
    expect([...engine.volumes.keys()]).toEqual([`${HUB_B.id}/${objectName(r.request)}`])
    // Its owner would be told nothing new in any pass: up, at the address it had.
    for (const seen of passes) expect(seen.get(r.request)).toEqual(lastSeen.get(r.request))
  })
})
