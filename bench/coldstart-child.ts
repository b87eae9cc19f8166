/**
 * One cold start, in a fresh process so its RSS is its own: either the provider with the plugin (time until
 * it has caught up and answers the operator's list) or the floor (a plain sbot reading the same messages).
 * Prints one JSON line. The provider mode is run twice by the bench: the first start builds the buttcloud
 * index from the log; a restart reads the index back.
 */
import { performance } from 'node:perf_hooks'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { call } from '../src/ssb/client.js'
import { loadKeys } from '../src/ssb/keys.js'
import { applyDb2Patches } from '../src/ssb/patches.js'
import { closeSbot, createSbot } from '../src/ssb/server.js'
import { sbotConfig } from '../src/ssb/config.js'
import { startProvider } from '../src/provider/provider.js'
import { ProviderSettings } from '../src/provider/settings.js'

const [mode, dir] = process.argv.slice(2) as ['provider' | 'floor', string]
const meta = JSON.parse(readFileSync(join(dir, 'bench-meta.json'), 'utf8')) as { pubs: number; pubsPerOwner: number }

/** CPU time this process has used (user and system): on a shared, loaded machine wall time says little alone. */
function cpuMsSinceStart(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024)

const t0 = performance.now()
if (mode === 'provider') {
  const settings = ProviderSettings.parse({
    path: dir,
    host: '127.0.0.1',
    port: 0,
    allowPrivate: true,
    buttcloud: { pubsPerOwner: meta.pubsPerOwner, passIntervalMs: 600_000 },
  })
  const provider = await startProvider(settings, { log: () => undefined })
  const all = await call<unknown[]>(provider.api.listAll)
  const ms = performance.now() - t0
  const cpuMs = cpuMsSinceStart()
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
  const health = await call<{ messages: number }>(provider.api.health)
  // Messages published since the log was generated (only the offer, on the first start): compare sequences.
  const state = await call<{ sequence: number }>(provider.sbot.getFeedState as (...a: unknown[]) => void, provider.id)
  const published = state.sequence - (meta as unknown as { providerMessages: number }).providerMessages
  await provider.close()
  // Where the RSS is (MB): the V8 heap in use and reserved, and memory outside it (buffers).
  const heap = { heapUsed: mb(heapUsed), heapTotal: mb(heapTotal), external: mb(external), arrayBuffers: mb(arrayBuffers) }
  console.log(JSON.stringify({ mode, ms, cpuMs, rss, heap, pubs: all.length, messages: health.messages, published }))
} else {
  // The floor: the same sbot stack opening the same log until its base index has caught up, reading nothing.
  const keys = loadKeys(join(dir, 'secret'))
  applyDb2Patches()
  const sbot = createSbot(sbotConfig({ path: dir, keys, host: '127.0.0.1', port: 0, allowPrivate: true }))
  await new Promise<void>((resolve) => sbot.db.onDrain('base', () => resolve()))
  const ms = performance.now() - t0
  const cpuMs = cpuMsSinceStart()
  const rss = process.memoryUsage().rss
  const logBytes = sbot.db.getStatus().value.log
  await closeSbot(sbot)
  console.log(JSON.stringify({ mode, ms, cpuMs, rss, messages: meta.pubs * 10, logBytes }))
}
process.exit(0)
