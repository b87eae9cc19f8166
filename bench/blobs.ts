/**
 * Blob benchmark of the hosted pub: the owner's 1,000 posts and 100 blobs of 100 KB (every tenth post names one)
 * reach the pub: time from connect until the pub holds every post and every blob, and the pub's peak RSS meanwhile.
 * The floor, measured in the same run: the same transfer between two plain db2 sbots with ssb-blobs (the receiver
 * follows the owner and wants each blob by hand), and the pub's own RSS before the transfer.
 *
 * Alone: `npm run build && node --import tsx bench/blobs.ts` (prints a table, then the JSON).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ssbBlobsPlugin } from '../pub/blobs.js'
import { blobUsage } from '../src/drivers/pub-client.js'
import { multiserverAddress, type FeedId } from '../src/protocol/ids.js'
import { call, connectClient, type SbotClient } from '../src/ssb/client.js'
import { publish } from '../src/ssb/db2.js'
import { generateKeys } from '../src/ssb/keys.js'
import { closeSbot, type Sbot } from '../src/ssb/server.js'
import { addBlob } from '../testkit/blobs.js'
import { freePort } from '../testkit/ports.js'
import { assertPubBuilt, spawnPub, tempDir, vectorClock, writeKeyFile } from '../testkit/pub-process.js'
import { processRss } from '../testkit/pub-swarm.js'
import { removeAfterLateWrites, startSbot, type StartedSbot } from '../testkit/sbots.js'
import { waitFor } from '../testkit/wait.js'
import { runAsMain, type BenchResult } from './report.js'

const POSTS = 1000
const BLOBS = 100
const BLOB_BYTES = 100 * 1024
const MB = 1e6
// The local driver's heap flags for a 128 MiB plan (45% of the limit as old space), so the pub runs as deployed.
const PLAN_NODE_FLAGS = ['--max-semi-space-size=1', `--max-old-space-size=${Math.floor((128 * 45) / 100)}`]

/** Run the benchmark; returns a table and the raw figures. */
export async function run(): Promise<BenchResult> {
  assertPubBuilt()
  const started: StartedSbot[] = []
  const dirs: string[] = []
  try {
    const owner = startSbot({ prefix: 'bc-bench-owner-', allowPrivate: true, plugins: [ssbBlobsPlugin()] })
    started.push(owner)
    const blobIds = await ownerContent(owner.sbot)

    // Floor: a plain db2 sbot with ssb-blobs that follows the owner and wants every blob.
    const plain = startSbot({ prefix: 'bc-bench-plain-', allowPrivate: true, hops: 1, plugins: [ssbBlobsPlugin()] })
    started.push(plain)
    await call(plain.sbot.friends.follow, owner.sbot.id, { state: true })
    const floorStart = Date.now()
    const plainAddress = plain.sbot.getAddress('public') ?? plain.sbot.getAddress()!
    await call(owner.sbot.conn.connect, plainAddress)
    for (const id of blobIds) (plain.sbot as unknown as { blobs: { want(id: string, cb: () => void): void } }).blobs.want(id, () => undefined)
    await waitFor('the plain sbot to hold everything', async () => {
      const clock = await call<Record<string, number>>((plain.sbot.ebt as unknown as { clock: (o: object, cb: unknown) => void }).clock, { format: 'classic' })
      if ((clock[owner.sbot.id] ?? 0) < POSTS) return undefined
      const has = await call<boolean[]>((plain.sbot as unknown as { blobs: { has: (ids: string[], cb: unknown) => void } }).blobs.has, blobIds)
      return has.every(Boolean) || undefined
    }, { timeoutMs: 300_000, intervalMs: 100 })
    const floorMs = Date.now() - floorStart
    await call(owner.sbot.conn.disconnect, plainAddress).catch(() => undefined)

    // The pub, as a process with a 128 MiB plan's heap flags.
    const dir = tempDir('bc-bench-pub-')
    dirs.push(dir)
    const pubKeys = generateKeys()
    const provider = generateKeys()
    const port = await freePort()
    const pub = spawnPub(
      {
        PUB_DATA: join(dir, 'data'),
        PUB_HOST: '127.0.0.1',
        PUB_PORT: String(port),
        PUB_OWNER: owner.sbot.id,
        PUB_PROVIDER: provider.id,
        PUB_NAME: 'bench',
        PUB_KEY_FILE: writeKeyFile(join(dir, 'key'), pubKeys),
      },
      PLAN_NODE_FLAGS,
    )
    try {
      await pub.ready
      const pid = pub.child.pid!
      const address = multiserverAddress('127.0.0.1', port, pubKeys.id)
      // Idle: a second to settle after start-up.
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const idleRss = processRss(pid)
      let peakRss = idleRss
      const sampler = setInterval(() => {
        try {
          peakRss = Math.max(peakRss, processRss(pid))
        } catch {
          // The process has gone: the wait below says so.
        }
      }, 50)
      const pubStart = Date.now()
      await call(owner.sbot.conn.connect, address)
      let client: SbotClient | undefined
      try {
        client = await connectClient(provider, address)
        const c = client
        await waitFor('the pub to hold everything', async () => {
          if (((await vectorClock(c))[owner.sbot.id as FeedId] ?? 0) < POSTS) return undefined
          return (await blobUsage(provider, address)).count >= BLOBS || undefined
        }, { timeoutMs: 300_000, intervalMs: 100 })
      } finally {
        clearInterval(sampler)
        client?.close()
      }
      const pubMs = Date.now() - pubStart
      const usage = await blobUsage(provider, address)
      const rows = [
        { measure: `${POSTS} posts + ${BLOBS} blobs of ${BLOB_BYTES / 1024} KB reach the pub`, value: pubMs, unit: 'ms', floor: `two plain sbots ${floorMs} ms` },
        { measure: 'pub peak RSS during the transfer', value: round(peakRss / MB), unit: 'MB', floor: `pub idle ${round(idleRss / MB)} MB` },
        { measure: 'blob bytes the pub reports', value: usage.bytes, unit: 'B', floor: `sent ${BLOBS * BLOB_BYTES} B` },
      ]
      return {
        name: 'blobs',
        rows,
        json: { posts: POSTS, blobs: BLOBS, blobBytes: BLOB_BYTES, pubMs, floorMs, peakRssMB: round(peakRss / MB), idleRssMB: round(idleRss / MB), usage },
      }
    } finally {
      await pub.stop('SIGTERM')
    }
  } finally {
    for (const s of started) await closeSbot(s.sbot).catch(() => undefined)
    await removeAfterLateWrites([...started.map((s) => s.dir), ...dirs])
  }
}

/** The owner's feed: POSTS posts, every tenth naming one new blob of BLOB_BYTES. */
async function ownerContent(owner: Sbot): Promise<string[]> {
  const ids: string[] = []
  for (let i = 1; i <= POSTS; i++) {
    if (i % (POSTS / BLOBS) === 0) {
      const id = await addBlob(owner as unknown as SbotClient, randomBytes(BLOB_BYTES))
      ids.push(id)
      await publish(owner.db, { type: 'post', text: `post ${i} ![picture ${i}](${id})`, mentions: [{ link: id, size: BLOB_BYTES }] })
    } else {
      await publish(owner.db, { type: 'post', text: `post ${i} ${'x'.repeat(200)}` })
    }
  }
  return ids
}

function round(n: number): number {
  return Math.round(n * 10) / 10
}

runAsMain(import.meta.url, run)
