/**
 * Provisioning: a user's request (free plan) -> "up" at the owner's sbot, through the whole provider (plugin, planner,
 * Swarm driver, real engine). Side by side in the same run, the bare floor: createService of the same spec -> the pub
 * answering (whoami over SSB, polled every 25 ms) -> one replication round trip between the user and the provider.
 * Both use the same image, engine and the shipped defaults (Docker's health probe every 2 min: "up" comes from the
 * runtime dialling the starting pub, not from the probe); runs are interleaved and each pub is removed after its run,
 * so neither side pays for the other's idle pubs. Targets (issue 14): median within 1.2x of the floor, and under 2 s.
 *
 * Run alone: node --import tsx bench/provisioning.ts [iterations]   (needs root and dockerd, as the Swarm tests do)
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import Docker from 'dockerode'
import { ensurePubImage } from '../pub/image/build.js'
import { PUB_IMAGE_REPO } from '../pub/image/constants.js'
import { whoami } from '../src/drivers/pub-client.js'
import { createSwarmDriver } from '../src/drivers/swarm.js'
import { derivePubKeys } from '../src/orchestrator/desired.js'
import { runtimeFromSettings } from '../src/provider/runtime-from-settings.js'
import { LABELS, type ServiceSpec } from '../src/planner/index.js'
import { multiserverAddress, type MsgId } from '../src/protocol/ids.js'
import { publish } from '../src/ssb/db2.js'
import { echoPings, watchArrivals } from './replication.js'
import { dockerSupport, startDockerEngine } from '../testkit/docker-engine.js'
import { joinWithInvite, startPeer, startTestProvider, testProviderSettings } from '../testkit/sbots.js'
import { percentiles, runAsMain, type BenchResult } from './report.js'
import { waitFor } from '../testkit/wait.js'
import { STEP_NAMES, STEPS, TimelineCollector, type Timeline } from './timeline.js'

const TARGET_RATIO = 1.2
const TARGET_MS = 2000

/** Run `iterations` of each side, interleaved. */
export async function run(iterations = 10): Promise<BenchResult> {
  const support = dockerSupport()
  if (!support.ok) throw new Error(`the provisioning benchmark needs a Docker engine: ${support.reason}`)
  const engine = await startDockerEngine()
  const docker = new Docker({ socketPath: engine.socketPath, version: 'v1.41' })
  try {
    const image = await ensurePubImage(docker)
    const version = image.tag.slice(PUB_IMAGE_REPO.length + 1)
    // Nothing about health or timing is set: the shipped defaults, as a new operator gets them.
    const common = { hubAddress: '127.0.0.1', listenHost: '127.0.0.1', stopGraceMs: 1000 }
    const settings = testProviderSettings({
      runtime: { kind: 'swarm', docker: engine.socketPath, ports: { first: 29400, last: 29449 }, imageVersion: version, buildImage: false, retentionMs: 0, statsIntervalMs: 0, ...common },
      // A scheduled pass only every 30 s: "up" must come from passes that events trigger, not from polling.
      buttcloud: { pubsPerOwner: 1000, passIntervalMs: 30_000 },
    })
    // Where the time goes: the provider's own log lines, its log, and the engine's events, per request.
    const timelines = new TimelineCollector()
    const provider = await startTestProvider(settings, { runtime: runtimeFromSettings(settings), log: (line) => timelines.logLine(line) })
    timelines.watchProvider(provider.sbot)
    await timelines.watchEngine(docker)
    const providerKeys = provider.sbot.config.keys
    const user = startPeer()
    try {
      await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)

      // The floor's replication leg (the provider answers pings, nothing else), and the owner's watch.
      const echo = echoPings(provider.sbot, user.id)
      const watch = watchArrivals(user.sbot, provider.id)
      const arrival = watch.arrival

      // The floor's own driver, with the same options the provider's runtime uses.
      const floorDriver = createSwarmDriver({ docker, ...common })
      const [hub] = await floorDriver.listHubs()
      let nextFloorPort = 29450

      async function floorOnce(i: number): Promise<number> {
        const request = `%${createHash('sha256').update(`floor ${i} ${Date.now()}`).digest('base64')}.sha256` as MsgId
        const keys = derivePubKeys(providerKeys, request)
        const port = nextFloorPort++
        const spec: ServiceSpec = { request, owner: user.id, pubId: keys.id, hub: hub!.id, port, imageVersion: version, memoryMiB: 128, replicas: 1, forceUpdate: 0 }
        const address = multiserverAddress('127.0.0.1', port, keys.id)
        const t = performance.now()
        await floorDriver.createService(spec, { keys, provider: providerKeys.id })
        await waitFor('the floor pub to answer', async () => (await whoami(providerKeys, address, { timeoutMs: 1000 })) === keys.id, { timeoutMs: 30_000, intervalMs: 25 })
        const pong = arrival(`pong:${i}`)
        await publish(user.sbot.db, { type: 'bench/ping', n: i, recps: [user.id, provider.id] })
        await pong
        const ms = performance.now() - t
        const svc = (await floorDriver.listServices()).find((s) => s.labels[LABELS.request] === request)
        if (svc) await floorDriver.removeService(request, svc.id)
        return ms
      }

      async function requestOnce(): Promise<{ total: number; timeline: Timeline | undefined }> {
        const t = performance.now()
        const t0 = Date.now()
        // The key is known once published, long before any status about it can have replicated back.
        const msg = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', recps: [user.id, provider.id] })
        timelines.begin(msg.key, t0)
        await arrival(`up:${msg.key}`)
        const total = performance.now() - t
        timelines.seen(msg.key)
        await timelines.readPubLog(docker, msg.key).catch(() => undefined)
        const destroyed = arrival(`destroyed:${msg.key}`)
        await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request: msg.key, verb: 'destroy', recps: [user.id, provider.id] })
        await destroyed
        return { total, timeline: timelines.get(msg.key) }
      }

      // One unmeasured round of each warms the image cache, the indexes and the connections.
      await floorOnce(-1)
      await requestOnce()
      const floor: number[] = []
      const request: number[] = []
      const lines: Timeline[] = []
      for (let i = 0; i < iterations; i++) {
        floor.push(await floorOnce(i))
        const r = await requestOnce()
        request.push(r.total)
        if (r.timeline) lines.push(r.timeline)
      }
      echo.stop()
      watch.stop()
      timelines.stop()
      // Each step's median, ms after the request was published (a step a timeline lacks is left out of its median).
      const steps = STEPS.map((step) => {
        const values = lines.map((l) => l[step]).filter((v): v is number => typeof v === 'number')
        return { step, values: values.length ? percentiles(values) : undefined, n: values.length }
      })

      const f = percentiles(floor)
      const r = percentiles(request)
      const ratio = r.median / f.median
      return {
        name: 'provisioning',
        rows: [
          { path: 'floor: createService -> pub answers -> one round trip', n: floor.length, median_ms: f.median, p95_ms: f.p95, min_ms: f.min },
          { path: 'request -> "up" at the owner', n: request.length, median_ms: r.median, p95_ms: r.p95, min_ms: r.min },
          { path: `ratio (target <= ${TARGET_RATIO}; up < ${TARGET_MS} ms)`, n: '', median_ms: ratio, p95_ms: r.p95 / f.p95, min_ms: '' },
          ...steps.map((s) => ({ path: `  step: ${STEP_NAMES[s.step]}`, n: s.n, median_ms: s.values?.median ?? '', p95_ms: s.values?.p95 ?? '', min_ms: s.values?.min ?? '' })),
        ],
        json: {
          iterations,
          healthIntervalMs: 'default (120000)',
          floor: f,
          request: r,
          steps: Object.fromEntries(steps.map((s) => [s.step, s.values ?? null])),
          ratio,
          target: { ratio: TARGET_RATIO, ms: TARGET_MS },
          pass: ratio <= TARGET_RATIO && r.median < TARGET_MS,
        },
      }
    } finally {
      await user.stop()
      await provider.stop()
    }
  } finally {
    // Whatever this run left (volumes, destroyed pubs' leftovers) goes with the private engine.
    await engine.stop()
  }
}

runAsMain(import.meta.url, () => run(Number(process.argv[2] ?? 10)))
