import { describe, expect, it } from 'vitest'
import { allocate, hubsNeeded, indexWorld, plan, portBook, type DesiredPub, type Observed } from '../../src/planner/index.js'
import { CAPACITY, NOW, converged, hub, observed, pub, serviceOf } from '../../testkit/planner-fixtures.js'

const usable = CAPACITY.hubMemoryMiB - CAPACITY.headroomMiB

function allocation(desired: DesiredPub[], obs: Observed) {
  const world = indexWorld(desired, obs)
  return allocate(world, portBook(world.desired.values(), CAPACITY.ports), CAPACITY)
}

describe('best-fit placement', () => {
  it('puts a pub on the hub it fits most tightly, not the first or the emptiest', () => {
    // hub 1 is empty, hub 2 has 512 MiB left, hub 3 has 256 MiB left: a 256 MiB pub goes to hub 3.
    const hubs = [hub(1), hub(2, { foreignReservedMiB: usable - 512 }), hub(3, { foreignReservedMiB: usable - 256 })]
    const p = pub(1, { memoryMiB: 256 })
    const [record] = plan([p], observed({ hubs }), CAPACITY, NOW)
    expect(record).toMatchObject({ kind: 'record-placement', hub: hubs[2]!.id })
  })

  it('breaks ties by hub id, whatever order the hubs are listed in', () => {
    const hubs = [hub(3), hub(1), hub(2)]
    const [record] = plan([pub(1)], observed({ hubs }), CAPACITY, NOW)
    expect(record).toMatchObject({ hub: hub(1).id })
  })

  it('fills one hub before opening the next', () => {
    const n = Math.floor(usable / 256) + 1
    const pubs = Array.from({ length: n }, (_, i) => pub(i + 1, { memoryMiB: 256 }))
    const alloc = allocation(pubs, observed({ hubs: [hub(1), hub(2)] }))
    const perHub = new Map<string, number>()
    for (const p of alloc.placements) perHub.set(p.hub, (perHub.get(p.hub) ?? 0) + 1)
    expect(perHub.get(hub(1).id)).toBe(n - 1)
    expect(perHub.get(hub(2).id)).toBe(1)
  })

  it('keeps a large hole for a large plan that first-fit by list order would have split', () => {
    // Listed first, hub 2 has just over 1 GiB; hub 1 is empty. Small pubs go to the tight hub 2, so the 8 GiB
    // pub still finds room on hub 1.
    const hubs = [hub(2, { foreignReservedMiB: usable - 1100 }), hub(1)]
    const small = Array.from({ length: 8 }, (_, i) => pub(i + 1, { memoryMiB: 128 }))
    const large = pub(100, { memoryMiB: 8192 })
    const alloc = allocation([...small, large], observed({ hubs }))
    expect(alloc.queued).toEqual([])
    expect(alloc.placements.filter((p) => p.pub.memoryMiB === 128).every((p) => p.hub === hub(2).id)).toBe(true)
    expect(alloc.placements.find((p) => p.pub.request === large.request)?.hub).toBe(hub(1).id)
  })

  it('treats a hub with no free port as full', () => {
    const narrow = { ...CAPACITY, ports: { first: 20000, last: 20001 } }
    const pubs = [1, 2, 3].map((n) => pub(n))
    const actions = plan(pubs, observed({ hubs: [hub(1)] }), narrow, NOW)
    const ports = actions.filter((a) => a.kind === 'record-placement').map((a) => a.port)
    expect(ports.sort()).toEqual([20000, 20001])
    expect(actions.filter((a) => a.kind === 'report-queued')).toHaveLength(1)
  })
})

describe('memory accounting', () => {
  it('counts our services that stand for no live pub until they are gone', () => {
    const orphan = pub(50, { placement: { hub: hub(1).id, port: 29999 }, memoryMiB: usable })
    const obs = observed({ hubs: [hub(1)], services: [serviceOf(orphan)] })
    const alloc = allocation([pub(1)], obs)
    expect(alloc.rooms.get(hub(1).id)!.usedMiB).toBe(usable)
    expect(alloc.queued.map((p) => p.request)).toEqual([pub(1).request])
  })

  it('grants a plan upgrade where the hub has room, oldest request first, and blocks the rest', () => {
    const h = hub(1, { foreignReservedMiB: usable - 900 })
    const older = pub(1, { placement: { hub: h.id, port: 20000 }, requestedAt: 1 })
    const newer = pub(2, { placement: { hub: h.id, port: 20001 }, requestedAt: 2 })
    // Each holds 128 MiB now and wants 512: 900 - 256 = 644 MiB free takes one growth of 384, not two.
    const grown = [older, newer].map((p) => ({ ...p, memoryMiB: 512 }))
    const actions = plan(grown, converged([older, newer], [h]), CAPACITY, NOW)
    const update = actions.find((a) => a.kind === 'update-service')
    expect(update).toMatchObject({ spec: { request: older.request, memoryMiB: 512 }, changes: ['memory'] })
    expect(actions.find((a) => a.kind === 'report-resize-blocked')).toEqual({
      kind: 'report-resize-blocked',
      request: newer.request,
      hub: h.id,
      haveMiB: 128,
      wantMiB: 512,
    })
    expect(actions).toHaveLength(2)
  })

  it('always allows a plan downgrade', () => {
    const h = hub(1, { foreignReservedMiB: usable - 512 })
    const p = pub(1, { placement: { hub: h.id, port: 20000 }, memoryMiB: 512 })
    const smaller = { ...p, memoryMiB: 256 }
    expect(plan([smaller], converged([p], [h]), CAPACITY, NOW)).toMatchObject([
      { kind: 'update-service', spec: { memoryMiB: 256 }, changes: ['memory'] },
    ])
  })
})

describe('hubs needed', () => {
  it('is zero with nothing queued', () => {
    expect(hubsNeeded([], CAPACITY).count).toBe(0)
  })

  it('packs queued pubs into hubs of the configured size, largest first', () => {
    // Three pubs of 60% of a hub cannot share; three of 40% fill the gaps beside them.
    const big = Math.floor(usable * 0.6)
    const small = Math.floor(usable * 0.4)
    expect(hubsNeeded([small, big, small, big, small, big], CAPACITY)).toEqual({ count: 3, memoryMiB: CAPACITY.hubMemoryMiB })
  })

  it('counts the port range as a limit per hub', () => {
    const narrow = { ...CAPACITY, ports: { first: 20000, last: 20009 } }
    expect(hubsNeeded(Array(25).fill(64), narrow).count).toBe(3)
  })
})
