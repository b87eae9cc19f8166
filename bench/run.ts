/**
 * `npm run bench [name...]`: run benchmarks by name (default: all) and print each one's table and JSON.
 * Every benchmark measures its own floor in the same run, so figures compare like with like on this machine.
 */
import { printResult, type BenchResult } from './report.js'

const BENCHES: Record<string, () => Promise<{ run(): Promise<BenchResult> }>> = {
  roundtrip: () => import('./roundtrip.js'),
  coldstart: () => import('./coldstart.js'),
  planning: () => import('./planning.js'),
  density: () => import('./density.js'),
  'density-many': () => import('./density-many.js'),
  webhooks: () => import('./webhooks.js'),
  provisioning: () => import('./provisioning.js'),
  feedcost: () => import('./feedcost.js'),
  fanout: () => import('./fanout.js'),
  blobs: () => import('./blobs.js'),
}

async function main(): Promise<number> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'))
  if (process.argv.includes('--help')) {
    process.stdout.write(`Usage: npm run bench [-- name...]\nBenchmarks: ${Object.keys(BENCHES).join(', ')}\n`)
    return 0
  }
  const unknown = asked.filter((n) => !(n in BENCHES))
  if (unknown.length) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}\n`)
    return 2
  }
  for (const name of asked.length ? asked : Object.keys(BENCHES)) {
    process.stderr.write(`running ${name}...\n`)
    const mod = await BENCHES[name]!()
    printResult(await mod.run())
  }
  return 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  },
)
