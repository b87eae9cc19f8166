/**
 * Packing by what pubs use: a pub reserves its plan's memory divided by the overcommit ratio, or its measured peak
 * with a margin when that is more, never more than its limit; its plan's memory stays its limit in the spec.
 */
import { describe, expect, it } from 'vitest'
import { capacityReport, MEASURED_MARGIN, plan, reservationMiB, type Capacity, type DesiredPub } from '../../src/planner/index.js'
import { CAPACITY, NOW, converged, hub, pub, specOf } from '../../testkit/planner-fixtures.js'

const H1 = hub(1)
const seeds: Capacity = { ...CAPACITY, hubMemoryMiB: 15 * 1024, headroomMiB: 1024 }
/** A 15 GiB hub as Swarm reports it. */
const H15 = { ...H1, memoryMiB: 15 * 1024 }

function placedCount(capacity: Capacity, n: number): number {
  const pubs = Array.from({ length: n }, (_, i) => pub(i + 1))
  return plan(pubs, converged([], [H15]), capacity, NOW).filter((a) => a.kind === 'record-placement').length
}

describe('reservations', () => {
  it('share the limit by the ratio, rise to the measured peak with a margin, and never pass the limit', () => {
    expect(reservationMiB(128, {})).toBe(128)
    expect(reservationMiB(128, { overcommit: 3 })).toBe(43)
    expect(reservationMiB(128, { overcommit: 3 }, 20)).toBe(43)
    expect(reservationMiB(128, { overcommit: 3 }, 40)).toBe(Math.ceil(40 * MEASURED_MARGIN))
    expect(reservationMiB(128, { overcommit: 3 }, 120)).toBe(128)
  })
})

describe('packing a 15 GiB hub with 128 MiB pubs', () => {
  it('takes 112 when each reserves its whole limit, and 333 at an overcommit of 3', () => {
    expect(placedCount(seeds, 400)).toBe(Math.floor((15 * 1024 - 1024) / 128))
    expect(placedCount({ ...seeds, overcommit: 3 }, 400)).toBe(Math.floor((15 * 1024 - 1024) / 43))
  })

  it('counts a pub seen using more than its share at its measured peak, so fewer new pubs fit beside it', () => {
    const capacity = { ...seeds, overcommit: 3 }
    const placed = (n: number, measuredMiB?: number): DesiredPub => pub(n, { placement: { hub: H15.id, port: CAPACITY.ports.first + n }, ...(measuredMiB !== undefined ? { measuredMiB } : {}) })
    const quiet = [1, 2, 3].map((n) => placed(n, 20))
    const busy = [1, 2, 3].map((n) => placed(n, 100))
    const used = (pubs: DesiredPub[]) => capacityReport(pubs, converged(pubs, [H15]), capacity).totals.usedMiB
    expect(used(quiet)).toBe(3 * 43)
    expect(used(busy)).toBe(3 * 128)
  })

  it('keeps the plan memory as the limit in the service spec', () => {
    const p = pub(1, { placement: { hub: H15.id, port: CAPACITY.ports.first } })
    const pass = plan([p], converged([], [H15]), { ...seeds, overcommit: 3 }, NOW)
    expect(pass).toContainEqual({ kind: 'create-service', spec: specOf(p) })
    expect(specOf(p).memoryMiB).toBe(128)
  })
})
