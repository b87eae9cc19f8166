/**
 * A taken port is not a crash loop, under Swarm (the real private engine, the shipped health and restart defaults):
 * a plain node TCP listener started here holds the port the next pub gets. The pub's task exits with the port-taken
 * code (98) each time Swarm starts it; the driver reads those exits from Swarm's task list, the provider records a new
 * placement on a free port of the same hub, and the owner gets "up" with the new address, where the pub answers.
 * The listener is never touched by the provider, and is closed here.
 */
import type { Server } from 'node:net'
import Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ensurePubImage } from '../../pub/image/build.js'
import { PUB_IMAGE_REPO } from '../../pub/image/constants.js'
import { whoami } from '../../src/drivers/pub-client.js'
import { LABELS } from '../../src/planner/index.js'
import { PUB_EXIT } from '../../src/protocol/pub-exit.js'
import type { MsgId, MultiserverAddress } from '../../src/protocol/ids.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import '../support/docker-global-setup.js'
import { dockerSupport, sharedDockerEngine, type DockerEngine } from '../../testkit/docker-engine.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import type { TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'
import { holdPort, nextStatus, startProviderAndUser, statuses, type TestProvider } from './helpers.js'

const support = dockerSupport()
const FIRST = 29700

interface SwarmTask {
  Spec?: { ContainerSpec?: { Labels?: Record<string, string>; Env?: string[] } }
  Status?: { State?: string; ContainerStatus?: { ExitCode?: number } }
}

describe.skipIf(!support.ok)(`a pub whose port is taken on its Swarm hub${support.ok ? '' : ` (skipped: ${support.reason})`}`, { timeout: 120_000 }, () => {
  let engine: DockerEngine
  let docker: Docker
  let provider: TestProvider
  let providerKeys: SsbKeys
  let user: TestPeer
  let squatter: Server
  let request: MsgId | undefined

  beforeAll(async () => {
    assertPubBuilt()
    // Another developer's run may hold the machine's one engine: wait for it as long as the engine lock does.
    engine = await sharedDockerEngine(inject('dockerEngine'))
    docker = new Docker({ socketPath: engine.socketPath, version: 'v1.41' })
    const image = await ensurePubImage(docker)
    squatter = await holdPort(FIRST)
    // Only what a test on this machine must set: where pubs listen and are dialled, its ports, its image. Health
    // probes, restart delay and settling are the shipped defaults.
    ;({ provider, providerKeys, user } = await startProviderAndUser({
      kind: 'swarm',
      docker: engine.socketPath,
      hubAddress: '127.0.0.1',
      listenHost: '127.0.0.1',
      ports: { first: FIRST, last: FIRST + 9 },
      imageVersion: image.tag.slice(PUB_IMAGE_REPO.length + 1),
      buildImage: false,
      stopGraceMs: 1000,
      statsIntervalMs: 0,
    }))
  }, 11 * 60_000)

  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
    if (docker && request) {
      const mine = (labels: Record<string, string> | undefined) => labels?.[LABELS.request] === request
      for (const s of (await docker.listServices()) as Array<{ ID: string; Spec?: { Labels?: Record<string, string> } }>) {
        if (mine(s.Spec?.Labels)) await docker.getService(s.ID).remove().catch(() => undefined)
      }
      await waitFor('the pub\'s containers to go', async () => ((await docker.listContainers({ all: true, filters: { label: [`${LABELS.request}=${request}`] } })).length === 0 ? true : undefined), { timeoutMs: 30_000 }).catch(() => undefined)
      for (const s of (await docker.listSecrets()) as Array<{ ID: string; Spec?: { Labels?: Record<string, string> } }>) {
        if (mine(s.Spec?.Labels)) await docker.getSecret(s.ID).remove().catch(() => undefined)
      }
      for (const v of (await docker.listVolumes()).Volumes ?? []) {
        if (mine(v.Labels ?? undefined)) await docker.getVolume(v.Name).remove().catch(() => undefined)
      }
    }
    await engine?.stop()
    await new Promise<void>((resolve) => (squatter?.listening ? squatter.close(() => resolve()) : resolve()))
  })

  it('is moved to a free port (recorded), and the owner gets "up" with the new address', async () => {
    const msg = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', name: 'squatted swarm pub', recps: [user.id, provider.id] })
    request = msg.key
    const up = await nextStatus(user.sbot, msg.key, 0, (s) => s.state === 'up', '"up" on another port', 100_000)
    expect(up.pub!.address).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:${FIRST + 1}~shs:`))
    expect(await whoami(providerKeys, up.pub!.address as MultiserverAddress, { timeoutMs: 5000 })).toBe(up.pub!.id)

    // The move is a placement record: the latest one of this pub names the new port.
    expect(provider.api.ledger().placements().get(msg.key)).toMatchObject({ port: FIRST + 1 })
    // Swarm's task list holds what the driver read: tasks at the taken port that exited with the port-taken code.
    const tasks = ((await docker.listTasks()) as SwarmTask[]).filter((t) => t.Spec?.ContainerSpec?.Labels?.[LABELS.request] === msg.key)
    const atTaken = tasks.filter((t) => t.Spec?.ContainerSpec?.Env?.includes(`PUB_PORT=${FIRST}`))
    // (Two in a row move it; a third may have been starting when the update stopped it.)
    expect(atTaken.filter((t) => t.Status?.State === 'failed' && t.Status.ContainerStatus?.ExitCode === PUB_EXIT.portTaken).length).toBeGreaterThanOrEqual(2)
    expect(atTaken.filter((t) => t.Status?.State === 'running')).toEqual([])
    // Never a crash loop; at most a "down" that says why; and the listener still holds its port.
    const seen = await statuses(user.sbot, msg.key)
    expect(seen.filter((s) => /crash loop/.test(s.reason ?? ''))).toEqual([])
    expect(seen.filter((s) => s.state === 'down').every((s) => /port/.test(s.reason ?? ''))).toBe(true)
    expect(squatter.listening).toBe(true)
    expect(squatter.address()).toMatchObject({ port: FIRST })
  })
})
