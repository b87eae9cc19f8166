/**
 * The pub as a Swarm service from the locally built image (host network on 127.0.0.1 with its own port, a named
 * volume, a memory limit, its key as a Swarm secret): it becomes healthy, and a forced update or a SIGKILL of its
 * container loses neither its identity, its follows nor any replicated message.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { whoami } from '../../src/drivers/pub-client.js'
import { clientCall, connectClient } from '../../src/ssb/client.js'
import { generateKeys, type SsbKeys } from '../../src/ssb/keys.js'
import { publish } from '../../src/ssb/db2.js'
import { closeSbot } from '../../src/ssb/server.js'
import { ssbBlobsPlugin } from '../../pub/blobs.js'
import { addBlob, readBlob } from '../../testkit/blobs.js'
import { removeAfterLateWrites, startSbot, type StartedSbot } from '../../testkit/sbots.js'
import { dockerSupport, sharedDockerEngine, type DockerEngine } from '../../testkit/docker-engine.js'
import { assertPubBuilt, feedMessages, startFeedSource, vectorClock, type FeedSource } from '../../testkit/pub-process.js'
import { createPubService, runningTask, waitHealthy, type PubService, type RunningTask } from '../../testkit/pub-swarm.js'
import { waitFor } from '../../testkit/wait.js'

const support = dockerSupport()
const MEMORY = 128 * 1024 * 1024
const FEEDS = 3
const PER_FEED = 400

describe.skipIf(!support.ok)(`the pub as a Swarm service${support.ok ? '' : ` (skipped: ${support.reason})`}`, () => {
  const owner = generateKeys()
  const provider = generateKeys()
  let engine: DockerEngine
  let source: FeedSource
  let service: PubService
  let task: RunningTask
  let ownerSbot: StartedSbot | undefined
  let ownerOpen = false
  let blob: string
  const picture = randomBytes(200 * 1024)

  beforeAll(async () => {
    assertPubBuilt()
    engine = await sharedDockerEngine(inject('dockerEngine'))
    source = await startFeedSource({ feeds: FEEDS, perFeed: PER_FEED })
  })

  afterAll(async () => {
    await service?.remove()
    if (ownerSbot && ownerOpen) await closeSbot(ownerSbot.sbot)
    if (ownerSbot) await removeAfterLateWrites([ownerSbot.dir])
    await source?.close()
    await engine?.stop()
  })

  /** Identity, follows and every replicated message, read from the pub over muxrpc as its owner. */
  async function pubState() {
    expect(await whoami(provider, service.address)).toBe(service.keys.id)
    const client = await connectClient(owner, service.address)
    try {
      const follows: boolean[] = []
      for (const dest of [owner.id, ...source.feeds.map((f) => f.id)]) {
        follows.push(await clientCall<boolean>(client, 'friends.isFollowing', { source: service.keys.id, dest }))
      }
      const clock = await vectorClock(client)
      const counts = []
      for (const feed of source.feeds) counts.push((await feedMessages(client, feed.id)).length)
      const own = (await feedMessages(client, service.keys.id)).map((m) => (m.value.content as { type: string }).type)
      return { follows, clock: source.feeds.map((f) => clock[f.id] ?? 0), counts, own }
    } finally {
      client.close(() => undefined)
    }
  }
  const expected = () => ({
    follows: [true, ...source.feeds.map(() => true)],
    clock: source.feeds.map(() => PER_FEED),
    counts: source.feeds.map(() => PER_FEED),
    // about, follow of the owner, then one follow per replicated feed; nothing republished on restart.
    own: ['about', 'contact', ...source.feeds.map(() => 'contact')],
  })

  it('becomes healthy from the locally built image, with its key from a Swarm secret and a memory limit', async () => {
    service = await createPubService(engine.docker, {
      name: `bc-test-pub-${process.pid}`,
      owner: owner.id,
      provider: provider.id,
      memoryBytes: MEMORY,
      labels: { 'buttcloud.test': 'pub-swarm' },
    })
    task = await waitHealthy(engine.docker, service.serviceId, 30_000)
    expect(await whoami(provider, service.address)).toBe(service.keys.id)

    const container = await engine.docker.getContainer(task.containerId).inspect()
    expect(container.HostConfig.NetworkMode).toBe('host')
    expect(container.HostConfig.Memory).toBe(MEMORY)
    expect(container.Mounts.find((m) => m.Destination === '/data')).toMatchObject({ Type: 'volume', Name: `${service.name}-data` })
    // The entrypoint sized node's heap from the cgroup limit, and node is PID 1 (it gets SIGTERM itself).
    const cmdline = readFileSync(`/proc/${task.pid}/cmdline`, 'utf8').split('\0')
    expect(cmdline[0]).toBe('node')
    expect(cmdline).toContain('--max-old-space-size=57')
  })

  it('replicates the feeds its owner makes it follow', async () => {
    const client = await connectClient(owner, service.address)
    try {
      for (const feed of source.feeds) await clientCall(client, 'friends.follow', feed.id, { state: true })
    } finally {
      client.close(() => undefined)
    }
    await new Promise<void>((resolve, reject) => source.sbot.conn.connect(service.address, (err) => (err ? reject(err) : resolve())))
    await waitFor('the pub to replicate every message', async () => {
          const value = await (() => pubState())()
          return ((s) => s.clock.every((n) => n === PER_FEED))(value) ? value : undefined
        }, { timeoutMs: 60_000 })
    expect(await pubState()).toEqual(expected())
  })

  /** Whether the pub holds a blob, asked as the provider (a client with the owner's key would stand in for the owner's sbot in ssb-blobs' peers). */
  const pubHas = async (id: string, keys: SsbKeys = provider): Promise<boolean> => {
    const client = await connectClient(keys, service.address)
    try {
      return await clientCall<boolean>(client, 'blobs.has', id)
    } finally {
      client.close(() => undefined)
    }
  }

  it("fetches the blob its owner's post mentions (ssb-blobs is in the image) and serves it to any peer", async () => {
    ownerSbot = startSbot({ prefix: 'bc-owner-', keys: owner, plugins: [ssbBlobsPlugin()] })
    ownerOpen = true
    blob = await addBlob(ownerSbot.sbot as never, picture)
    await new Promise<void>((resolve, reject) => ownerSbot!.sbot.conn.connect(service.address, (err) => (err ? reject(err) : resolve())))
    await publish(ownerSbot.sbot.db, { type: 'post', text: `![picture](${blob})`, mentions: [{ link: blob, size: picture.length }] })
    await waitFor('the blob at the pub', async () => (await pubHas(blob)) || undefined, { timeoutMs: 30_000, intervalMs: 250 })
    // The owner's sbot goes: what the stranger reads next comes from the pub alone.
    await closeSbot(ownerSbot.sbot)
    ownerOpen = false
    const stranger = await connectClient(generateKeys(), service.address)
    try {
      expect((await readBlob(stranger, blob)).equals(picture)).toBe(true)
    } finally {
      stranger.close()
    }
  })

  it('keeps its identity, follows and messages through a forced service update', async () => {
    const svc = engine.docker.getService(service.serviceId)
    const info = await svc.inspect()
    const spec = info.Spec as { TaskTemplate: { ForceUpdate?: number } }
    await svc.update({ ...spec, version: info.Version.Index, TaskTemplate: { ...spec.TaskTemplate, ForceUpdate: (spec.TaskTemplate.ForceUpdate ?? 0) + 1 } })
    const next = await waitHealthy(engine.docker, service.serviceId, 60_000, task.containerId)
    expect(next.containerId).not.toBe(task.containerId)
    task = next
    expect(await pubState()).toEqual(expected())
  })

  it('keeps its identity, follows and messages after its container is SIGKILLed', async () => {
    await engine.docker.getContainer(task.containerId).kill({ signal: 'SIGKILL' })
    const next = await waitHealthy(engine.docker, service.serviceId, 60_000, task.containerId)
    expect(next.containerId).not.toBe(task.containerId)
    task = next
    expect((await runningTask(engine.docker, service.serviceId))?.containerId).toBe(next.containerId)
    expect(await pubState()).toEqual(expected())
    // The blob is on the volume too.
    expect(await pubHas(blob)).toBe(true)
  })
})
