/**
 * Density benchmark of the hosted pub: memory idle and while ingesting, survival under tight memory limits, and
 * time from service create to healthy, each beside a floor measured in the same run (a bare node process, a
 * container that only sleeps). Runs a private Swarm engine and the registry-free image. The many-pubs case (40 idle
 * pubs on the shipped defaults, per-pub memory and CPU, the projection for a 15 GB / 4 vCPU hub) is
 * bench/density-many.ts.
 *
 * Alone: `npm run build && node --import tsx bench/density.ts` (prints a table, then the JSON).
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type Docker from 'dockerode'
import { ensurePubImage } from '../pub/image/build.js'
import { DATA_DIR, PUB_HEALTHCHECK } from '../pub/image/constants.js'
import { clientCall, connectClient } from '../src/ssb/client.js'
import { generateKeys, type SsbKeys } from '../src/ssb/keys.js'
import { startDockerEngine, type DockerEngine } from '../testkit/docker-engine.js'
import { assertPubBuilt, PUB_HEALTH, spawnPub, startFeedSource, tempDir, vectorClock, type FeedSource } from '../testkit/pub-process.js'
import { createPubService, memoryCgroupDir, processRss, readCgroupMemory, resetPeak, runningTask, taskHistory, waitHealthy } from '../testkit/pub-swarm.js'
import { freePort } from '../testkit/ports.js'
import { waitFor } from '../testkit/wait.js'

const MiB = 1024 * 1024
const MB = 1e6

type Row = Record<string, string | number>

interface IngestResult {
  scenario: string
  limitMiB: number
  messages: number
  survived: boolean
  /** Why it did not survive (task state), if it did not. */
  failure?: string
  ingestMs: number | null
  peakCgroupMiB: number
  peakRssMB: number
  settledRssMB: number | null
}

/** Run the benchmark; returns a table and the raw figures. */
export async function run(): Promise<{ name: string; rows: Row[]; json: unknown }> {
  assertPubBuilt()
  const floors = { bareNodeRssMB: await bareNodeRss() }
  const probe = await healthProbeCost()

  const engine = await startDockerEngine()
  const sources: FeedSource[] = []
  try {
    const image = await ensurePubImage(engine.docker)
    const sleeperMs = await sleeperCreateToRunning(engine.docker, image.tag)
    const owner = generateKeys()
    const idle = await idlePub(engine.docker, owner)

    const manyFeeds = await startFeedSource({ feeds: 20, perFeed: 1000 })
    sources.push(manyFeeds)
    const burst = await startFeedSource({ feeds: 1, perFeed: 20_000 })
    sources.push(burst)
    const ingests: IngestResult[] = []
    ingests.push(await ingest(engine, owner, manyFeeds, '20 feeds x 1,000', 128))
    ingests.push(await ingest(engine, owner, burst, '1 feed x 20,000 (burst)', 128))
    ingests.push(await ingest(engine, owner, burst, '1 feed x 20,000 (burst)', 96))
    ingests.push(await ingest(engine, owner, burst, '1 feed x 20,000 (burst), pacing off', 96, { PUB_INGEST_BACKLOG: 'off' }))
    ingests.push(await ingest(engine, owner, burst, '1 feed x 20,000 (burst)', 64))
    // The backlog a 64 MiB pub had before it was sized by the heap (pub/settings.ts): it died of heap exhaustion.
    ingests.push(await ingest(engine, owner, burst, '1 feed x 20,000 (burst), backlog 400,100', 64, { PUB_INGEST_BACKLOG: '400,100' }))

    const rows: Row[] = [
      row('idle RSS, pub as a Swarm service', idle.rssMB, 'MB', `bare node ${floors.bareNodeRssMB.toFixed(1)} MB`, '<= 64 MB', idle.rssMB <= 64),
      row('idle cgroup memory, pub service', idle.cgroupMiB, 'MiB', '', '', ''),
      row('idle RSS, pub as a plain process', idle.processRssMB, 'MB', `bare node ${floors.bareNodeRssMB.toFixed(1)} MB`, '', ''),
      row('service create -> container started', idle.createToStartedMs, 'ms', `sleep-only container ${sleeperMs} ms`, '', ''),
      row('service create -> healthy (probe every 1 s)', idle.createToHealthyMs, 'ms', `sleep-only container started ${sleeperMs} ms`, '< 3000 ms', idle.createToHealthyMs < 3000),
      row('health probe wall time (sh reads the self-check file)', probe.wallMs, 'ms', `old node probe ${probe.nodeProbeWallMs} ms; bare node start ${probe.bareNodeWallMs} ms`, '', ''),
      row('health probe CPU time', probe.cpuMs, 'ms', `old node probe ${probe.nodeProbeCpuMs} ms; bare node start ${probe.bareNodeCpuMs} ms`, '', ''),
      ...ingests.flatMap((r) => [
        row(`${r.scenario} @ ${r.limitMiB} MiB: stays up (no OOM)`, r.survived ? 'yes' : `no (${r.failure})`, '', '', r.limitMiB === 128 ? 'no OOM' : '', r.limitMiB === 128 ? r.survived : ''),
        row(`${r.scenario} @ ${r.limitMiB} MiB: ingestion time`, r.ingestMs ?? 'n/a', 'ms', '', '', ''),
        row(`${r.scenario} @ ${r.limitMiB} MiB: peak cgroup memory`, r.peakCgroupMiB, 'MiB', `idle ${idle.cgroupMiB} MiB`, '', ''),
        row(`${r.scenario} @ ${r.limitMiB} MiB: peak RSS while ingesting`, r.peakRssMB, 'MB', `idle ${idle.rssMB} MB`, '', ''),
        row(`${r.scenario} @ ${r.limitMiB} MiB: RSS 5 s later (indexing)`, r.settledRssMB ?? 'n/a', 'MB', `idle ${idle.rssMB} MB`, '', ''),
      ]),
    ]
    return { name: 'density', rows, json: { floors, probe, sleeperCreateToRunningMs: sleeperMs, image: { tag: image.tag, sizeMB: round(image.sizeBytes / MB) }, idle, ingests } }
  } finally {
    for (const source of sources) await source.close()
    await engine.stop()
  }
}

function row(measure: string, value: string | number, unit: string, floor: string, target: string, ok: boolean | ''): Row {
  return { measure, value, unit, floor, target, ok: ok === '' ? '' : ok ? 'yes' : 'NO' }
}

function round(n: number): number {
  return Math.round(n * 10) / 10
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** RSS of a node process that does nothing, after a second. */
async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  await sleep(1500)
  const rss = processRss(child.pid!)
  child.kill('SIGKILL')
  return round(rss / MB)
}

/**
 * Wall and CPU time of one health probe against a running plain-process pub: the image's probe (a shell reading the
 * health file the pub's self-check writes), beside the node probe it replaced and a bare node start.
 */
async function healthProbeCost(): Promise<{ wallMs: number; cpuMs: number; nodeProbeWallMs: number; nodeProbeCpuMs: number; bareNodeWallMs: number; bareNodeCpuMs: number }> {
  const dir = tempDir('bc-bench-')
  const owner = generateKeys()
  const pub = spawnPub({ PUB_DATA: join(dir, 'data'), PUB_HOST: '127.0.0.1', PUB_PORT: String(await freePort()), PUB_OWNER: owner.id, PUB_NAME: 'bench' })
  await pub.ready
  try {
    const measure = (command: string, args: string[]) => {
      const runs = 10
      const before = childCpuMs()
      const started = performance.now()
      for (let i = 0; i < runs; i++) {
        const out = spawnSync(command, args, { stdio: 'ignore' })
        if (out.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${out.status}`)
      }
      return { wallMs: round((performance.now() - started) / runs), cpuMs: round((childCpuMs() - before) / runs) }
    }
    const [, shell, flag, script] = PUB_HEALTHCHECK
    const probe = measure(shell!, [flag!, script!.replaceAll(DATA_DIR, join(dir, 'data'))])
    const nodeProbe = measure(process.execPath, [PUB_HEALTH, join(dir, 'data')])
    const bare = measure(process.execPath, ['-e', ''])
    return { ...probe, nodeProbeWallMs: nodeProbe.wallMs, nodeProbeCpuMs: nodeProbe.cpuMs, bareNodeWallMs: bare.wallMs, bareNodeCpuMs: bare.cpuMs }
  } finally {
    await pub.stop('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}

/** CPU time (user + system) of this process's waited-for children, in ms. */
function childCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  // After "pid (comm) ", field 3 is state; cutime and cstime are fields 16 and 17, in clock ticks (100 Hz).
  return (Number(fields[13]) + Number(fields[14])) * 10
}

/** ms from `createdAt` until the service's first container started (Docker's StartedAt, same clock). */
async function createToStarted(docker: Docker, serviceId: string, createdAt: number): Promise<number> {
  let startedAt = 0
  await waitFor('a started container', async () => {
    const tasks = (await docker.listTasks({ filters: { service: [serviceId] } })) as Array<{ Status?: { ContainerStatus?: { ContainerID?: string } } }>
    for (const task of tasks) {
      const id = task.Status?.ContainerStatus?.ContainerID
      if (!id) continue
      const started = Date.parse((await docker.getContainer(id).inspect()).State.StartedAt)
      if (started > 0) startedAt = started
    }
    return startedAt > 0
  }, { timeoutMs: 30_000, intervalMs: 20 })
  return startedAt - createdAt
}

/** Floor for scheduling: a service from the same image that only sleeps, create -> container started. */
async function sleeperCreateToRunning(docker: Docker, image: string): Promise<number> {
  const started = Date.now()
  const service = await docker.createService({
    Name: `bc-bench-sleeper-${process.pid}`,
    TaskTemplate: {
      ContainerSpec: { Image: image, Command: ['/bin/sleep', '3600'], StopGracePeriod: 1e9 },
      Networks: [{ Target: 'host' }],
    },
    Mode: { Replicated: { Replicas: 1 } },
  })
  const ms = await createToStarted(docker, service.id, started)
  await docker.getService(service.id).remove()
  return ms
}

/** A fresh pub service at 128 MiB: create -> running/healthy, then idle memory after it settles. */
async function idlePub(docker: Docker, owner: SsbKeys) {
  const service = await createPubService(docker, { name: `bc-bench-idle-${process.pid}`, owner: owner.id, memoryBytes: 128 * MiB, healthIntervalMs: 1000 })
  try {
    const task = await waitHealthy(docker, service.serviceId, 30_000)
    const createToHealthyMs = Date.now() - service.createdAt
    const createToStartedMs = await createToStarted(docker, service.serviceId, service.createdAt)
    await sleep(8000)
    const rssMB = round(processRss(task.pid) / MB)
    const cgroupMiB = round(readCgroupMemory(memoryCgroupDir(task.pid)).usageBytes / MiB)

    const dir = tempDir('bc-bench-')
    // The flags the image's entrypoint sets under a 128 MiB limit.
    const pub = spawnPub({ PUB_DATA: join(dir, 'data'), PUB_HOST: '127.0.0.1', PUB_PORT: String(await freePort()), PUB_OWNER: owner.id, PUB_NAME: 'bench' }, ['--max-semi-space-size=1', '--no-opt', '--optimize-for-size', '--max-old-space-size=57'])
    await pub.ready
    await sleep(8000)
    const processRssMB = round(processRss(pub.child.pid!) / MB)
    await pub.stop('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
    return { createToStartedMs, createToHealthyMs, rssMB, cgroupMiB, processRssMB }
  } finally {
    await service.remove()
  }
}

/** One ingestion run: a fresh pub service at `limitMiB` follows the source's feeds and replicates them all. */
async function ingest(engine: DockerEngine, owner: SsbKeys, source: FeedSource, scenario: string, limitMiB: number, env?: Record<string, string>): Promise<IngestResult> {
  const { docker } = engine
  const service = await createPubService(docker, { name: `bc-bench-${limitMiB}-${Date.now() % 100000}`, owner: owner.id, memoryBytes: limitMiB * MiB, env })
  try {
    const task = await waitHealthy(docker, service.serviceId, 30_000)
    const cgroup = memoryCgroupDir(task.pid)
    const client = await connectClient(owner, service.address)
    for (const feed of source.feeds) await clientCall(client, 'friends.follow', feed.id, { state: true })
    resetPeak(cgroup)
    let peakCgroup = 0
    let peakRss = 0
    let failure: string | undefined
    let ingestMs: number | null = null
    let clockError: string | undefined
    const started = Date.now()
    await new Promise<void>((resolve, reject) => source.sbot.conn.connect(service.address, (err) => (err ? reject(err) : resolve())))
    while (Date.now() - started < 180_000) {
      await sleep(100)
      try {
        const mem = readCgroupMemory(cgroup)
        peakCgroup = Math.max(peakCgroup, mem.peakBytes ?? mem.usageBytes, mem.usageBytes)
        peakRss = Math.max(peakRss, processRss(task.pid))
      } catch {
        // The container is gone: find out why below.
      }
      const current = await runningTask(docker, service.serviceId)
      if (current?.containerId !== task.containerId) {
        await waitFor('the task to report its end', async () => (await taskHistory(docker, service.serviceId)).some((t) => t.exitCode !== undefined && t.state !== 'running'), { timeoutMs: 10_000 })
          .catch(() => undefined)
        const ended = (await taskHistory(docker, service.serviceId)).find((t) => t.state !== 'running' && t.state !== 'pending' && t.state !== 'assigned')
        failure = ended ? `${ended.state}, exit ${ended.exitCode}${ended.exitCode === 137 ? ' (OOM-killed)' : ''}` : 'task replaced'
        break
      }
      // A failed read counts as "not yet", but is kept: a run that never completes says why.
      const clock = await vectorClock(client).catch((err: Error) => {
        clockError = err.message
        return {} as Record<string, number>
      })
      if (source.feeds.every((f) => clock[f.id] === source.total / source.feeds.length)) {
        ingestMs = Date.now() - started
        break
      }
    }
    if (ingestMs === null && failure === undefined) failure = `not complete after 180 s${clockError ? ` (last clock read: ${clockError})` : ''}`
    let settledRssMB: number | null = null
    if (!failure) {
      await sleep(5000)
      settledRssMB = round(processRss(task.pid) / MB)
    }
    client.close()
    await new Promise<void>((resolve) => source.sbot.conn.disconnect(service.address, () => resolve()))
    return {
      scenario,
      limitMiB,
      messages: source.total,
      survived: failure === undefined,
      failure,
      ingestMs,
      peakCgroupMiB: round(peakCgroup / MiB),
      peakRssMB: round(peakRss / MB),
      settledRssMB,
    }
  } finally {
    await service.remove()
  }
}

function printTable(rows: Row[]): void {
  const columns = Object.keys(rows[0] ?? {})
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)))
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')
  process.stdout.write(`${line(columns)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`)
  for (const r of rows) process.stdout.write(`${line(columns.map((c) => String(r[c] ?? '')))}\n`)
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  run().then(
    (result) => {
      printTable(result.rows)
      process.stdout.write(`\n${JSON.stringify(result.json, null, 2)}\n`)
      process.exit(0)
    },
    (err: Error) => {
      process.stderr.write(`density benchmark failed: ${err.stack ?? err.message}\n`)
      process.exit(1)
    },
  )
}
