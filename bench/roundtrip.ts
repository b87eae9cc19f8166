/**
 * Round trip: the user publishes a request -> the user's sbot receives the provider's status. Side by side,
 * in the same run and between the same two sbots, the floor: the user publishes a plain message -> the provider
 * answers with a plain boxed message (no plugin logic) -> it replicates back. Target: median within 1.5x.
 *
 * Run alone: node --import tsx bench/roundtrip.ts [iterations]
 */
import { performance } from 'node:perf_hooks'
import { publish } from '../src/ssb/db2.js'
import { echoPings, watchArrivals } from './replication.js'
import { joinWithInvite, startPeer, startTestProvider, testProviderSettings } from '../testkit/sbots.js'
import { percentiles, runAsMain, type BenchResult } from './report.js'

const TARGET_RATIO = 1.5

/** Run the benchmark with `iterations` of each kind, interleaved. */
export async function run(iterations = 30): Promise<BenchResult> {
  const provider = await startTestProvider(testProviderSettings({ buttcloud: { pubsPerOwner: 1000 } }))
  const user = startPeer()
  try {
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)

    const echo = echoPings(provider.sbot, user.id)
    const watch = watchArrivals(user.sbot, provider.id)

    // Three unmeasured rounds first (i < 0) warm up replication and the indexes.
    const floor: number[] = []
    const request: number[] = []
    for (let i = -3; i < iterations; i++) {
      let t = performance.now()
      const pong = watch.arrival(`pong:${i}`)
      await publish(user.sbot.db, { type: 'bench/ping', n: i, recps: [user.id, provider.id] })
      await pong
      if (i >= 0) floor.push(performance.now() - t)

      t = performance.now()
      // The key is known once published, long before any status about it can have replicated back.
      const msg = await publish(user.sbot.db, {
        type: 'buttcloud/request',
        version: 1,
        provider: provider.id,
        plan: 'free',
        recps: [user.id, provider.id],
      })
      await watch.arrival(`status:${msg.key}`)
      if (i >= 0) request.push(performance.now() - t)
    }
    echo.stop()
    watch.stop()

    const f = percentiles(floor)
    const r = percentiles(request)
    const ratio = r.median / f.median
    return {
      name: 'roundtrip',
      rows: [
        { path: 'floor: publish -> boxed answer replicated back', n: floor.length, median_ms: f.median, p95_ms: f.p95, min_ms: f.min },
        { path: 'request -> status at the user', n: request.length, median_ms: r.median, p95_ms: r.p95, min_ms: r.min },
        { path: `ratio (target <= ${TARGET_RATIO})`, n: '', median_ms: ratio, p95_ms: r.p95 / f.p95, min_ms: '' },
      ],
      json: { iterations, floor: f, request: r, ratio, target: TARGET_RATIO, pass: ratio <= TARGET_RATIO },
    }
  } finally {
    await user.stop()
    await provider.stop()
  }
}

runAsMain(import.meta.url, () => run(Number(process.argv[2] ?? 30)))
