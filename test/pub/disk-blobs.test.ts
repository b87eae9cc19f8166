/**
 * The blob side of the disk allowance, with a real ssb-blobs store: while the pub is full, `blobs.want` answers an
 * error and `blobs.add` stores nothing; under the allowance both work, and the blob counts towards what is measured.
 */
import { createRequire } from 'node:module'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DiskAllowance, DISK_FULL_REASON, guardBlobs, measureDisk } from '../../pub/disk-allowance.js'
import { sbotConfig } from '../../src/ssb/config.js'
import { generateKeys, keysFileText } from '../../src/ssb/keys.js'
import { applyDb2Patches } from '../../src/ssb/patches.js'
import { closeSbot, createSbot, type Sbot, type SbotPlugin } from '../../src/ssb/server.js'
import { removeAfterLateWrites } from '../../testkit/sbots.js'

const require = createRequire(import.meta.url)
const pull = require('pull-stream')

interface Blobs {
  want(id: string, cb: (err: Error | null, has?: boolean) => void): void
  add(cb: (err: Error | null, id?: string) => void): unknown
  has(id: string, cb: (err: Error | null, has?: boolean) => void): void
}

describe('blobs and the disk allowance', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bc-blobs-'))
  const keys = generateKeys()
  let sbot: Sbot & { blobs: Blobs }
  // The allowance reads these options at each measurement: the tests change the plan by changing them.
  const opts = { dataDir: dir, checkMs: 60_000, owner: keys.id, allowedBytes: 10 * 1024 * 1024 }
  const disk = new DiskAllowance(opts)

  const add = (data: Buffer) =>
    new Promise<string>((resolve, reject) => pull(pull.values([data]), sbot.blobs.add((err, id) => (err ? reject(err) : resolve(id!)))))
  const want = (id: string) => new Promise<boolean>((resolve, reject) => sbot.blobs.want(id, (err, has) => (err ? reject(err) : resolve(has!))))
  const has = (id: string) => new Promise<boolean>((resolve, reject) => sbot.blobs.has(id, (err, h) => (err ? reject(err) : resolve(h!))))

  beforeAll(() => {
    writeFileSync(join(dir, 'secret'), keysFileText(keys), { mode: 0o600 })
    applyDb2Patches()
    sbot = createSbot(sbotConfig({ path: dir, keys, host: '127.0.0.1', port: 0, allowPrivate: true }), [require('ssb-blobs') as SbotPlugin]) as typeof sbot
    expect(guardBlobs(sbot as unknown as Parameters<typeof guardBlobs>[0], disk)).toBe(true)
  })

  afterAll(async () => {
    await closeSbot(sbot)
    await removeAfterLateWrites([dir])
  })

  it('takes blobs under the allowance, and counts them', async () => {
    expect(disk.measure().level).toBe('ok')
    const before = measureDisk(dir)
    const id = await add(Buffer.alloc(200_000, 2))
    expect(await has(id)).toBe(true)
    expect(disk.measure().usedBytes - before).toBeGreaterThanOrEqual(200_000)
  })

  it('takes no blob while full', async () => {
    // The plan shrank below what the store holds.
    opts.allowedBytes = 100_000
    expect(disk.measure().level).toBe('full')
    await expect(add(Buffer.alloc(200_000, 1))).rejects.toThrow(DISK_FULL_REASON)
    const someone = `&${Buffer.alloc(32, 9).toString('base64')}.sha256`
    await expect(want(someone)).rejects.toThrow(DISK_FULL_REASON)
    expect(await has(someone)).toBe(false)
  })

  it('takes them again once there is room', async () => {
    opts.allowedBytes = 10 * 1024 * 1024
    expect(disk.measure().level).toBe('ok')
    const id = await add(Buffer.alloc(200_000, 3))
    expect(await has(id)).toBe(true)
  })
})
