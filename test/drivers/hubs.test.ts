/**
 * Several hubs, one Swarm, for real: three dockerd nodes in network namespaces of their own (testkit/swarm-cluster.ts),
 * a manager and two workers, and a private registry on the manager that every hub pulls the pub image from. The
 * provider places pubs on different hubs when one hub is full, each pub answers SSB on its own hub's address (dialled
 * from this process through the cluster's bridge), a stopped worker's pub is "down" with the reason and "up" again
 * when the worker returns, the capacity report lists every hub, an upgrade to a version that only the registry
 * has rolls out, a pub's data archived on its hub unpacks into a volume on another, and a hub drained with the
 * operator's command (drain.js) sees its pub move to the free hub with its posts, identity, owner and port.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import type Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensurePubImage } from '../../pub/image/build.js'
import { DATA_DIR, PUB_IMAGE_REPO } from '../../pub/image/constants.js'
import { pushPubImage, registryRepo } from '../../pub/image/push.js'
import { createInvite, whoami } from '../../src/drivers/pub-client.js'
import { createSwarmDriver } from '../../src/drivers/swarm.js'
import { LABELS, labelsFor, objectName, REASON_TEXT } from '../../src/planner/index.js'
import type { MsgId, MultiserverAddress } from '../../src/protocol/ids.js'
import { capacityReportFile, runtimeFromSettings } from '../../src/provider/runtime-from-settings.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import { tail } from '../../testkit/docker-engine.js'
import { assertPubBuilt, feedMessages, REPO_ROOT } from '../../testkit/pub-process.js'
import { joinWithInvite, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { CLUSTER_NET, clusterSupport, startSwarmCluster, type ClusterNode, type SwarmCluster } from '../../testkit/swarm-cluster.js'
import { waitFor } from '../../testkit/wait.js'
import { archiveNames, expectInviteWorks, nextStatus, pubFeed, statuses, type Status } from './helpers.js'
import { call, connectClient } from '../../src/ssb/client.js'

const support = clusterSupport()
const PLAN_MIB = 128

describe.skipIf(!support.ok)(`several hubs in one Swarm${support.ok ? '' : ` (skipped: ${support.reason})`}`, () => {
  let cluster: SwarmCluster
  let provider: Awaited<ReturnType<typeof startTestProvider>>
  let providerKeys: SsbKeys
  let user: TestPeer
  let version: string
  let nextVersion: string
  const pubs: Array<{ request: MsgId; up: Status }> = []

  beforeAll(async () => {
    assertPubBuilt()
    cluster = await startSwarmCluster()
    const manager = cluster.manager.docker
    // Built once on the manager; the provider pushes it (buildImage with a registry), and no hub gets an image any
    // other way than by pulling it from there.
    const image = await ensurePubImage(manager)
    version = image.tag.slice(PUB_IMAGE_REPO.length + 1)
    nextVersion = `${version}-next`
    // The upgrade's version exists only in the registry: pushed as an operator would, then its local tag removed.
    const pushed = await pushPubImage(manager, { image: image.tag, registry: cluster.registry, version: nextVersion })
    await manager.getImage(pushed).remove()

    // Room for one pub per hub (every node reports this machine's memory): two pubs must land on two hubs.
    const nodes = (await manager.listNodes()) as Array<{ Description?: { Resources?: { MemoryBytes?: number } } }>
    const memoryMiB = Math.min(...nodes.map((n) => Math.floor((n.Description?.Resources?.MemoryBytes ?? 0) / 2 ** 20)))
    const settings = testProviderSettings({
      runtime: {
        kind: 'swarm',
        docker: cluster.manager.socketPath,
        hubEngines: cluster.workers.map((w) => w.socketPath),
        registry: cluster.registry,
        imageVersion: version,
        buildImage: true,
        headroomMiB: memoryMiB - PLAN_MIB,
        // Each pub reserves its whole plan memory here, so the headroom above leaves room for exactly one per hub.
        memoryOvercommit: 1,
        ports: { first: 8200, last: 8209 },
        healthIntervalMs: 500,
        stopGraceMs: 1000,
        restartDelayMs: 1000,
        settleMs: 20_000,
        statsIntervalMs: 0,
        backoff: { baseMs: 500, maxMs: 1000 },
        // ssb-invite's `ip` calls 198.51.100.0/24 private too, and names no such host in an invite without this.
        env: { PUB_ALLOW_PRIVATE: 'true' },
      },
      buttcloud: { versions: [version, nextVersion], passIntervalMs: 500 },
    })
    provider = await startTestProvider(settings, { runtime: runtimeFromSettings(settings) })
    providerKeys = provider.sbot.config.keys
    user = startPeer()
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
  }, 240_000)

  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
    await cluster?.stop()
  }, 120_000)

  const hubOf = (up: Status) => cluster.nodes.find((n) => up.pub!.address.startsWith(`net:${n.address}:`))

  async function serviceOf(request: MsgId): Promise<{ ID: string; Spec: Docker.ServiceSpec }> {
    const all = (await cluster.manager.docker.listServices({ filters: { label: [`${LABELS.request}=${request}`] } })) as Array<{ ID: string; Spec: Docker.ServiceSpec }>
    expect(all).toHaveLength(1)
    return all[0]!
  }

  /** What a failed wait should show: the statuses, the service's tasks, the nodes and the hub's dockerd log. */
  async function explain(request: MsgId, hub: ClusterNode): Promise<string> {
    const manager = cluster.manager.docker
    const svc = await serviceOf(request).catch(() => undefined)
    const tasks = svc ? ((await manager.listTasks({ filters: { service: [svc.ID] } })) as Array<{ DesiredState?: string; Status?: { State?: string; Err?: string; Message?: string } }>) : []
    const nodes = (await manager.listNodes()) as Array<{ Description?: { Hostname?: string }; Status?: { State?: string } }>
    const containers = await hub.docker.listContainers({ all: true }).catch((e: Error) => e.message)
    return [
      `statuses: ${JSON.stringify((await statuses(user.sbot, request)).map((s) => [s.state, s.reason]))}`,
      `tasks: ${JSON.stringify(tasks.map((t) => [t.DesiredState, t.Status?.State, t.Status?.Err ?? t.Status?.Message]))}`,
      `nodes: ${JSON.stringify(nodes.map((n) => [n.Description?.Hostname, n.Status?.State]))}`,
      `containers on ${hub.name}: ${JSON.stringify(typeof containers === 'string' ? containers : containers.map((c) => [c.Names, c.State, c.Status]))}`,
      `${hub.name}'s dockerd:\n${tail(join(cluster.dir, hub.name, 'dockerd.log'))}`,
    ].join('\n')
  }

  it('places pubs on different hubs, each reachable on its hub\'s address, from the registry', async () => {
    for (const name of ['hub pub one', 'hub pub two']) {
      const msg = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', name, recps: [user.id, provider.id] })
      pubs.push({ request: msg.key, up: undefined as never })
    }
    for (const p of pubs) p.up = await nextStatus(user.sbot, p.request, 0, (s) => s.state === 'up', `"up" for ${p.request}`, 120_000)

    const hubs = pubs.map((p) => hubOf(p.up))
    expect(hubs.every((h) => h !== undefined)).toBe(true)
    expect(new Set(hubs.map((h) => h!.name)).size).toBe(2)
    for (const [i, p] of pubs.entries()) {
      const hub = hubs[i]!
      // Pinned to the hub whose address it was given, and running the registry's image there.
      const svc = await serviceOf(p.request)
      const task = svc.Spec.TaskTemplate as Docker.ContainerTaskSpec
      expect(task.Placement?.Constraints).toEqual([`node.id==${hub.nodeId}`])
      expect(task.ContainerSpec?.Image).toMatch(new RegExp(`^${registryRepo(cluster.registry).replace(/\./g, '\\.')}:${version.replace(/\./g, '\\.')}(@sha256:[0-9a-f]+)?$`))
      const images = (await hub.docker.listImages()) as Array<{ RepoTags?: string[] }>
      expect(images.flatMap((im) => im.RepoTags ?? [])).toContain(`${registryRepo(cluster.registry)}:${version}`)
      // Dialled from the host namespace, through the bridge, at the hub's documentation-range address.
      expect(p.up.pub!.address).toMatch(new RegExp(`^net:${CLUSTER_NET.replace(/\./g, '\\.')}\\.\\d+:82\\d\\d~shs:`))
      expect(await whoami(providerKeys, p.up.pub!.address as MultiserverAddress)).toBe(p.up.pub!.id)
    }
    await expectInviteWorks(providerKeys, pubs[0]!.up.pub!, pubs[0]!.up.invite!)

    // The operator's capacity report names all three hubs, with the pubs where they run.
    const report = await waitFor('a capacity report with both pubs', () => {
      const r = JSON.parse(readFileSync(capacityReportFile(provider.settings), 'utf8')) as { report?: { hubs: Array<{ name: string; pubs: number; schedulable: boolean }> } }
      return r.report && r.report.hubs.reduce((n, h) => n + h.pubs, 0) === 2 ? r.report : undefined
    }, { timeoutMs: 10_000 })
    expect(report.hubs.map((h) => h.name).sort()).toEqual(['bch-manager', 'bch-worker1', 'bch-worker2'])
    for (const hub of report.hubs) expect(hub.pubs).toBe(hubs.some((h) => `bch-${h!.name}` === hub.name) ? 1 : 0)
    expect(report.hubs.every((h) => h.schedulable)).toBe(true)
  }, 180_000)

  it('reports a stopped worker\'s pub "down" with the reason, and "up" when the worker returns', async () => {
    const onWorker = pubs.find((p) => hubOf(p.up)!.name !== 'manager')
    expect(onWorker).toBeDefined()
    const other = pubs.find((p) => p !== onWorker)!
    const worker = hubOf(onWorker!.up) as ClusterNode
    const before = (await statuses(user.sbot, onWorker!.request)).length
    const otherBefore = (await statuses(user.sbot, other.request)).length

    await cluster.stopNode(worker)
    const down = await nextStatus(user.sbot, onWorker!.request, before, (s) => s.state === 'down', '"down" for the stopped worker\'s pub', 60_000)
    expect(down.reason).toBe('hub unavailable')

    await cluster.startNode(worker)
    const up = await nextStatus(user.sbot, onWorker!.request, before, (s) => s.state === 'up', '"up" once the worker is back', 120_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await explain(onWorker!.request, worker)}`, { cause: err })
    })
    expect(up.pub).toEqual(onWorker!.up.pub)
    expect(await whoami(providerKeys, up.pub!.address as MultiserverAddress)).toBe(up.pub!.id)
    // The pub on the other hub was never reported down meanwhile.
    expect((await statuses(user.sbot, other.request)).slice(otherBefore).filter((s) => s.state !== 'up')).toEqual([])
  }, 240_000)

  it('upgrades to a version that only the registry has', async () => {
    const p = pubs[0]!
    const hub = hubOf(p.up)!
    await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request: p.request, verb: 'upgrade', args: { version: nextVersion }, recps: [user.id, provider.id] })
    const repo = registryRepo(cluster.registry)
    await waitFor('a healthy container of the new version on the pub\'s hub', async () => {
      const containers = await hub.docker.listContainers({ filters: { label: [`${LABELS.request}=${p.request}`] } })
      return containers.some((c) => c.Image.startsWith(`${repo}:${nextVersion}`) && /\(healthy\)/.test(c.Status)) ? true : undefined
    }, { timeoutMs: 90_000 })
    const images = (await hub.docker.listImages()) as Array<{ RepoTags?: string[] }>
    expect(images.flatMap((im) => im.RepoTags ?? [])).toContain(`${repo}:${nextVersion}`)
    await waitFor('the last status to be "up"', async () => ((await statuses(user.sbot, p.request)).at(-1)?.state === 'up' ? true : undefined), { timeoutMs: 30_000 })
    expect(await whoami(providerKeys, p.up.pub!.address as MultiserverAddress)).toBe(p.up.pub!.id)
  }, 180_000)

  it('unpacks a pub\'s archive into its volume on another hub, pulling the image there', async () => {
    const p = pubs[1]!
    const from = hubOf(p.up)!
    const to = cluster.nodes.find((n) => !pubs.some((q) => hubOf(q.up)!.name === n.name))!
    const driver = createSwarmDriver({ docker: cluster.manager.docker, hubEngines: cluster.workers.map((w) => w.docker), imageRepo: registryRepo(cluster.registry) })
    const dir = mkdtempSync('/tmp/bc-hubs-')
    try {
      let archive = Buffer.alloc(0)
      await driver.backup(p.request, from.nodeId, async (s) => void (archive = await buffer(s)))
      await driver.restore!(p.request, to.nodeId, version, Readable.from([archive]))
      const images = (await to.docker.listImages()) as Array<{ RepoTags?: string[] }>
      expect(images.flatMap((im) => im.RepoTags ?? [])).toContain(`${registryRepo(cluster.registry)}:${version}`)
      const volume = await to.docker.getVolume(objectName(p.request)).inspect()
      expect(volume.Labels?.[LABELS.request]).toBe(p.request)

      // Archived again from the new hub, it holds the same files: the pub's log and indexes, no keyring.
      let again = Buffer.alloc(0)
      await driver.backup(p.request, to.nodeId, async (s) => void (again = await buffer(s)))
      writeFileSync(join(dir, 'from.tar.gz'), archive)
      writeFileSync(join(dir, 'to.tar.gz'), again)
      const names = archiveNames(join(dir, 'from.tar.gz')).sort()
      expect(names.some((n) => /db2\/log\.bipf$/.test(n))).toBe(true)
      expect(names.some((n) => /(^|\/)keyring(\/|$)/.test(n))).toBe(false)
      expect(archiveNames(join(dir, 'to.tar.gz')).sort()).toEqual(names)
    } finally {
      rmSync(dir, { recursive: true, force: true })
      await driver.close()
    }
  }, 120_000)

  it('drains a hub: its pub moves to the free hub with its posts, identity and owner; the owner hears the new address', async () => {
    const p = pubs.find((q) => hubOf(q.up)!.name !== 'manager')!
    const from = hubOf(p.up)!
    const to = cluster.nodes.find((n) => !pubs.some((q) => hubOf(q.up)!.name === n.name))!
    const port = Number(p.up.pub!.address.split(':')[2]!.split('~')[0])
    // Posts of the owner's that the pub holds: the owner's sbot gives them to its pub.
    const posts: string[] = []
    for (let i = 1; i <= 3; i++) posts.push((await publish(user.sbot.db, { type: 'post', text: `before the move ${i}` })).key)
    await call(user.sbot.conn.connect, p.up.pub!.address)
    const ownerPostsAt = async (address: string) => {
      const client = await connectClient(providerKeys, address as MultiserverAddress)
      try {
        return (await feedMessages(client, user.id)).map((m) => m.key)
      } finally {
        client.close(() => undefined)
      }
    }
    await waitFor('the owner\'s posts at its pub', async () => ((await ownerPostsAt(p.up.pub!.address)).filter((k) => posts.includes(k)).length === 3 ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 })
    await call(user.sbot.conn.disconnect, p.up.pub!.address).catch(() => undefined)
    const ownFeed = await pubFeed(providerKeys, p.up.pub!)
    // An invite made before the move: it names the old hub's address.
    const oldInvite = await createInvite(providerKeys, p.up.pub!.address as MultiserverAddress, { uses: 1, timeoutMs: 10_000 })
    expect(oldInvite.startsWith(`${from.address}:${port}:`)).toBe(true)
    // An earlier attempt at this move was interrupted mid-copy: a half-made volume on the target, held by its helper
    // container that was never removed. The move must start that copy afresh.
    const name = objectName(p.request)
    const scratch = mkdtempSync('/tmp/bc-hubs-')
    writeFileSync(join(scratch, 'half-copied'), 'from an interrupted copy')
    expect(spawnSync('tar', ['-cf', join(scratch, 'part.tar'), '-C', scratch, 'half-copied']).status).toBe(0)
    await to.docker.createVolume({ Name: name, Labels: labelsFor(p.request) })
    const leftover = await to.docker.createContainer({
      Image: `${registryRepo(cluster.registry)}:${version}`,
      Labels: labelsFor(p.request),
      HostConfig: { Binds: [`${name}:${DATA_DIR}`], NetworkMode: 'none' },
    })
    await leftover.putArchive(join(scratch, 'part.tar'), { path: DATA_DIR })
    rmSync(scratch, { recursive: true, force: true })
    const before = (await statuses(user.sbot, p.request)).length

    // The operator's command, as built, against the provider's own settings.
    const config = join(cluster.dir, 'drain-provider.json')
    writeFileSync(config, JSON.stringify({ ...provider.settings }))
    const cli = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/src/provider/drain.js'), from.nodeId, '--config', config, '--json'], { encoding: 'utf8', timeout: 30_000 })
    expect(cli.stderr).toBe('')
    expect(cli.status).toBe(0)
    expect(JSON.parse(cli.stdout)).toMatchObject({ hub: { id: from.nodeId }, availability: 'drain', was: 'active', otherActiveHubs: 2, pubsInLastReport: 1 })

    const up = await nextStatus(user.sbot, p.request, before, (s) => s.state === 'up', '"up" on the hub it moved to', 100_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await explain(p.request, to)}`, { cause: err })
    })
    // Told once that it moves, then up at its new hub's address, on the same port, with a fresh invite.
    const told = (await statuses(user.sbot, p.request)).slice(before)
    expect(told.map((s) => [s.state, s.reason])).toEqual([
      ['down', REASON_TEXT.moving],
      ['up', undefined],
    ])
    expect(up.pub).toMatchObject({ id: p.up.pub!.id, address: `net:${to.address}:${port}~shs:${p.up.pub!.id.slice(1, -8)}` })
    expect(up.invite).toBeDefined()
    // The same pub: its identity answers there, with its own feed and its owner's posts, and the new invite works.
    expect(await whoami(providerKeys, up.pub!.address as MultiserverAddress)).toBe(p.up.pub!.id)
    expect(await pubFeed(providerKeys, up.pub!)).toEqual(ownFeed)
    expect((await ownerPostsAt(up.pub!.address)).filter((k) => posts.includes(k)).sort()).toEqual([...posts].sort())
    await expectInviteWorks(providerKeys, up.pub!, up.invite!)
    // The old code's seed moved with the pub's data: with the new hub's address in it, it works too.
    await expectInviteWorks(providerKeys, up.pub!, `${to.address}${oldInvite.slice(from.address.length)}`)

    // The placement record names the new hub and the port the service runs on; the old hub's volume goes.
    const records = readFileSync(join(provider.settings.path, 'private', 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { content: { type: string; request?: string; hub?: string; port?: number } })
    const placements = records.map((r) => r.content).filter((c) => c.type === 'buttcloud/placement' && c.request === p.request)
    expect(placements.map((c) => [c.hub, c.port])).toEqual([
      [from.nodeId, port],
      [to.nodeId, port],
    ])
    const task = (await serviceOf(p.request)).Spec.TaskTemplate as Docker.ContainerTaskSpec
    expect(task.Placement?.Constraints).toEqual([`node.id==${to.nodeId}`])
    expect(task.ContainerSpec?.Env).toContain(`PUB_PORT=${port}`)
    const volume = await to.docker.getVolume(name).inspect()
    expect(volume.Labels?.[LABELS.movedFrom]).toBe(from.nodeId)
    // The interrupted copy's file and helper are gone: the volume was filled from empty.
    await expect(leftover.inspect()).rejects.toThrow(/no such container/i)
    const [running] = await to.docker.listContainers({ filters: { label: [`${LABELS.request}=${p.request}`] } })
    await expect(to.docker.getContainer(running!.Id).infoArchive({ path: `${DATA_DIR}/half-copied` })).rejects.toThrow()
    await to.docker.getContainer(running!.Id).infoArchive({ path: `${DATA_DIR}/db2` })
    await waitFor('the old hub\'s volume to be purged', async () => (((await from.docker.listVolumes()).Volumes ?? []).some((v) => v.Name === name) ? undefined : true), { timeoutMs: 30_000 })
  }, 180_000)
})
