/**
 * The Swarm driver's edge without an engine: Docker's listings in, the planner's types out, and the number of Docker
 * calls a pass makes does not grow with the number of pubs. (test/drivers/swarm.test.ts runs it on the real engine.)
 */
import type Docker from 'dockerode'
import { describe, expect, it } from 'vitest'
import { createSwarmDriver } from '../../src/drivers/swarm.js'
import { labelsFor, objectName, readObserved } from '../../src/planner/index.js'
import { msgId } from '../orchestrator/fakes.js'

const MiB = 1024 * 1024
const NODE = 'node-1'

/** A Docker client that answers the listings a pass makes, counts calls, and throws on anything else. */
function fakeDocker(pubs: number) {
  const calls: string[] = []
  const services: object[] = []
  const tasks: object[] = []
  const containers: object[] = []
  for (let i = 0; i < pubs; i++) {
    const request = msgId(`pub ${i}`)
    const labels = labelsFor(request)
    services.push({
      ID: `svc-${i}`,
      Spec: {
        Name: objectName(request),
        Labels: labels,
        Mode: { Replicated: { Replicas: 1 } },
        TaskTemplate: {
          ContainerSpec: { Image: `buttcloud-pub:0.1.0@sha256:${'a'.repeat(64)}`, Env: [`PUB_PORT=${9000 + i}`], Labels: labels },
          Placement: { Constraints: [`node.id==${NODE}`] },
          Resources: { Limits: { MemoryBytes: 128 * MiB }, Reservations: { MemoryBytes: 128 * MiB } },
          ForceUpdate: 2,
        },
      },
    })
    tasks.push({
      ID: `task-${i}`,
      ServiceID: `svc-${i}`,
      NodeID: NODE,
      DesiredState: 'running',
      Spec: { ContainerSpec: { Labels: labels }, Resources: { Reservations: { MemoryBytes: 128 * MiB } } },
      Status: { State: 'running', Timestamp: '2026-01-01T00:00:00Z', ContainerStatus: { ContainerID: `c-${i}` } },
    })
    containers.push({ Id: `c-${i}`, Labels: labels, State: 'running', Status: i === 0 ? 'Up 1 second (health: starting)' : 'Up 2 hours (healthy)' })
  }
  // A hand-made service with a reservation, and the old task of an updated pub that is still stopping.
  services.push({ ID: 'hand', Spec: { Name: 'nginx', Mode: { Replicated: { Replicas: 1 } }, TaskTemplate: { ContainerSpec: { Image: 'nginx' } } } })
  tasks.push({ ID: 'hand-1', ServiceID: 'hand', NodeID: NODE, DesiredState: 'running', Spec: { Resources: { Reservations: { MemoryBytes: 300 * MiB } } }, Status: { State: 'running', Timestamp: '2026-01-01T00:00:00Z' } })
  if (pubs > 0) {
    tasks.push({
      ID: 'old-0',
      ServiceID: 'svc-0',
      NodeID: NODE,
      DesiredState: 'shutdown',
      Spec: { ContainerSpec: { Labels: labelsFor(msgId('pub 0')) } },
      Status: { State: 'running', Timestamp: '2025-12-31T00:00:00Z', ContainerStatus: { ContainerID: 'c-old' } },
    })
  }
  const api: Record<string, (...args: unknown[]) => Promise<unknown>> = {
    info: async () => ({ Swarm: { NodeID: NODE } }),
    listNodes: async () => [
      { ID: NODE, Spec: { Availability: 'active', Labels: {} }, Description: { Hostname: 'hub-1', Resources: { MemoryBytes: 4096 * MiB } }, Status: { State: 'ready', Addr: '192.0.2.1' } },
    ],
    listServices: async () => services,
    listTasks: async () => tasks,
    listVolumes: async () => ({ Volumes: [{ Name: objectName(msgId('pub 0')), Labels: labelsFor(msgId('pub 0')), CreatedAt: '2026-01-01T00:00:00Z' }, { Name: 'postgres-data', Labels: null }] }),
    listContainers: async () => containers,
  }
  const docker = new Proxy(api, {
    get(target, prop: string) {
      if (prop === 'then') return undefined
      if (!(prop in target)) throw new Error(`unexpected Docker call: ${prop}`)
      return (...args: unknown[]) => {
        calls.push(prop)
        return target[prop]!(...args)
      }
    },
  }) as unknown as Docker
  return { docker, calls }
}

describe('the Swarm driver edge', () => {
  it("converts Docker's listings into the planner's types", async () => {
    const { docker } = fakeDocker(2)
    const observed = await readObserved(createSwarmDriver({ docker }))
    expect(observed.hubs).toEqual([
      // 300 MiB reserved by the hand-made service is not ours to hand out.
      { id: NODE, name: 'hub-1', address: '192.0.2.1', memoryMiB: 4096, foreignReservedMiB: 300, availability: 'active', ready: true },
    ])
    const first = observed.services.find((s) => s.id === 'svc-0')!
    expect(first).toMatchObject({ request: msgId('pub 0'), hub: NODE, port: 9000, imageVersion: '0.1.0', memoryMiB: 128, replicas: 1, forceUpdate: 2 })
    // Newest first: the running task still starting its health checks, then the old one told to shut down.
    expect(first.tasks).toEqual([
      { state: 'running', health: 'starting', at: Date.parse('2026-01-01T00:00:00Z') },
      { state: 'shutdown', at: Date.parse('2025-12-31T00:00:00Z') },
    ])
    expect(observed.services.find((s) => s.id === 'svc-1')!.tasks).toEqual([{ state: 'running', health: 'healthy', at: Date.parse('2026-01-01T00:00:00Z') }])
    expect(observed.foreign).toEqual([{ kind: 'service', id: 'hand', name: 'nginx', why: 'unlabelled' }])
    // Volumes that do not claim to be ours are not even listed as foreign.
    expect(observed.volumes).toEqual([{ name: objectName(msgId('pub 0')), request: msgId('pub 0'), hub: NODE, createdAt: Date.parse('2026-01-01T00:00:00Z') }])
  })

  it('makes as many Docker calls for 200 pubs as for 2', async () => {
    const count = async (pubs: number) => {
      const { docker, calls } = fakeDocker(pubs)
      const driver = createSwarmDriver({ docker })
      await readObserved(driver)
      calls.length = 0
      await readObserved(driver)
      return [...calls].sort()
    }
    const few = await count(2)
    expect(few).toEqual(['listContainers', 'listNodes', 'listServices', 'listTasks', 'listVolumes'])
    expect(await count(200)).toEqual(few)
  })
})
