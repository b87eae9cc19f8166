/**
 * The disk allowance on the pub itself, as a plain process with real db2 peers: a 1 MiB allowance fills with
 * its owner's posts; past 90% the pub says `warn`, at 100% `full`; another feed's new messages then stop arriving
 * while the owner's feed still grows; after a restart everything stored before is still there; and the held message
 * arrives once the allowance is raised (so it was the allowance that held it, not the network).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { diskUsage } from '../../src/drivers/pub-client.js'
import type { DiskUsage } from '../../src/protocol/disk.js'
import { multiserverAddress, type FeedId, type MultiserverAddress } from '../../src/protocol/ids.js'
import { call, connectClient } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import { closeSbot } from '../../src/ssb/server.js'
import { freePort } from '../../testkit/ports.js'
import { assertPubBuilt, feedMessages, spawnPub, tempDir, vectorClock, writeKeyFile, type PubProcess } from '../../testkit/pub-process.js'
import { removeAfterLateWrites, startSbot, type StartedSbot } from '../../testkit/sbots.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { waitFor } from '../../testkit/wait.js'

// The smallest plan. ssb-db2's log grows in 64 KiB blocks (docs/ssb-stack.md): 15 blocks are past 90%, 16 are 100%.
const ALLOWANCE_MIB = 1
// Long posts (~4 KB each in the log), so the allowance fills in a few hundred.
const TEXT = 'x'.repeat(4000)

describe('the disk allowance on a pub process', () => {
  const dir = tempDir('bc-disk-')
  const pubKeys = generateKeys()
  // The provider's key asks the pub (a master too): a second connection with the owner's key would replace the owner's.
  const provider = generateKeys()
  const keyFile = writeKeyFile(join(dir, 'key'), pubKeys)
  let owner: StartedSbot
  let other: StartedSbot
  let pub: PubProcess
  let address: MultiserverAddress
  let env: Record<string, string>
  let ownerSeq = 0
  let otherSeq = 0

  const usage = (): Promise<DiskUsage> => diskUsage(provider, address, { timeoutMs: 5000 })
  const clockAtPub = async (): Promise<Record<string, number>> => {
    const client = await connectClient(provider, address)
    try {
      return await vectorClock(client)
    } finally {
      client.close(() => undefined)
    }
  }
  const post = async (who: StartedSbot, n: number): Promise<number> => {
    let seq = 0
    for (let i = 0; i < n; i++) seq = (await publish(who.sbot.db, { type: 'post', text: `${i} ${TEXT}` })).value.sequence
    return seq
  }
  const connectPeers = async () => {
    for (const peer of [owner, other]) await call(peer.sbot.conn.connect, address)
  }
  /** Wait until the pub holds `feed` up to `seq`. */
  const arrived = (what: string, feed: FeedId, seq: number) =>
    waitFor(what, async () => ((await clockAtPub())[feed] ?? 0) >= seq, { timeoutMs: 30_000, intervalMs: 200 })
  /** The owner posts until the pub measures `level`. */
  const ownerPostsUntil = async (level: DiskUsage['level']): Promise<DiskUsage> => {
    for (let round = 0; round < 60; round++) {
      ownerSeq = await post(owner, 8)
      await arrived(`owner's post ${ownerSeq} at the pub`, owner.keys.id, ownerSeq)
      // Measured every 100 ms: within a second a reading counts the new posts.
      const seen = await waitFor(`the pub to measure ${level}`, async () => {
        const u = await usage()
        return u.level === level ? u : undefined
      }, { timeoutMs: 1000, intervalMs: 100 }).catch(() => undefined)
      if (seen) return seen
    }
    throw new Error(`the pub never reached ${level}`)
  }

  beforeAll(async () => {
    assertPubBuilt()
    owner = startSbot({ prefix: 'bc-owner-', allowPrivate: true })
    other = startSbot({ prefix: 'bc-other-', allowPrivate: true })
    const port = await freePort()
    address = multiserverAddress('127.0.0.1', port, pubKeys.id)
    env = {
      PUB_DATA: join(dir, 'data'),
      PUB_HOST: '127.0.0.1',
      PUB_PORT: String(port),
      PUB_OWNER: owner.keys.id,
      PUB_PROVIDER: provider.id,
      PUB_NAME: 'Tiny pub',
      PUB_KEY_FILE: keyFile,
      // The other feed is one hop beyond the owner: in the pub's scope.
      PUB_HOPS: '2',
      PUB_DISK_MIB: String(ALLOWANCE_MIB),
      PUB_DISK_CHECK_MS: '100',
    }
    await publish(owner.sbot.db, { type: 'contact', contact: other.keys.id, following: true })
    pub = spawnPub(env)
    await pub.ready
    await connectPeers()
  })

  afterAll(async () => {
    await pub?.stop('SIGKILL')
    for (const s of [owner, other]) if (s) await closeSbot(s.sbot)
    await removeAfterLateWrites([owner?.dir, other?.dir].filter((d): d is string => d !== undefined))
    rmSync(dir, { recursive: true, force: true })
  })

  it('takes another feed while under the allowance and answers its usage to a master only', async () => {
    otherSeq = await post(other, 3)
    await arrived("the other feed's posts at the pub", other.keys.id, otherSeq)
    const u = await usage()
    expect(u).toMatchObject({ allowedBytes: ALLOWANCE_MIB * 1024 * 1024, level: 'ok' })
    expect(u.usedBytes).toBeGreaterThan(3 * 4000)
    // Not a master: refused, like every other method but replication's.
    await expect(diskUsage(other.keys, address, { timeoutMs: 5000 })).rejects.toThrow()
  })

  it('says warn past 90% and full at 100%', async () => {
    const warn = await ownerPostsUntil('warn')
    expect(warn.usedBytes).toBeGreaterThanOrEqual(0.9 * warn.allowedBytes)
    expect(warn.usedBytes).toBeLessThan(warn.allowedBytes)
    const full = await ownerPostsUntil('full')
    expect(full.usedBytes).toBeGreaterThanOrEqual(full.allowedBytes)
  })

  it("at 100% takes no more of another feed, and the owner's feed still grows", async () => {
    const held = await post(other, 1)
    // The owner posts after the other feed did: three of them reach the pub, the other feed's does not.
    for (let i = 0; i < 3; i++) {
      ownerSeq = await post(owner, 1)
      await arrived(`owner's post ${ownerSeq} at the pub while full`, owner.keys.id, ownerSeq)
    }
    const clock = await clockAtPub()
    expect(clock[owner.keys.id]).toBe(ownerSeq)
    expect(clock[other.keys.id]).toBe(otherSeq)
    expect(held).toBe(otherSeq + 1)
    expect((await usage()).level).toBe('full')
  })

  it('loses nothing across a restart, and takes the held message once the allowance is raised', async () => {
    await pub.stop('SIGTERM')
    pub = spawnPub(env)
    const ready = await pub.ready
    expect((ready as unknown as { disk?: DiskUsage }).disk?.level).toBe('full')
    const client = await connectClient(provider, address)
    try {
      expect((await feedMessages(client, owner.keys.id)).length).toBe(ownerSeq)
      expect((await feedMessages(client, other.keys.id)).length).toBe(otherSeq)
    } finally {
      client.close(() => undefined)
    }

    // A bigger plan: the other feed's held post arrives, so it was the allowance that held it.
    await pub.stop('SIGTERM')
    pub = spawnPub({ ...env, PUB_DISK_MIB: String(ALLOWANCE_MIB * 4) })
    await pub.ready
    await connectPeers()
    await arrived("the other feed's held post after the allowance grew", other.keys.id, otherSeq + 1)
    expect((await usage()).level).toBe('ok')
  })
})
