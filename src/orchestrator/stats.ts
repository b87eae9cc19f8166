/**
 * Stats: samples per pub (taken node by node by the driver) kept in a bounded ring, summarised over a window into
 * the protocol's StatsSummary. Bounded on both axes on purpose: a ring per pub (old samples fall off) and only pubs
 * still listed (the runtime retains the current ones), so memory stays flat however long the provider runs.
 *
 * Counters (CPU time, bytes) are cumulative per instance; rates come from consecutive samples of the same instance,
 * so a restart (a new container or process) starts a new series instead of showing a negative rate.
 */
import type { MsgId } from '../protocol/ids.js'
import type { StatsSummary } from '../protocol/stats.js'
import type { StatsSample } from '../control/driver.js'

export interface StatsBookOptions {
  /** Summaries cover this long, ending now (the default daily summary covers a day). */
  windowMs: number
  /** Samples kept per pub, newest last. */
  maxSamples: number
}

export const DEFAULT_STATS_BOOK: StatsBookOptions = { windowMs: 24 * 3600_000, maxSamples: 300 }

/** Fallbacks when a pub has no samples yet (just created, or stopped the whole window). */
export interface SummaryHints {
  limitBytes: number
  /** Seconds since the running instance started, when the runtime knows it from task state. */
  uptimeSeconds?: number
}

const clamp = (n: number, max: number) => Math.min(max, Math.max(0, Math.round(n * 100) / 100))

export class StatsBook {
  private readonly rings = new Map<MsgId, StatsSample[]>()

  constructor(private readonly opts: StatsBookOptions = DEFAULT_STATS_BOOK) {}

  /** Add one round of samples. */
  add(samples: readonly StatsSample[]): void {
    for (const s of samples) {
      let ring = this.rings.get(s.request)
      if (!ring) this.rings.set(s.request, (ring = []))
      ring.push(s)
      if (ring.length > this.opts.maxSamples) ring.splice(0, ring.length - this.opts.maxSamples)
    }
  }

  /** Forget pubs not in `requests`. */
  retain(requests: ReadonlySet<MsgId>): void {
    for (const request of this.rings.keys()) if (!requests.has(request)) this.rings.delete(request)
  }

  /** When the pub's newest sample was taken, if it has one. */
  lastAt(request: MsgId): number | undefined {
    const ring = this.rings.get(request)
    return ring?.[ring.length - 1]?.at
  }

  /** The highest memory use sampled for the pub (bytes), if it has samples. */
  peakBytes(request: MsgId): number | undefined {
    const ring = this.rings.get(request)
    if (!ring?.length) return undefined
    let peak = 0
    for (const s of ring) if (s.memoryBytes > peak) peak = s.memoryBytes
    return peak
  }

  /** How many samples are held in all (for tests of the bound). */
  get size(): number {
    let n = 0
    for (const ring of this.rings.values()) n += ring.length
    return n
  }

  /** The summary of one pub's samples in the window ending at `now`. */
  summary(request: MsgId, now: number, hints: SummaryHints): StatsSummary {
    const from = now - this.opts.windowMs
    const samples = (this.rings.get(request) ?? []).filter((s) => s.at >= from && s.at <= now)
    let cpuNanos = 0
    let cpuMs = 0
    let cpuMax = 0
    let rx = 0
    let tx = 0
    // Traffic is reported only when the driver could attribute it to this pub (not on the host network).
    let measuredNetwork = false
    let restarts = 0
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1]!
      const b = samples[i]!
      if (a.instance !== b.instance) {
        restarts++
        continue
      }
      const dt = b.at - a.at
      const dcpu = b.cpuNanos - a.cpuNanos
      if (dt > 0 && dcpu >= 0) {
        cpuNanos += dcpu
        cpuMs += dt
        cpuMax = Math.max(cpuMax, (dcpu / (dt * 1e6)) * 100)
      }
      if (a.rxBytes !== undefined || a.txBytes !== undefined) measuredNetwork = true
      if (a.rxBytes !== undefined && b.rxBytes !== undefined && b.rxBytes >= a.rxBytes) rx += b.rxBytes - a.rxBytes
      if (a.txBytes !== undefined && b.txBytes !== undefined && b.txBytes >= a.txBytes) tx += b.txBytes - a.txBytes
    }
    const last = samples[samples.length - 1]
    const memory = samples.map((s) => s.memoryBytes)
    const uptime = last ? Math.max(0, Math.floor((now - last.startedAt) / 1000)) : (hints.uptimeSeconds ?? 0)
    return {
      window: { from: Math.max(0, samples[0]?.at ?? now), to: now },
      samples: samples.length,
      cpu: { avgPercent: clamp(cpuMs > 0 ? (cpuNanos / (cpuMs * 1e6)) * 100 : 0, 100_000), maxPercent: clamp(cpuMax, 100_000) },
      memory: {
        avgBytes: memory.length ? Math.round(memory.reduce((n, m) => n + m, 0) / memory.length) : 0,
        maxBytes: memory.length ? Math.max(...memory) : 0,
        limitBytes: last?.memoryLimitBytes || hints.limitBytes,
      },
      ...(measuredNetwork ? { network: { rxBytes: rx, txBytes: tx } } : {}),
      uptimeSeconds: uptime,
      restarts,
    }
  }
}
