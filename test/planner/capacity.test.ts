import { describe, expect, it } from 'vitest'
import { capacityReport, formatCapacityReport, formatTable } from '../../src/planner/index.js'
import { CAPACITY, NOW, converged, hub, pub } from '../../testkit/planner-fixtures.js'

const usable = CAPACITY.hubMemoryMiB - CAPACITY.headroomMiB
const H1 = hub(1)
const H2 = hub(2, { foreignReservedMiB: 2048, ready: false })

describe('capacity report', () => {
  const placed = [1, 2, 3].map((n) => pub(n, { placement: { hub: H1.id, port: 20000 + n }, memoryMiB: 256 }))
  const stopped = pub(4, { placement: { hub: H1.id, port: 20010 }, intent: 'stopped' })
  const destroyed = pub(5, { placement: { hub: H1.id, port: 20011 }, intent: 'destroyed', destroyedAt: NOW })
  const waiting = pub(6, { memoryMiB: usable + 1 })
  const desired = [...placed, stopped, destroyed, waiting]
  const report = capacityReport(desired, converged(desired, [H1, H2]), CAPACITY)

  it('lists each hub with its room, pubs and ports', () => {
    const held = placed.reduce((n, p) => n + p.memoryMiB, 0) + stopped.memoryMiB
    expect(report.hubs).toEqual([
      { id: H1.id, name: H1.name, schedulable: true, capacityMiB: usable, usedMiB: held, freeMiB: usable - held, pubs: 4, freePorts: 10000 - 5 },
      { id: H2.id, name: H2.name, schedulable: false, capacityMiB: usable - 2048, usedMiB: 0, freeMiB: usable - 2048, pubs: 0, freePorts: 10000 },
    ])
    expect(report.totals).toEqual({
      hubs: 2,
      schedulable: 1,
      capacityMiB: 2 * usable - 2048,
      usedMiB: held,
      freeMiB: 2 * usable - 2048 - held,
      pubs: 4,
    })
  })

  it('says what is queued and how many hubs of which size would take it', () => {
    expect(report.queued).toEqual({ pubs: 1, memoryMiB: waiting.memoryMiB })
    expect(report.hubsNeeded).toEqual({ count: 1, memoryMiB: waiting.memoryMiB + CAPACITY.headroomMiB })
  })

  it('prices pubs: the average over placed pubs and each size at full packing', () => {
    const price = CAPACITY.hubPrice!.amountPerMonth
    expect(report.cost).toEqual({
      currency: 'usd',
      perHub: price,
      perPubAverage: Math.round((price * 2) / 4),
      perPlanAtFullPacking: [
        { memoryMiB: 128, pubs: 1, cost: Math.round((price * 128) / usable) },
        { memoryMiB: 256, pubs: 3, cost: Math.round((price * 256) / usable) },
        { memoryMiB: waiting.memoryMiB, pubs: 1, cost: Math.round((price * waiting.memoryMiB) / usable) },
      ],
    })
  })

  it('has no cost section without a hub price', () => {
    const { hubPrice: _none, ...unpriced } = CAPACITY
    expect(capacityReport(desired, converged(desired, [H1]), unpriced).cost).toBeUndefined()
  })

  it('formats as a table with a total line, the queue and the prices', () => {
    const text = formatCapacityReport(report)
    const lines = text.split('\n')
    expect(lines[0]).toMatch(/^hub\s+id\s+schedulable\s+capacity MiB/)
    expect(lines.find((l) => l.startsWith(H1.name))).toContain(String(usable))
    expect(lines.find((l) => l.startsWith('total'))).toContain('1/2')
    expect(text).toContain(`hubs needed: 1 x ${waiting.memoryMiB + CAPACITY.headroomMiB} MiB`)
    expect(text).toContain(`${(CAPACITY.hubPrice!.amountPerMonth / 100).toFixed(2)} usd per hub`)
  })
})

describe('formatTable', () => {
  it('aligns text left and numbers right under a rule', () => {
    const text = formatTable([
      { name: 'a', n: 5 },
      { name: 'longer', n: 12345 },
    ])
    expect(text.split('\n')).toEqual(['name        n', '------  -----', 'a           5', 'longer  12345'])
  })

  it('is empty for no rows', () => {
    expect(formatTable([])).toBe('')
  })
})
