import { describe, expect, it } from 'vitest'
import {
  LABELS,
  MANAGED_BY,
  TASKS_KEPT,
  assembleObserved,
  labelsFor,
  objectName,
  ownership,
  readObserved,
  type ObservedReader,
  type ServiceListing,
  type TaskListing,
  type VolumeListing,
} from '../../src/planner/index.js'
import { NOW, hub, req } from '../../testkit/planner-fixtures.js'

const ours = (n: number): ServiceListing => ({
  id: `s${n}`,
  name: objectName(req(n)),
  labels: labelsFor(req(n)),
  hub: hub(1).id,
  port: 20000 + n,
  imageVersion: '1.0.0',
  memoryMiB: 128,
  replicas: 1,
  forceUpdate: 0,
})

describe('ownership labels', () => {
  it('recognises our labels and the request they name', () => {
    expect(ownership(labelsFor(req(1)))).toEqual({ ours: true, request: req(1) })
  })

  it.each([
    ['no labels', undefined, 'unlabelled'],
    ['someone else manages it', { [LABELS.managedBy]: 'caprover', [LABELS.request]: req(1) }, 'unlabelled'],
    ['ours but no request', { [LABELS.managedBy]: MANAGED_BY }, 'bad-request-label'],
    ['ours but a malformed request', { [LABELS.managedBy]: MANAGED_BY, [LABELS.request]: '%x.sha256' }, 'bad-request-label'],
  ] as const)('%s: not ours', (_name, labels, why) => {
    expect(ownership(labels)).toEqual({ ours: false, why })
  })

  it('names are deterministic, distinct per request and valid Docker names within 63 characters', () => {
    const names = Array.from({ length: 200 }, (_, i) => objectName(req(i)))
    expect(new Set(names).size).toBe(names.length)
    expect(objectName(req(3))).toBe(names[3])
    for (const n of names) expect(n).toMatch(/^[a-z0-9][a-z0-9-]{0,62}$/)
  })
})

describe('assembling observed state', () => {
  const foreignService: ServiceListing = { id: 'pg', name: 'postgres', labels: {}, replicas: 1, forceUpdate: 0 }
  const tasks: TaskListing[] = [
    { serviceId: 's1', state: 'failed', exitCode: 1, at: NOW - 3000 },
    { serviceId: 'pg', state: 'running', at: NOW },
    { serviceId: 's1', state: 'running', at: NOW - 1000 },
    ...Array.from({ length: TASKS_KEPT + 2 }, (_, i) => ({ serviceId: 's2', state: 'shutdown' as const, at: NOW - 10_000 - i })),
  ]
  const volumes: VolumeListing[] = [
    { name: objectName(req(1)), hub: hub(1).id, labels: labelsFor(req(1)), createdAt: NOW },
    { name: 'pgdata', hub: hub(1).id, labels: {}, createdAt: NOW },
  ]
  const observed = assembleObserved([hub(1)], [ours(1), foreignService, ours(2)], tasks, volumes)

  it('keeps ours by label with their request, and lists the rest as foreign', () => {
    expect(observed.services.map((s) => [s.id, s.request])).toEqual([
      ['s1', req(1)],
      ['s2', req(2)],
    ])
    expect(observed.volumes).toEqual([{ name: objectName(req(1)), request: req(1), hub: hub(1).id, createdAt: NOW }])
    expect(observed.foreign).toEqual([
      { kind: 'service', id: 'pg', name: 'postgres', why: 'unlabelled' },
      { kind: 'volume', id: `${hub(1).id}/pgdata`, name: 'pgdata', why: 'unlabelled' },
    ])
  })

  it('joins tasks to their service, newest first, a bounded few', () => {
    const s1 = observed.services.find((s) => s.id === 's1')!
    expect(s1.tasks.map((t) => t.state)).toEqual(['running', 'failed'])
    expect(observed.services.find((s) => s.id === 's2')!.tasks).toHaveLength(TASKS_KEPT)
    expect(JSON.stringify(observed.services)).not.toContain('serviceId')
  })

  it('readObserved makes each list call exactly once', async () => {
    const calls: string[] = []
    const reader: ObservedReader = {
      listHubs: async () => (calls.push('hubs'), [hub(1)]),
      listServices: async () => (calls.push('services'), [ours(1)]),
      listTasks: async () => (calls.push('tasks'), []),
      listVolumes: async () => (calls.push('volumes'), []),
    }
    const result = await readObserved(reader)
    expect(calls.sort()).toEqual(['hubs', 'services', 'tasks', 'volumes'])
    expect(result.services).toHaveLength(1)
  })
})
