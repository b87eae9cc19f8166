/**
 * Density, many pubs: N pubs (default 40) as Swarm services on the shipped defaults (the Swarm driver's spec:
 * Docker's health probe every 2 min on the pub's health file, the self-check every 30 s, a 128 MiB limit, the
 * default overcommit), left idle for a minute once all are up; then per pub: cgroup memory, CPU of its container
 * (the health probes' processes run in it) and the engine's share (dockerd, containerd and the shims, which run the
 * probes' execs), and the projection for a 15 GB / 4 vCPU hub: pubs per hub and cost per pub at a hub price.
 *
 * Alone: `npm run build && node --import tsx bench/density-many.ts [pubs] [idleSeconds] [hubPriceCents]`.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { generateKeys } from '../src/ssb/keys.js'
import { createSwarmDriver } from '../src/drivers/swarm.js'
import { derivePubKeys } from '../src/orchestrator/desired.js'
import { objectName, reservationMiB, type ServiceSpec } from '../src/planner/index.js'
import { RUNTIME_DEFAULTS } from '../src/provider/runtime-from-settings.js'
import type { MsgId } from '../src/protocol/ids.js'
import { PUB_IMAGE_REPO } from '../pub/image/constants.js'
import { ensurePubImage, startDockerEngine } from '../testkit/docker-engine.js'
import { memoryCgroupDir, readCgroupMemory, runningTask } from '../testkit/pub-swarm.js'
import { startFeedSource, vectorClock } from '../testkit/pub-process.js'
import { clientCall, connectClient } from '../src/ssb/client.js'
import { multiserverAddress } from '../src/protocol/ids.js'
import { waitFor } from '../testkit/wait.js'
import { percentiles, runAsMain, type BenchResult } from './report.js'

const MiB = 1024 * 1024
const HUB = { memoryMiB: 15 * 1024, vcpus: 4 }
/** Of a hub's CPU, the share idle pubs may use: the rest is for bursts (replication, indexing) and the engine. */
const CPU_BUDGET = 0.5
const TARGET_PUBS_PER_HUB = 300
const PLAN_MiB = 128

/** CPU time (ns) a process's cgroup has used, cgroup v1 (cpuacct) or v2 (cpu.stat). */
function cgroupCpuNs(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')
  const v1 = lines.find((l) => /^\d+:([^:]*,)?cpuacct(,[^:]*)?:/.test(l))
  if (v1) {
    const path = v1.slice(v1.lastIndexOf(':') + 1)
    for (const root of ['/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/cpu,cpuacct']) {
      try {
        return Number(readFileSync(`${root}${path}/cpuacct.usage`, 'utf8'))
      } catch {
        // try the next mount
      }
    }
  }
  const v2 = lines.find((l) => l.startsWith('0::'))
  const stat = readFileSync(`/sys/fs/cgroup${v2!.slice(3)}/cpu.stat`, 'utf8')
  return Number(/usage_usec (\d+)/.exec(stat)![1]) * 1000
}

/**
 * CPU time (ms) of the engine's processes: every process whose command line names the engine's folder (dockerd,
 * its containerd, the shims), with the time of the children they waited for (runc, which runs each probe's exec).
 */
function engineCpuMs(dir: string): number {
  let total = 0
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (!readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(dir)) continue
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')
      // utime, stime, cutime, cstime: fields 14-17 of stat, in 100 Hz ticks.
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 10
    } catch {
      // gone meanwhile
    }
  }
  return total
}

/**
 * A replication burst on a full hub: the hub is taken to be exactly as large as the pubs' reservations (what the
 * planner fills it to), one pub replicates a 20,000-message feed, and every pub's cgroup memory is read every 200 ms.
 * No other pub may restart or be OOM-killed, and all of them together must stay within the hub.
 */
async function replicationBurst(
  engine: Awaited<ReturnType<typeof startDockerEngine>>,
  services: Array<{ address: string }>,
  tasks: Array<{ pid: number; containerId: string }>,
  owner: ReturnType<typeof generateKeys>,
  reservedEachMiB: number,
): Promise<{ messages: number; peakMiB: number; totalPeakMiB: number; hubMiB: number; othersTouched: number; outcome: string }> {
  const source = await startFeedSource({ feeds: 1, perFeed: 20_000 })
  const hubMiB = reservedEachMiB * tasks.length
  const cgroups = tasks.map((t) => memoryCgroupDir(t.pid))
  const oomBefore = cgroups.map((c) => readCgroupMemory(c).oomKills)
  let peakMiB = 0
  let totalPeakMiB = 0
  let outcome = 'not complete after 120 s'
  try {
    const client = await connectClient(owner, services[0]!.address as never)
    await clientCall(client, 'friends.follow', source.feeds[0]!.id, { state: true })
    await new Promise<void>((resolve, reject) => source.sbot.conn.connect(services[0]!.address, (err) => (err ? reject(err) : resolve())))
    const started = Date.now()
    while (Date.now() - started < 120_000) {
      await sleep(200)
      let total = 0
      cgroups.forEach((c, i) => {
        try {
          const used = readCgroupMemory(c).usageBytes / MiB
          total += used
          if (i === 0) peakMiB = Math.max(peakMiB, used)
        } catch {
          // a container that is gone: counted below
        }
      })
      totalPeakMiB = Math.max(totalPeakMiB, total)
      const clock = await vectorClock(client).catch(() => undefined)
      if (clock === undefined) {
        outcome = 'ended (its own limit)'
        break
      }
      if (clock[source.feeds[0]!.id] === source.total) {
        outcome = `finished in ${((Date.now() - started) / 1000).toFixed(1)} s`
        break
      }
    }
    client.close()
  } finally {
    await source.close()
  }
  let othersTouched = 0
  for (let i = 1; i < tasks.length; i++) {
    const now = await runningTask(engine.docker, (await engine.docker.getContainer(tasks[i]!.containerId).inspect()).Config.Labels['com.docker.swarm.service.id']!).catch(() => undefined)
    const oom = readCgroupMemory(cgroups[i]!).oomKills - oomBefore[i]!
    if (now?.containerId !== tasks[i]!.containerId || oom > 0) othersTouched++
  }
  const round1 = (n: number) => Math.round(n * 10) / 10
  return { messages: source.total, peakMiB: round1(peakMiB), totalPeakMiB: round1(totalPeakMiB), hubMiB, othersTouched, outcome }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Run the many-pubs case. */
export async function run(pubs = 40, idleSeconds = 60, hubPriceCents = 2400): Promise<BenchResult> {
  const engine = await startDockerEngine({ lockWaitMs: 900_000 })
  const services: Array<{ request: MsgId; serviceId?: string; address: string }> = []
  const driver = createSwarmDriver({ docker: engine.docker, hubAddress: '127.0.0.1', listenHost: '127.0.0.1', memoryOvercommit: RUNTIME_DEFAULTS.memoryOvercommit })
  try {
    const image = await ensurePubImage(engine.docker)
    const version = image.tag.slice(PUB_IMAGE_REPO.length + 1)
    const [hub] = await driver.listHubs()
    const provider = generateKeys()
    const owner = generateKeys()
    const started = Date.now()
    for (let i = 0; i < pubs; i++) {
      const request = `%${createHash('sha256').update(`density ${i} ${started}`).digest('base64')}.sha256` as MsgId
      const keys = derivePubKeys(provider, request)
      const spec: ServiceSpec = { request, owner: owner.id, pubId: keys.id, hub: hub!.id, port: 29500 + i, imageVersion: version, memoryMiB: PLAN_MiB, replicas: 1, forceUpdate: 0 }
      await driver.createVolume(request, hub!.id)
      await driver.createService(spec, { keys, provider: provider.id })
      services.push({ request, address: multiserverAddress('127.0.0.1', 29500 + i, keys.id) })
    }
    const listed = await driver.listServices()
    for (const s of services) s.serviceId = listed.find((l) => l.name === objectName(s.request))?.id
    // Up in Docker's own eyes: every task running and past its first health probe (30 s after start).
    // In the order of `services`: the burst below is sent to the first one.
    const tasks = await waitFor(`all ${pubs} pubs healthy`, async () => {
      const all = await Promise.all(services.map((s) => runningTask(engine.docker, s.serviceId!)))
      return all.every((t) => t?.health === 'healthy') ? all.map((t) => t!) : undefined
    }, { timeoutMs: 600_000, intervalMs: 2000 })
    const allUpMs = Date.now() - started

    const cpuBefore = tasks.map((t) => cgroupCpuNs(t.pid))
    const engineBefore = engineCpuMs(engine.dir)
    const t0 = Date.now()
    await sleep(idleSeconds * 1000)
    const seconds = (Date.now() - t0) / 1000
    const cpuAfter = tasks.map((t) => cgroupCpuNs(t.pid))
    const engineMs = engineCpuMs(engine.dir) - engineBefore
    const memory = tasks.map((t) => readCgroupMemory(memoryCgroupDir(t.pid)).usageBytes / MiB)
    // Percent of one core per pub: its container's cgroup, and its share of the engine's work.
    const podCpu = cpuAfter.map((after, i) => ((after - cpuBefore[i]!) / 1e9 / seconds) * 100)
    const engineCpuPerPub = (engineMs / 1000 / seconds / pubs) * 100
    const cpu = percentiles(podCpu)
    const mem = percentiles(memory)
    const perPubCpu = cpu.median + engineCpuPerPub

    const burst = await replicationBurst(engine, services, tasks, owner, reservationMiB(PLAN_MiB, { overcommit: RUNTIME_DEFAULTS.memoryOvercommit }))

    // The projection: memory by what the planner reserves for a pub measured like these (p95), CPU within budget.
    const reserved = reservationMiB(PLAN_MiB, { overcommit: RUNTIME_DEFAULTS.memoryOvercommit }, mem.p95)
    const byMemory = Math.floor((HUB.memoryMiB - RUNTIME_DEFAULTS.headroomMiB) / reserved)
    const byCpu = Math.floor((HUB.vcpus * 100 * CPU_BUDGET) / perPubCpu)
    const perHub = Math.min(byMemory, byCpu)
    const r = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d
    return {
      name: 'density-many',
      rows: [
        { measure: `pubs as Swarm services (shipped defaults, ${PLAN_MiB} MiB plan)`, value: pubs, unit: '' },
        { measure: 'create -> all healthy in Docker', value: r(allUpMs / 1000, 1), unit: 's' },
        { measure: `idle window`, value: r(seconds, 1), unit: 's' },
        { measure: 'cgroup memory per pub: median / p95 / max', value: `${r(mem.median, 1)} / ${r(mem.p95, 1)} / ${r(mem.max, 1)}`, unit: 'MiB' },
        { measure: 'CPU per pub, its container (self-check, probes): median / p95', value: `${r(cpu.median, 3)} / ${r(cpu.p95, 3)}`, unit: '% of a core' },
        { measure: "CPU per pub, the engine's share (dockerd, containerd, shims: probe execs)", value: r(engineCpuPerPub, 3), unit: '% of a core' },
        { measure: 'CPU per pub, total (target <= 0.3)', value: r(perPubCpu, 3), unit: '% of a core' },
        { measure: `reservation per pub (overcommit ${RUNTIME_DEFAULTS.memoryOvercommit}, p95 x 1.5)`, value: reserved, unit: 'MiB' },
        { measure: `15 GB hub (${RUNTIME_DEFAULTS.headroomMiB} MiB headroom): pubs by memory`, value: byMemory, unit: '' },
        { measure: `4 vCPU hub (${CPU_BUDGET * 100}% for idle pubs): pubs by CPU`, value: byCpu, unit: '' },
        { measure: `pubs per hub (target >= ${TARGET_PUBS_PER_HUB})`, value: perHub, unit: '' },
        { measure: `burst: one pub replicates ${burst.messages} messages; its peak cgroup memory (limit ${PLAN_MiB})`, value: burst.peakMiB, unit: 'MiB' },
        { measure: `burst: all ${pubs} pubs together at peak, against a hub sized to be full by reservations`, value: `${burst.totalPeakMiB} of ${burst.hubMiB}`, unit: 'MiB' },
        { measure: 'burst: other pubs restarted or OOM-killed', value: burst.othersTouched, unit: '' },
        { measure: 'burst: the bursting pub finished (or was ended by its own limit)', value: burst.outcome, unit: '' },
        { measure: `cost per pub at ${(hubPriceCents / 100).toFixed(2)} per hub-month`, value: r(hubPriceCents / 100 / perHub, 3), unit: 'per month' },
      ],
      json: { burst, pubs, idleSeconds: seconds, allUpMs, memoryMiB: mem, containerCpuPercent: cpu, engineCpuPerPub, perPubCpu, reserved, byMemory, byCpu, perHub, hubPriceCents, pass: perPubCpu <= 0.3 && perHub >= TARGET_PUBS_PER_HUB && burst.othersTouched === 0 && burst.totalPeakMiB <= burst.hubMiB },
    }
  } finally {
    for (const s of services) if (s.serviceId) await driver.removeService(s.request, s.serviceId).catch(() => undefined)
    await engine.stop()
  }
}

runAsMain(import.meta.url, () => run(Number(process.argv[2] ?? 40), Number(process.argv[3] ?? 60), Number(process.argv[4] ?? 2400)))
