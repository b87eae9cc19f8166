/** Helpers for pubs running as Swarm services: finding the task's container, its health, its cgroup memory. */
import { readFileSync, writeFileSync } from 'node:fs'
import type Docker from 'dockerode'
import { multiserverAddress, type FeedId } from '../src/protocol/ids.js'
import { generateKeys, keysFileText, type SsbKeys } from '../src/ssb/keys.js'
import { ensurePubImage } from '../pub/image/build.js'
import { pubServiceSpec, type PubServiceOptions } from '../pub/image/service.js'
import { LABELS } from '../src/planner/index.js'
import { freePort } from './ports.js'
import { waitFor } from './wait.js'

export interface RunningTask {
  taskId: string
  containerId: string
  /** The container's PID 1 as the host sees it (the pub's node process). */
  pid: number
  health: string | undefined
}

/** The service's task that is running now, with its container (undefined while none runs). */
export async function runningTask(docker: Docker, serviceId: string): Promise<RunningTask | undefined> {
  const tasks = (await docker.listTasks({ filters: { service: [serviceId], 'desired-state': ['running'] } })) as Array<{
    ID: string
    Status?: { State?: string; ContainerStatus?: { ContainerID?: string } }
  }>
  for (const task of tasks) {
    const containerId = task.Status?.ContainerStatus?.ContainerID
    if (task.Status?.State !== 'running' || !containerId) continue
    const info = await docker.getContainer(containerId).inspect().catch(() => undefined)
    if (!info?.State.Running) continue
    return { taskId: task.ID, containerId, pid: info.State.Pid, health: info.State.Health?.Status }
  }
  return undefined
}

/** Wait until a task of the service is running and healthy, other than `notContainer`; returns it. */
export async function waitHealthy(docker: Docker, serviceId: string, timeoutMs: number, notContainer?: string): Promise<RunningTask> {
  let found: RunningTask | undefined
  try {
    await waitFor(`a healthy task of ${serviceId}`, async () => {
        const task = await runningTask(docker, serviceId)
        if (task && task.containerId !== notContainer && task.health === 'healthy') found = task
        return found !== undefined
      }, { timeoutMs: timeoutMs, intervalMs: 50 })
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await describeService(docker, serviceId)}`, { cause: err })
  }
  return found!
}

/** Task states and the newest container's health log and output: what a failed wait should show. */
async function describeService(docker: Docker, serviceId: string): Promise<string> {
  const lines = [`tasks: ${JSON.stringify(await taskHistory(docker, serviceId).catch(() => []))}`]
  const containers = await docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.id=${serviceId}`] } }).catch(() => [])
  const newest = containers.sort((a, b) => b.Created - a.Created)[0]
  if (newest) {
    const container = docker.getContainer(newest.Id)
    const info = await container.inspect().catch(() => undefined)
    lines.push(`health: ${JSON.stringify(info?.State.Health?.Log?.slice(-2) ?? null)}`)
    const logs = await container.logs({ stdout: true, stderr: true, tail: 30 }).catch(() => Buffer.alloc(0))
    lines.push(`output:\n${logs.toString('utf8')}`)
  }
  return lines.join('\n')
}

/** Task states of a service, newest first (for failure messages and OOM detection). */
export async function taskHistory(docker: Docker, serviceId: string): Promise<Array<{ state: string; err: string | undefined; exitCode: number | undefined }>> {
  const tasks = (await docker.listTasks({ filters: { service: [serviceId] } })) as Array<{
    CreatedAt: string
    Status?: { State?: string; Err?: string; ContainerStatus?: { ExitCode?: number } }
  }>
  return tasks
    .sort((a, b) => b.CreatedAt.localeCompare(a.CreatedAt))
    .map((t) => ({ state: t.Status?.State ?? '?', err: t.Status?.Err, exitCode: t.Status?.ContainerStatus?.ExitCode }))
}

/** cgroup memory of a container's process, read on the host (cgroup v1 or v2). */
export interface CgroupMemory {
  usageBytes: number
  /** Peak since the cgroup was created or `resetPeak` was called (undefined where the kernel has no peak file). */
  peakBytes: number | undefined
  /** Times the kernel's OOM killer acted in this cgroup. */
  oomKills: number
}

/** The folder of the memory cgroup that `pid` belongs to. */
export function memoryCgroupDir(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l))
  if (v1) return `/sys/fs/cgroup/memory${v1.slice(v1.lastIndexOf(':') + 1)}`
  const v2 = lines.find((l) => l.startsWith('0::'))
  if (v2) return `/sys/fs/cgroup${v2.slice(3)}`
  throw new Error(`no memory cgroup for PID ${pid}`)
}

/** Read a cgroup's memory figures. */
export function readCgroupMemory(dir: string): CgroupMemory {
  const read = (name: string): string | undefined => {
    try {
      return readFileSync(`${dir}/${name}`, 'utf8')
    } catch {
      return undefined
    }
  }
  const v1 = read('memory.usage_in_bytes')
  if (v1 !== undefined) {
    const oom = /oom_kill (\d+)/.exec(read('memory.oom_control') ?? '')
    return { usageBytes: Number(v1), peakBytes: Number(read('memory.max_usage_in_bytes')), oomKills: oom ? Number(oom[1]) : 0 }
  }
  const peak = read('memory.peak')
  const events = /oom_kill (\d+)/.exec(read('memory.events') ?? '')
  return { usageBytes: Number(read('memory.current')), peakBytes: peak === undefined ? undefined : Number(peak), oomKills: events ? Number(events[1]) : 0 }
}

/** Reset a cgroup's peak figure (cgroup v1 only; v2's memory.peak cannot be reset on older kernels). */
export function resetPeak(dir: string): void {
  try {
    writeFileSync(`${dir}/memory.max_usage_in_bytes`, '0')
  } catch {
    // cgroup v2: the peak stays "since creation".
  }
}

/** RSS of a process in bytes (VmRSS). */
export function processRss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match) throw new Error(`no VmRSS for PID ${pid}`)
  return Number(match[1]) * 1024
}

/** A pub service with its secret and volume; `remove` deletes all three. */
export interface PubService {
  serviceId: string
  name: string
  keys: SsbKeys
  port: number
  address: string
  /** When createService was called (ms since epoch). */
  createdAt: number
  remove(): Promise<void>
}

/** Create a pub service from the locally built image: key as a Swarm secret, named volume, host network on 127.0.0.1. */
export async function createPubService(
  docker: Docker,
  opts: { name: string; owner: FeedId; provider?: FeedId; memoryBytes?: number; env?: Record<string, string>; healthIntervalMs?: number; labels?: Record<string, string> },
): Promise<PubService> {
  const image = await ensurePubImage(docker)
  const keys = generateKeys()
  const port = await freePort()
  const secret = (await docker.createSecret({ Name: `${opts.name}-key`, Data: Buffer.from(keysFileText(keys)).toString('base64'), Labels: opts.labels })) as { id: string }
  const volume = `${opts.name}-data`
  await docker.createVolume({ Name: volume, Labels: opts.labels })
  const spec: PubServiceOptions = {
    name: opts.name,
    image: image.tag,
    owner: opts.owner,
    provider: opts.provider,
    pubName: `Pub ${opts.name}`,
    port,
    volume,
    keySecret: { id: secret.id, name: `${opts.name}-key` },
    memoryBytes: opts.memoryBytes,
    env: opts.env,
    labels: opts.labels,
    healthIntervalMs: opts.healthIntervalMs ?? 1000,
    stopGraceMs: 2000,
    restartDelayMs: 100,
  }
  const createdAt = Date.now()
  const service = await docker.createService(pubServiceSpec(spec))
  const serviceId = service.id
  return {
    serviceId,
    name: opts.name,
    keys,
    port,
    address: multiserverAddress('127.0.0.1', port, keys.id),
    createdAt,
    remove: async () => {
      await docker.getService(serviceId).remove().catch(() => undefined)
      // The volume is in use until the task's container is gone.
      await waitFor(`${opts.name}'s containers to go`, async () => (await docker.listContainers({ all: true, filters: { volume: [volume] } })).length === 0, { timeoutMs: 20_000 }).catch(() => undefined)
      await docker.getVolume(volume).remove().catch(() => undefined)
      await docker.getSecret(secret.id).remove().catch(() => undefined)
    },
  }
}

/**
 * Remove every Swarm object the provider made for these requests (by our labels, and only those): services first,
 * then, once their containers are gone, secrets and volumes.
 */
export async function removeRequestObjects(docker: Docker, requests: Iterable<string>): Promise<void> {
  const mine = new Set(requests)
  const ours = (labels: Record<string, string> | null | undefined) => labels?.[LABELS.request] !== undefined && mine.has(labels[LABELS.request]!)
  for (const s of (await docker.listServices()) as Array<{ ID: string; Spec?: { Labels?: Record<string, string> } }>) {
    if (ours(s.Spec?.Labels)) await docker.getService(s.ID).remove().catch(() => undefined)
  }
  await waitFor('our containers to go', async () => ((await docker.listContainers({ all: true, filters: { label: [`${LABELS.managedBy}=buttcloud`] } })).some((c) => ours(c.Labels)) ? undefined : true), { timeoutMs: 30_000 }).catch(() => undefined)
  for (const s of (await docker.listSecrets()) as Array<{ ID: string; Spec?: { Labels?: Record<string, string> } }>) {
    if (ours(s.Spec?.Labels)) await docker.getSecret(s.ID).remove().catch(() => undefined)
  }
  for (const v of (await docker.listVolumes()).Volumes ?? []) {
    if (ours(v.Labels)) await docker.getVolume(v.Name).remove().catch(() => undefined)
  }
}
