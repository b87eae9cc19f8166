/**
 * The Swarm runtime end to end against the real private engine: a user's request becomes a service that runs and
 * says "up" at the user's sbot with an address that accepts an SSB connection and an invite that works; a killed
 * container is reported down and comes back; an unreachable engine is reported and the provider converges when it
 * is back; stop, start, upgrade and destroy keep or drop data as specified; a service made by hand is never
 * touched; and a provider SIGKILLed between "service created" and "status posted" ends with one service and one "up".
 *
 * One engine (shared with the other Docker test files) and one image build. The engine goes "away" through a unix
 * socket proxy the test closes: stopping the shared dockerd would break the other files running at the same time.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ensurePubImage } from '../../pub/image/build.js'
import { PUB_IMAGE_REPO } from '../../pub/image/constants.js'
import { whoami } from '../../src/drivers/pub-client.js'
import { backupDirFromSettings, runtimeFromSettings } from '../../src/provider/runtime-from-settings.js'
import { LABELS, objectName } from '../../src/planner/index.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { ProviderSettings } from '../../src/provider/settings.js'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import '../support/docker-global-setup.js'
import { dockerSupport, sharedDockerEngine, type DockerEngine } from '../../testkit/docker-engine.js'
import { freePort } from '../../testkit/ports.js'
import { startNode, type Child } from '../support/processes.js'
import { joinWithInvite, removeLater, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { assertPubBuilt, REPO_ROOT } from '../../testkit/pub-process.js'
import { removeRequestObjects } from '../../testkit/pub-swarm.js'
import { archiveNames, commandAndReply, expectInviteWorks, nextStatus, pubFeed, statuses } from './helpers.js'
import { waitFor } from '../../testkit/wait.js'

const support = dockerSupport()
/** A unix socket that forwards to the engine, and can be made to vanish as a stopped dockerd's socket does. */
function engineProxy(target: string, path: string) {
  let server: Server | undefined
  const sockets = new Set<Socket>()
  const start = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(target)
        sockets.add(client).add(upstream)
        const drop = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on('error', drop).on('close', drop)
        upstream.on('error', drop).on('close', drop)
        client.pipe(upstream).pipe(client)
      })
      server.listen(path, resolve)
    })
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      if (!server) return resolve()
      server.close(() => resolve())
      server = undefined
      try {
        unlinkSync(path)
      } catch {
        // Already gone.
      }
    })
  return { path, start, stop }
}

// Each step waits on a real engine that the rest of the suite loads too: a minute per test is not always enough on 2 cores.
describe.skipIf(!support.ok)(`the Swarm runtime${support.ok ? '' : ` (skipped: ${support.reason})`}`, { timeout: 150_000 }, () => {
  let engine: DockerEngine
  let docker: Docker
  let version: string
  let nextVersion: string
  const dir = mkdtempSync('/tmp/bc-swt-')
  const proxyPath = join(dir, 'docker.sock')
  let proxy: ReturnType<typeof engineProxy>
  let foreignId: string
  let foreignIndex: number | undefined
  const cleanups: Array<() => Promise<unknown>> = []

  let provider: Awaited<ReturnType<typeof startTestProvider>>
  let providerKeys: SsbKeys
  let user: TestPeer
  let request: MsgId
  let pub: { id: string; address: string }
  let pubMessages = 0

  beforeAll(async () => {
    assertPubBuilt()
    engine = await sharedDockerEngine(inject('dockerEngine'))
    docker = new Docker({ socketPath: engine.socketPath, version: 'v1.41' })
    const image = await ensurePubImage(docker)
    version = image.tag.slice(PUB_IMAGE_REPO.length + 1)
    // The "new version" for upgrades: the same image under a second tag, so the upgrade rolls a new task.
    nextVersion = `${version}-next`
    await docker.getImage(image.tag).tag({ repo: PUB_IMAGE_REPO, tag: nextVersion })
    cleanups.push(() => docker.getImage(`${PUB_IMAGE_REPO}:${nextVersion}`).remove().catch(() => undefined))

    // A service made by hand, without our labels, with a memory reservation: it must survive every pass untouched.
    const foreign = (await docker.createService({
      Name: `bc-hand-made-${process.pid}`,
      TaskTemplate: {
        ContainerSpec: { Image: image.tag, Command: ['/bin/busybox', 'sleep', '3600'] },
        Resources: { Reservations: { MemoryBytes: 32 * 1024 * 1024 } },
      },
      Mode: { Replicated: { Replicas: 1 } },
    })) as { id: string }
    foreignId = foreign.id
    foreignIndex = (await docker.getService(foreignId).inspect()).Version?.Index
    cleanups.push(() => docker.getService(foreignId).remove().catch(() => undefined))

    proxy = engineProxy(engine.socketPath, proxyPath)
    await proxy.start()
  })

  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
    await proxy?.stop()
    if (docker) {
      // Everything this file made with our labels (and only that), then the hand-made service and the second tag.
      await removeRequestObjects(docker, mine)
      for (const c of cleanups.reverse()) await c()
    }
    await engine?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Requests this file made: the cleanup removes exactly their objects. */
  const mine = new Set<string>()

  function runtimeSettings(over: Record<string, unknown> = {}) {
    return {
      kind: 'swarm' as const,
      docker: proxyPath,
      hubAddress: '127.0.0.1',
      listenHost: '127.0.0.1',
      ports: { first: 29100, last: 29149 },
      imageVersion: version,
      buildImage: false,
      healthIntervalMs: 500,
      stopGraceMs: 1000,
      restartDelayMs: 1000,
      retentionMs: 4000,
      settleMs: 20_000,
      statsIntervalMs: 0,
      // The engine-away test brings the engine back within seconds: retry it within one.
      backoff: { baseMs: 500, maxMs: 1000 },
      ...over,
    }
  }

  async function ourServices(req: MsgId) {
    const all = (await docker.listServices()) as Array<{ ID: string; Version?: { Index?: number }; Spec: Docker.ServiceSpec & { Labels?: Record<string, string> } }>
    return all.filter((s) => s.Spec.Labels?.[LABELS.request] === req)
  }


  it('turns a request into a running service that is "up" at the owner, reachable, with a working invite', async () => {
    const settings = testProviderSettings({ runtime: runtimeSettings(), buttcloud: { versions: [version, nextVersion], passIntervalMs: 500 } })
    provider = await startTestProvider(settings, { runtime: runtimeFromSettings(settings) })
    providerKeys = provider.sbot.config.keys
    user = startPeer()
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)

    const started = Date.now()
    const msg = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', name: 'swarm pub', recps: [user.id, provider.id] })
    request = msg.key
    mine.add(request)
    const up = await nextStatus(user.sbot, request, 0, (s) => s.state === 'up', '"up" at the owner', 60_000)
    expect(Date.now() - started).toBeLessThan(30_000)
    pub = up.pub!
    expect(pub.address).toMatch(/^net:127\.0\.0\.1:291\d\d~shs:/)
    expect(up.invite).toBeDefined()

    // One service, ours, pinned, sized by the plan, with the key as a secret and never in env or labels.
    const [svc, ...more] = await ourServices(request)
    expect(more).toEqual([])
    const task = svc!.Spec.TaskTemplate as Docker.ContainerTaskSpec
    expect(svc!.Spec.Name).toBe(objectName(request))
    expect(task.Placement?.Constraints?.[0]).toMatch(/^node\.id==/)
    // The plan's memory is the limit (the OOM bound); Swarm reserves it shared by the default overcommit (docs/orchestrator.md).
    expect(task.Resources).toEqual({ Limits: { MemoryBytes: 128 * 1024 * 1024 }, Reservations: { MemoryBytes: Math.ceil(128 / 3) * 1024 * 1024 } })
    expect(task.ContainerSpec?.Secrets?.map((s) => s.SecretName)).toEqual([objectName(request)])
    const secret = await docker.getSecret(objectName(request)).inspect()
    expect(secret.Spec?.Labels?.[LABELS.request]).toBe(request)
    const { derivePubKeys } = await import('../../src/orchestrator/desired.js')
    const privateKey = derivePubKeys(providerKeys, request).private.replace(/\.ed25519$/, '')
    expect(JSON.stringify(svc!.Spec)).not.toContain(privateKey)
    expect(JSON.stringify(task.ContainerSpec?.Env)).not.toContain(privateKey)

    // The address accepts an SSB connection, as the pub the status names.
    const rpc = await call<{ id: string }>(user.sbot.conn.connect, pub.address)
    expect(rpc.id).toBe(pub.id)
    expect(await whoami(providerKeys, pub.address as never)).toBe(pub.id)

    // The invite works: a friend joins the pub with it, and the pub follows the friend back.
    await expectInviteWorks(providerKeys, pub, up.invite!)
    const feed = await pubFeed(providerKeys, pub)
    expect(feed.map((c) => c.type)).toContain('contact')
    pubMessages = feed.length
  })

  it('answers stats with a fresh sample and backup with a downloadable archive of the volume', async () => {
    const stats = await commandAndReply(user, provider.id, request, 'stats')
    expect(stats.ok).toBe(true)
    expect(stats.result!.stats.samples).toBeGreaterThanOrEqual(1)
    expect(stats.result!.stats.memory.maxBytes).toBeGreaterThan(1024 * 1024)
    expect(stats.result!.stats.memory.limitBytes).toBe(128 * 1024 * 1024)

    const backup = await commandAndReply(user, provider.id, request, 'backup')
    expect(backup.ok).toBe(true)
    const { url, bytes } = backup.result!.backup as { url: string; bytes: number }
    const file = join(backupDirFromSettings(provider.settings), /\/backups\/([0-9a-f]{32}\.tar\.gz)$/.exec(url)![1]!)
    expect(statSync(file).size).toBe(bytes)
    const names = archiveNames(file)
    expect(names.some((n) => /db2\/log\.bipf$/.test(n))).toBe(true)
    // The pub's db2 keyring (secrets derived from its key) is filtered out of the volume's archive.
    expect(names.filter((n) => /(^|\/)keyring(\/|$)/.test(n))).toEqual([])
    // The helper container that read the volume is gone again.
    const helpers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.request}=${request}`] } })
    expect(helpers.filter((c) => !c.Labels['com.docker.swarm.service.id'])).toEqual([])
  })

  it('reports a killed container "down", then "up" again', async () => {
    const before = (await statuses(user.sbot, request)).length
    const [svc] = await ourServices(request)
    const tasks = (await docker.listTasks({ filters: { service: [svc!.ID], 'desired-state': ['running'] } })) as Array<{ Status?: { ContainerStatus?: { ContainerID?: string } } }>
    const container = tasks.map((t) => t.Status?.ContainerStatus?.ContainerID).find(Boolean)!
    await docker.getContainer(container).kill()
    const down = await nextStatus(user.sbot, request, before, (s) => s.state === 'down', '"down" after the kill', 30_000)
    // A SIGKILL is not an out-of-memory kill: the driver looked at the container.
    expect(down.reason).toBe('exited: exit code 137')
    const up = await nextStatus(user.sbot, request, before, (s) => s.state === 'up', '"up" after the restart', 30_000)
    expect(up.pub?.id).toBe(pub.id)
    expect(await whoami(providerKeys, pub.address as never)).toBe(pub.id)
  })

  it('tells the owner while the engine is unreachable, keeps running, and converges when it is back', async () => {
    const before = (await statuses(user.sbot, request)).length
    await proxy.stop()
    let posted = before
    try {
      const down = await nextStatus(user.sbot, request, before, (s) => s.state === 'down', '"down" while the engine is away', 30_000)
      expect(down.reason).toMatch(/engine is unreachable/)
      const health = await call<{ engineError?: string }>(provider.api.health.bind(provider.api))
      // A call in flight when the proxy went away ends in a reset; later ones find no socket.
      expect(health.engineError).toMatch(/ENOENT|ECONNREFUSED|ECONNRESET/)

      // The owner restarts the pub meanwhile: it is applied once the engine answers again.
      posted = (await statuses(user.sbot, request)).length
      // Its reply proves a pass has handled the command while the engine was away, and changed nothing there.
      const restart = await commandAndReply(user, provider.id, request, 'restart')
      expect(restart.ok).toBe(true)
      expect((await ourServices(request))[0]!.Spec.TaskTemplate?.ForceUpdate ?? 0).toBe(0)
    } finally {
      // Back whatever happened above: the later tests need the engine.
      await proxy.start()
    }
    const up = await nextStatus(user.sbot, request, posted, (s) => s.state === 'up', '"up" once the engine is back', 60_000)
    expect(up.pub?.id).toBe(pub.id)
    expect((await ourServices(request))[0]!.Spec.TaskTemplate?.ForceUpdate).toBe(1)
  })

  it('stops and starts the pub with its data kept', async () => {
    let before = (await statuses(user.sbot, request)).length
    await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request, verb: 'stop', recps: [user.id, provider.id] })
    await nextStatus(user.sbot, request, before, (s) => s.state === 'stopped', '"stopped"', 30_000)
    await waitFor('replicas 0', async () => ((await ourServices(request))[0]?.Spec.Mode?.Replicated?.Replicas === 0 ? true : undefined), { timeoutMs: 10_000 })
    expect((await docker.listVolumes()).Volumes?.some((v) => v.Name === objectName(request))).toBe(true)

    before = (await statuses(user.sbot, request)).length
    await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request, verb: 'start', recps: [user.id, provider.id] })
    const up = await nextStatus(user.sbot, request, before, (s) => s.state === 'up', '"up" after start', 30_000)
    expect(up.pub).toEqual(pub)
    expect((await pubFeed(providerKeys, pub)).length).toBe(pubMessages)
  })

  it('upgrades to another image version with its data kept', async () => {
    await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request, verb: 'upgrade', args: { version: nextVersion }, recps: [user.id, provider.id] })
    const [svc] = await ourServices(request)
    // A running, healthy container of the new image (the pass that rolled it waited for it, so "up" may not change).
    await waitFor('a healthy container of the new version', async () => {
      const containers = await docker.listContainers({ filters: { label: [`${LABELS.request}=${request}`] } })
      return containers.some((c) => c.Image.startsWith(`${PUB_IMAGE_REPO}:${nextVersion}`) && /\(healthy\)/.test(c.Status)) ? true : undefined
    }, { timeoutMs: 30_000 })
    const image = ((await ourServices(request))[0]?.Spec.TaskTemplate as Docker.ContainerTaskSpec | undefined)?.ContainerSpec?.Image
    expect(image).toMatch(new RegExp(`^${PUB_IMAGE_REPO}:${nextVersion.replace(/\./g, '\\.')}`))
    expect(svc!.ID).toBe((await ourServices(request))[0]!.ID)
    await waitFor('the last status to be "up"', async () => ((await statuses(user.sbot, request)).at(-1)?.state === 'up' ? true : undefined), { timeoutMs: 30_000 })
    expect(await whoami(providerKeys, pub.address as never)).toBe(pub.id)
    expect((await pubFeed(providerKeys, pub)).length).toBe(pubMessages)
  })

  it('destroys the pub: service and secret go at once, the data after the retention period', async () => {
    const before = (await statuses(user.sbot, request)).length
    await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request, verb: 'destroy', recps: [user.id, provider.id] })
    await nextStatus(user.sbot, request, before, (s) => s.state === 'destroyed', '"destroyed"', 30_000)
    await waitFor('the service to go', async () => ((await ourServices(request)).length === 0 ? true : undefined), { timeoutMs: 10_000 })
    expect((await docker.listSecrets()).some((s: { Spec?: { Name?: string } }) => s.Spec?.Name === objectName(request))).toBe(false)
    expect((await docker.listVolumes()).Volumes?.some((v) => v.Name === objectName(request))).toBe(true)
    await waitFor('the volume to be purged', async () => ((await docker.listVolumes()).Volumes?.some((v) => v.Name === objectName(request)) ? undefined : true), { timeoutMs: 60_000 })
  })

  it('never touched the service made by hand, and told the operator about it', async () => {
    const foreign = await docker.getService(foreignId).inspect()
    expect(foreign.Version?.Index).toBe(foreignIndex)
    expect(foreign.Spec.Mode?.Replicated?.Replicas).toBe(1)
    // The operator's capacity report, through the built CLI, names it as not ours.
    const config = join(dir, 'provider.json')
    writeFileSync(config, JSON.stringify({ ...provider.settings }))
    const cli = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/src/provider/capacity.js'), '--config', config], { encoding: 'utf8', timeout: 20_000 })
    expect(cli.stderr).toBe('')
    expect(cli.status).toBe(0)
    expect(cli.stdout).toContain(`not ours (unlabelled): service bc-hand-made-${process.pid}, never touched`)
    expect(cli.stdout).toMatch(/hub\s+id\s+schedulable/)
  })

  it('ends with one service and one "up" when the provider is SIGKILLed between creating the service and posting its status', { timeout: 180_000 }, async () => {
    const base = testProviderSettings({ buttcloud: { passIntervalMs: 500 } })
    removeLater(base.path)
    const settings = ProviderSettings.parse({
      ...base,
      // Fixed: the owner must find the restarted provider where it left it.
      port: await freePort(),
      runtime: runtimeSettings({ docker: engine.socketPath, ports: { first: 29200, last: 29249 } }),
    })
    const config = join(dir, 'child.json')
    writeFileSync(config, JSON.stringify(settings))
    // A test helper, not a program: it runs from source with tsx (dist holds only the programs).
    const script = join(REPO_ROOT, 'test/drivers/provider-child.ts')
    const start = async (): Promise<{ child: Child; ready: { id: string; address: string; invite: string } }> => {
      const child = startNode(script, [], { BUTTCLOUD_CONFIG: config }, ['--import', 'tsx'])
      const line = await child.waitForOutput(/\{"event":"ready".*\}/, 30_000)
      return { child, ready: JSON.parse(line[0]) }
    }
    let { child, ready } = await start()
    const owner = startPeer()
    const t0 = Date.now()
    const step = (what: string) => process.env.BUTTCLOUD_TEST_LOG && console.error(`[test] ${Date.now() - t0} ms: ${what}`)
    try {
      await joinWithInvite(owner.sbot, ready.invite, ready.address)
      step('joined')
      const msg = await publish(owner.sbot.db, { type: 'buttcloud/request', version: 1, provider: ready.id, plan: 'free', recps: [owner.id, ready.id] })
      mine.add(msg.key)
      // The moment the service exists, before its pub can be healthy: the pass is still waiting to post "up".
      await waitFor('the service to be created', async () => ((await ourServices(msg.key)).length > 0 ? true : undefined), { timeoutMs: 30_000 })
      child.child.kill('SIGKILL')
      await child.stop()
      step('killed')
      expect((await statuses(owner.sbot, msg.key)).filter((s) => s.state === 'up')).toEqual([])

      ;({ child, ready } = await start())
      step('restarted')
      // Dial at once: ssb-conn would redial the restarted provider too, but only after its own backoff.
      await call(owner.sbot.conn.connect, ready.address)
      await nextStatus(owner.sbot, msg.key, 0, (s) => s.state === 'up', '"up" after the restart', 60_000)
      step('up')
      // More passes: nothing new may appear. Two commands it cannot parse, each answered with a refusal: the pass
      // that answers the second began after the first reply, so every pass that could repeat "up" is over by then.
      for (const marker of ['marker-one', 'marker-two']) {
        const refusal = await commandAndReply(owner, ready.id as FeedId, msg.key, marker, 30_000)
        expect(refusal.error?.code).toBe('malformed')
      }
      expect((await statuses(owner.sbot, msg.key)).filter((s) => s.state === 'up')).toHaveLength(1)
      expect(await ourServices(msg.key)).toHaveLength(1)
    } catch (err) {
      throw new Error(`${(err as Error).message}\nprovider output:\n${child.output().slice(-3000)}`, { cause: err })
    } finally {
      await owner.stop()
      await child.stop()
    }
  })
})
