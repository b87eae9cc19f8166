/**
 * Reading observed state: a driver offers four list calls, and one pass makes each exactly once, whatever the
 * number of pubs. The join (tasks to services, labels to ownership) is pure and lives here, so every driver
 * classifies objects the same way.
 */
import { LABELS, ownership } from './labels.js'
import type { ForeignObject, Hub, Observed, ObservedService, ObservedTask, ObservedVolume, ServiceFields } from './types.js'

/** A service as listed, converted from Docker's shape at the driver's edge; spec fields are absent when unreadable. */
export interface ServiceListing extends ServiceFields {
  labels: Readonly<Record<string, string>>
}

export interface TaskListing extends ObservedTask {
  serviceId: string
}

export interface VolumeListing {
  name: string
  hub: string
  labels: Readonly<Record<string, string>>
  createdAt: number
}

/** Volumes as listed by a driver that may not reach every hub: `hubs` are those whose volumes it did list. */
export interface VolumeList {
  volumes: VolumeListing[]
  hubs: string[]
}

/** What a driver provides for observing: one list call per kind of object. */
export interface ObservedReader {
  listHubs(): Promise<Hub[]>
  listServices(): Promise<ServiceListing[]>
  listTasks(): Promise<TaskListing[]>
  /** A plain list when the driver always sees every hub's volumes; otherwise which hubs it saw. */
  listVolumes(): Promise<VolumeListing[] | VolumeList>
}

/** Swarm keeps five tasks per slot by default; the summary needs no more to see a crash loop. */
export const TASKS_KEPT = 5

/** Join the four listings into one Observed: ours by label, the rest foreign; tasks newest first per service. */
export function assembleObserved(
  hubs: Hub[],
  services: readonly ServiceListing[],
  tasks: readonly TaskListing[],
  volumeListing: readonly VolumeListing[] | VolumeList,
): Observed {
  const volumes = 'volumes' in volumeListing ? volumeListing.volumes : volumeListing
  const foreign: ForeignObject[] = []
  const ours = new Map<string, ObservedService>()
  for (const s of services) {
    const owner = ownership(s.labels)
    if (!owner.ours) {
      foreign.push({ kind: 'service', id: s.id, name: s.name, why: owner.why })
      continue
    }
    // Built field by field rather than by spreading: this runs for every pub on every pass.
    ours.set(s.id, {
      id: s.id,
      name: s.name,
      request: owner.request,
      hub: s.hub,
      port: s.port,
      imageVersion: s.imageVersion,
      memoryMiB: s.memoryMiB,
      replicas: s.replicas,
      forceUpdate: s.forceUpdate,
      tasks: [],
    })
    if (s.diskMiB !== undefined) ours.get(s.id)!.diskMiB = s.diskMiB
    if (s.webPort !== undefined) ours.get(s.id)!.webPort = s.webPort
  }
  // Tasks of foreign services are dropped here: we neither act on them nor need them.
  for (const t of tasks) {
    const svc = ours.get(t.serviceId)
    if (!svc) continue
    const task: ObservedTask = { state: t.state, at: t.at }
    if (t.health !== undefined) task.health = t.health
    if (t.exitCode !== undefined) task.exitCode = t.exitCode
    if (t.oomKilled !== undefined) task.oomKilled = t.oomKilled
    if (t.port !== undefined) task.port = t.port
    if (t.error !== undefined) task.error = t.error
    svc.tasks.push(task)
  }
  for (const svc of ours.values()) {
    if (svc.tasks.length > 1) svc.tasks.sort((a, b) => b.at - a.at)
    if (svc.tasks.length > TASKS_KEPT) svc.tasks.length = TASKS_KEPT
  }
  const ourVolumes: ObservedVolume[] = []
  for (const v of volumes) {
    const owner = ownership(v.labels)
    if (owner.ours) {
      const volume: ObservedVolume = { name: v.name, request: owner.request, hub: v.hub, createdAt: v.createdAt }
      const movedFrom = v.labels[LABELS.movedFrom]
      if (movedFrom) volume.movedFrom = movedFrom
      ourVolumes.push(volume)
    } else foreign.push({ kind: 'volume', id: `${v.hub}/${v.name}`, name: v.name, why: owner.why })
  }
  const observed: Observed = { hubs, services: [...ours.values()], volumes: ourVolumes, foreign }
  if ('hubs' in volumeListing) observed.volumeHubs = [...volumeListing.hubs]
  return observed
}

/** Read one pass's observed state: each list call once, concurrently. */
export async function readObserved(reader: ObservedReader): Promise<Observed> {
  const [hubs, services, tasks, volumes] = await Promise.all([
    reader.listHubs(),
    reader.listServices(),
    reader.listTasks(),
    reader.listVolumes(),
  ])
  return assembleObserved(hubs, services, tasks, volumes)
}
