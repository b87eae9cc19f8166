import { describe, expect, it } from 'vitest'
import type { StatsSample } from '../../src/control/driver.js'
import { StatsBook } from '../../src/orchestrator/stats.js'
import { StatsSummary } from '../../src/protocol/stats.js'
import { msgId } from './fakes.js'

const A = msgId('stats a')
const B = msgId('stats b')
const MiB = 1024 * 1024

function sample(at: number, over: Partial<StatsSample> = {}): StatsSample {
  return { request: A, at, instance: 'c1', startedAt: 0, cpuNanos: 0, memoryBytes: 10 * MiB, memoryLimitBytes: 128 * MiB, ...over }
}

describe('StatsBook', () => {
  it('derives CPU from consecutive samples of one instance and counts a new instance as a restart', () => {
    const book = new StatsBook({ windowMs: 60_000, maxSamples: 100 })
    book.add([
      sample(1_000, { cpuNanos: 0, memoryBytes: 10 * MiB, rxBytes: 100, txBytes: 10 }),
      // 0.5 s of CPU in 1 s: 50 %.
      sample(2_000, { cpuNanos: 5e8, memoryBytes: 30 * MiB, rxBytes: 400, txBytes: 30 }),
      // 0.1 s in 1 s: 10 %.
      sample(3_000, { cpuNanos: 6e8, memoryBytes: 20 * MiB, rxBytes: 500, txBytes: 40 }),
      // Restarted: its counters start again and must not count as negative use.
      sample(4_000, { instance: 'c2', startedAt: 3_500, cpuNanos: 1e6, memoryBytes: 20 * MiB, rxBytes: 5, txBytes: 5 }),
    ])
    const s = book.summary(A, 4_500, { limitBytes: 1 })
    expect(s).toEqual({
      window: { from: 1_000, to: 4_500 },
      samples: 4,
      cpu: { avgPercent: 30, maxPercent: 50 },
      memory: { avgBytes: 20 * MiB, maxBytes: 30 * MiB, limitBytes: 128 * MiB },
      network: { rxBytes: 400, txBytes: 30 },
      uptimeSeconds: 1,
      restarts: 1,
    })
    expect(StatsSummary.safeParse(s).success).toBe(true)
  })

  it('summarises only the window, and falls back to hints with no samples', () => {
    const book = new StatsBook({ windowMs: 10_000, maxSamples: 100 })
    book.add([sample(1_000, { memoryBytes: 99 * MiB }), sample(50_000), sample(51_000, { cpuNanos: 1e9 })])
    const s = book.summary(A, 55_000, { limitBytes: 1 })
    expect(s.samples).toBe(2)
    expect(s.memory.maxBytes).toBe(10 * MiB)
    expect(s.cpu.maxPercent).toBe(100)

    const empty = book.summary(B, 55_000, { limitBytes: 128 * MiB, uptimeSeconds: 7 })
    expect(empty).toMatchObject({ samples: 0, window: { from: 55_000, to: 55_000 }, uptimeSeconds: 7, memory: { limitBytes: 128 * MiB } })
    expect(StatsSummary.safeParse(empty).success).toBe(true)
  })

  it('stays bounded: a ring per pub, and only the pubs retained', () => {
    const book = new StatsBook({ windowMs: 1e12, maxSamples: 5 })
    for (let i = 0; i < 100; i++) book.add([sample(i * 1000), sample(i * 1000, { request: B })])
    expect(book.size).toBe(10)
    expect(book.summary(A, 1e6, { limitBytes: 0 }).window.from).toBe(95_000)
    expect(book.lastAt(A)).toBe(99_000)
    book.retain(new Set([B]))
    expect(book.size).toBe(5)
    expect(book.lastAt(A)).toBeUndefined()
  })
})
