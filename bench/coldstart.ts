/**
 * Cold start at scale: a provider whose log holds N pub records (10 control messages each: request, four owner
 * commands, four replies, one status). Measures the time until the plugin has caught up and answers the
 * operator's list, and its RSS, in a fresh process; the floor is a plain sbot opening the same log, measured in the
 * same run (x_floor: wall time over the floor's).
 * Targets at 10,000 pubs (100,000 messages): first start after an index rebuild < 5 s and < 250 MB; restart < 2 s.
 * The log is written as the provider's sbot writes it, with its box1 key cache (src/ssb/box1-key-cache.ts) filling
 * as it goes; a provider upgraded from a release without the cache pays the full decryption once, on its first start.
 *
 * Run alone: node --import tsx bench/coldstart.ts [pubs]
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import type { Db2 } from '../src/ssb/db2.js'
import { generateKeys, keysFileText, type SsbKeys } from '../src/ssb/keys.js'
import { applyDb2Patches } from '../src/ssb/patches.js'
import { closeSbot, createSbot } from '../src/ssb/server.js'
import { sbotConfig } from '../src/ssb/config.js'
import { NO_RUNTIME_REASON } from '../src/control/status.js'
import { BOX1_KEYS_FILE, installBox1KeyCache } from '../src/ssb/box1-key-cache.js'
import { runAsMain, type BenchResult } from './report.js'

const PUBS_PER_OWNER = 5
const TARGET_MS = 5_000
const TARGET_RESTART_MS = 2_000
const TARGET_RSS = 250 * 1024 * 1024

function create(db: Db2, content: { type: string; recps?: string[]; [field: string]: unknown }, keys?: SsbKeys): Promise<{ key: string }> {
  return new Promise((resolve, reject) =>
    db.create({ content, keys, ...(content.recps ? { encryptionFormat: 'box' as const } : {}) }, (err, msg) =>
      err ? reject(err) : resolve(msg),
    ),
  )
}

/** Write a provider log with `pubs` records into a fresh folder; returns the folder. */
export async function generate(pubs: number): Promise<{ dir: string; seconds: number }> {
  const t0 = performance.now()
  const dir = mkdtempSync(join(tmpdir(), 'bc-coldstart-'))
  const keys = generateKeys()
  writeFileSync(join(dir, 'secret'), keysFileText(keys), { mode: 0o600 })
  applyDb2Patches()
  const sbot = createSbot(sbotConfig({ path: dir, keys, host: '127.0.0.1', port: 0, allowPrivate: true }))
  // As the provider's own sbot would (its plugin installs it): the keys of what it reads are remembered meanwhile.
  const keyCache = installBox1KeyCache(sbot, join(dir, BOX1_KEYS_FILE))
  const provider = keys.id
  let providerMessages = 0
  const owners = Math.ceil(pubs / PUBS_PER_OWNER)
  for (let o = 0; o < owners; o++) {
    const owner = generateKeys()
    const recps = [owner.id, provider]
    for (let p = 0; p < PUBS_PER_OWNER && o * PUBS_PER_OWNER + p < pubs; p++) {
      const req = await create(sbot.db, { type: 'buttcloud/request', version: 1, provider, plan: 'free', name: `pub ${o}.${p}`, recps }, owner)
      for (const verb of ['restart', 'stop', 'start', 'restart']) {
        const cmd = await create(sbot.db, { type: 'buttcloud/command', version: 1, request: req.key, verb, recps }, owner)
        const note = verb === 'restart' ? 'restarting' : verb === 'stop' ? 'stopping; data is kept' : 'starting'
        await create(sbot.db, { type: 'buttcloud/reply', version: 1, command: cmd.key, request: req.key, ok: true, result: { message: note }, recps })
        providerMessages++
      }
      await create(sbot.db, { type: 'buttcloud/status', version: 1, request: req.key, state: 'queued', reason: NO_RUNTIME_REASON, recps })
      providerMessages++
    }
  }
  keyCache?.flush()
  await closeSbot(sbot)
  // ssb-db2 finishes index writes shortly after close (docs/ssb-stack.md).
  await new Promise((r) => setTimeout(r, 2000))
  writeFileSync(join(dir, 'bench-meta.json'), JSON.stringify({ pubs, pubsPerOwner: PUBS_PER_OWNER, providerMessages }))
  return { dir, seconds: (performance.now() - t0) / 1000 }
}

/** The provider child's heap at the moment it was ready (MB): the V8 heap in use, and buffers outside it. */
interface HeapAtReady {
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
}

function child(mode: 'provider' | 'floor', dir: string): { ms: number; cpuMs: number; rss: number; messages: number; pubs?: number; published?: number; heap?: HeapAtReady } {
  const js = fileURLToPath(new URL('./coldstart-child.js', import.meta.url))
  const args = existsSync(js) ? [js] : ['--import', 'tsx', fileURLToPath(new URL('./coldstart-child.ts', import.meta.url))]
  const out = execFileSync(process.execPath, [...args, mode, dir], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'ignore'] })
  return JSON.parse(out.trim().split('\n').pop()!)
}

/** Where a provider's RSS was when it was ready: the heap in use and the buffers outside it (docs/ssb-stack.md). */
function heapColumns(heap: HeapAtReady | undefined): Record<string, number> {
  return heap ? { heap_used_mb: heap.heapUsed, buffers_mb: heap.arrayBuffers } : {}
}

/** Generate the log, then measure the floor and the provider cold start, each in a fresh process. */
export async function run(pubs = 10_000): Promise<BenchResult> {
  const { dir, seconds } = await generate(pubs)
  try {
    // Warm the OS page cache the same way for all: one throwaway floor run first.
    child('floor', dir)
    const floor = child('floor', dir)
    const firstStart = child('provider', dir)
    const restart = child('provider', dir)
    const mb = (b: number) => Math.round(b / 1024 / 1024)
    // Against the floor of this run: on a shared machine the wall times of one run move together.
    const xFloor = (r: { ms: number }) => Math.round((r.ms / floor.ms) * 10) / 10
    // The only message a cold start may publish is the offer, once, on the very first start.
    const ok = (r: typeof restart, ms: number) => r.ms < ms && r.rss < TARGET_RSS && r.pubs === pubs && r.published === 1
    return {
      name: 'coldstart',
      rows: [
        { run: 'floor: plain sbot opens the log (base index drained)', messages: floor.messages, seconds: floor.ms / 1000, cpu_seconds: floor.cpuMs / 1000, rss_mb: mb(floor.rss) },
        { run: 'provider, first start: builds its index, listAll answered', messages: firstStart.messages, seconds: firstStart.ms / 1000, x_floor: xFloor(firstStart), cpu_seconds: firstStart.cpuMs / 1000, rss_mb: mb(firstStart.rss), ...heapColumns(firstStart.heap) },
        { run: 'provider, restart: reads its index, listAll answered', messages: restart.messages, seconds: restart.ms / 1000, x_floor: xFloor(restart), cpu_seconds: restart.cpuMs / 1000, rss_mb: mb(restart.rss), ...heapColumns(restart.heap) },
        { run: 'targets: first start', messages: pubs * 10, seconds: TARGET_MS / 1000, rss_mb: mb(TARGET_RSS) },
        { run: 'targets: restart', messages: pubs * 10, seconds: TARGET_RESTART_MS / 1000, rss_mb: mb(TARGET_RSS) },
      ],
      json: { pubs, generateSeconds: seconds, floor, firstStart, restart, firstStartXFloor: xFloor(firstStart), restartXFloor: xFloor(restart), pass: ok(firstStart, TARGET_MS) && ok(restart, TARGET_RESTART_MS) },
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

runAsMain(import.meta.url, () => run(Number(process.argv[2] ?? 10_000)))
