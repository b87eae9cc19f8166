/**
 * The backup shelf and the orchestrator's backup jobs, on a real folder with a driver that feeds scripted archives:
 * one backup at a time per pub, limits per pub and overall, free space, expiry, the timer sweep, destroy, and the
 * remains of a crash.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { RuntimePending, RuntimeRefusal, type PubRuntime } from '../../src/control/runtime.js'
import type { PubRecord } from '../../src/control/record.js'
import { BackupShelf, findBackup, type BackupSettings } from '../../src/orchestrator/backups.js'
import { createOrchestratorRuntime } from '../../src/orchestrator/runtime.js'
import type { Capacity } from '../../src/planner/index.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { FakeEngine, fakeHost, msgId, noInvites, record, runtimePub, type FakeHost } from './fakes.js'

const CAPACITY: Capacity = { hubMemoryMiB: 4096, headroomMiB: 0, ports: { first: 9000, last: 9009 }, retentionMs: 60_000 }
const closers: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bc-shelf-'))
  closers.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function settings(dir: string, over: Partial<BackupSettings> = {}): BackupSettings {
  return { dir, baseUrl: 'https://pubs.example.net/backups', ttlMs: 60_000, maxPubBytes: 1000, maxTotalBytes: 10_000, minFreeBytes: 0, ...over }
}

/** An archive of `bytes` bytes, fed to the shelf's sink. */
const archiveOf = (bytes: number) => (sink: (a: Readable) => Promise<void>) => sink(Readable.from([Buffer.alloc(bytes, 1)]))

/** A runtime whose driver's backups wait for the test to let each one go, with every pub placed. */
async function runtimeWithGatedBackups(dir: string, pubs: PubRecord[]) {
  const gates = new Map<MsgId, () => void>()
  const engine = new FakeEngine()
  let passesAsked = 0
  const host: FakeHost = { ...fakeHost(), requestPass: () => passesAsked++ }
  const runtime: PubRuntime = createOrchestratorRuntime({
    inviter: noInvites,
    driver: engine.driver({
      backup: async (request, _hub, sink) => {
        await new Promise<void>((resolve) => gates.set(request, resolve))
        await sink(Readable.from([Buffer.alloc(100)]))
      },
    }),
    capacity: CAPACITY,
    defaultImageVersion: '0.1.0',
    settleMs: 0,
    stats: { sampleIntervalMs: 0 },
    backups: settings(dir),
  })(host)
  closers.push(() => runtime.close())
  await runtime.reconcile(pubs.map((r) => runtimePub(r, host)), Date.now())
  return { runtime, host, gates, passesAsked: () => passesAsked }
}

describe('backup jobs', () => {
  it('makes one backup at a time per pub: a second command meanwhile is refused at once, other pubs are not held up', async () => {
    const dir = tempDir()
    const [a, b] = [record(1), record(2)]
    const { runtime, gates, passesAsked } = await runtimeWithGatedBackups(dir, [a, b])
    const [first, second, other] = [msgId('first'), msgId('second'), msgId('other')]

    await expect(runtime.backup(a, first)).rejects.toBeInstanceOf(RuntimePending)
    await expect(runtime.backup(a, first)).rejects.toBeInstanceOf(RuntimePending)
    const busy = await runtime.backup(a, second).catch((e: unknown) => e)
    expect(busy).toBeInstanceOf(RuntimeRefusal)
    expect((busy as Error).message).toMatch(/a backup of this pub is being made right now/)
    await expect(runtime.backup(b, other)).rejects.toBeInstanceOf(RuntimePending)

    await vi.waitFor(() => expect(gates.has(a.request)).toBe(true))
    gates.get(a.request)!()
    // Done beside the passes: the runtime asks for a pass, which then gets the link.
    await vi.waitFor(() => expect(passesAsked()).toBe(1))
    const done = await runtime.backup(a, first)
    expect(done.bytes).toBe(100)
    expect(findBackup(dir, done.url.split('/').pop()!, Date.now()).state).toBe('ready')
    // The job is over: the second command now starts a backup of its own.
    await expect(runtime.backup(a, second)).rejects.toBeInstanceOf(RuntimePending)
  })

  it("deletes a destroyed pub's archives on the next pass", async () => {
    const dir = tempDir()
    const a = record(3)
    const { runtime, host, gates } = await runtimeWithGatedBackups(dir, [a])
    await expect(runtime.backup(a, msgId('b1'))).rejects.toBeInstanceOf(RuntimePending)
    await vi.waitFor(() => expect(gates.has(a.request)).toBe(true))
    gates.get(a.request)!()
    const done = await vi.waitFor(() => runtime.backup(a, msgId('b1')))
    const name = done.url.split('/').pop()!
    expect(existsSync(join(dir, name))).toBe(true)
    await runtime.reconcile([runtimePub({ ...a, intent: 'destroyed' }, host, 'destroyed')], Date.now())
    expect(existsSync(join(dir, name))).toBe(false)
    expect(findBackup(dir, name, Date.now()).state).toBe('missing')
  })
})

describe('the backup shelf', () => {
  it('refuses an archive over the per-pub limit and leaves nothing behind', async () => {
    const dir = tempDir()
    const shelf = new BackupShelf(settings(dir, { maxPubBytes: 1000 }))
    closers.push(() => shelf.close())
    const err = await shelf.write(msgId('p'), archiveOf(3000)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RuntimeRefusal)
    expect((err as Error).message).toMatch(/larger than the .* a backup may be/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('keeps all archives within the overall limit, and only the newest archive of each pub', async () => {
    const dir = tempDir()
    const shelf = new BackupShelf(settings(dir, { maxPubBytes: 1000, maxTotalBytes: 1500 }))
    closers.push(() => shelf.close())
    const [p, q] = [msgId('p'), msgId('q')]
    const first = await shelf.write(p, archiveOf(900))
    // 600 bytes of room are left: q's 900-byte archive does not fit.
    const err = await shelf.write(q, archiveOf(900)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RuntimeRefusal)
    expect((err as Error).message).toMatch(/room for only/)
    // A newer archive of p replaces p's older one.
    const second = await shelf.write(p, archiveOf(500))
    expect(findBackup(dir, first.url.split('/').pop()!, Date.now()).state).toBe('missing')
    expect(findBackup(dir, second.url.split('/').pop()!, Date.now())).toMatchObject({ state: 'ready', bytes: 500 })
    expect(readdirSync(dir).sort()).toEqual([`${second.url.split('/').pop()!.slice(0, 32)}.json`, second.url.split('/').pop()!].sort())
  })

  it('refuses a backup when the disk would be left with less than the free space it must keep', async () => {
    const dir = tempDir()
    const shelf = new BackupShelf(settings(dir, { minFreeBytes: Number.MAX_SAFE_INTEGER }))
    closers.push(() => shelf.close())
    let produced = false
    const err = await shelf
      .write(msgId('p'), async (sink) => {
        produced = true
        await archiveOf(10)(sink)
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RuntimeRefusal)
    expect((err as Error).message).toMatch(/short of disk space/)
    expect(produced).toBe(false)
  })

  it('says "expired" once a backup expires, and its timer sweeps the archive without another backup being made', async () => {
    const dir = tempDir()
    // Swept every second (a quarter of the time to live, at least a second): the record outlives the archive by ~2 s.
    const shelf = new BackupShelf(settings(dir, { ttlMs: 3000 }))
    closers.push(() => shelf.close())
    const made = await shelf.write(msgId('p'), archiveOf(10))
    const name = made.url.split('/').pop()!
    expect(findBackup(dir, name, Date.now()).state).toBe('ready')
    expect(findBackup(dir, name, made.expires)).toEqual({ state: 'expired', expired: made.expires })
    await vi.waitFor(() => expect(existsSync(join(dir, name))).toBe(false), { timeout: 8000, interval: 50 })
    expect(Date.now()).toBeGreaterThanOrEqual(made.expires)
    // Still told "expired" rather than "unknown" for a while; then the record goes too.
    expect(findBackup(dir, name, Date.now()).state).toBe('expired')
    await vi.waitFor(() => expect(findBackup(dir, name, Date.now()).state).toBe('missing'), { timeout: 8000, interval: 50 })
  })

  it('deletes the remains of a crash at start: half-written archives and archives without a record', async () => {
    const dir = tempDir()
    const [a, b] = ['a'.repeat(32), 'b'.repeat(32)]
    writeFileSync(join(dir, `${a}.part`), 'half')
    writeFileSync(join(dir, `${b}.tar.gz`), 'no record')
    const shelf = new BackupShelf(settings(dir))
    closers.push(() => shelf.close())
    expect(readdirSync(dir)).toEqual([])
  })
})
