#!/usr/bin/env node
/**
 * `node dist/src/provider/capacity.js [--config FILE] [--json]`: the operator's capacity report (hubs, free room,
 * pubs per hub, queued pubs, hubs needed, cost per pub), the runtime's current notes, and the pubs (and engine)
 * whose attempts are backing off after failures.
 *
 * The running provider's runtime writes the report after every pass that changes it (its data folder's
 * capacity.json), from the same desired state and observed read the pass planned with. Reading that file needs no
 * connection, no second copy of the provider's log, and no second set of Docker calls; its age is printed, so a
 * stopped provider's report cannot pass for a current one.
 */
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { formatCapacityReport } from '../planner/index.js'
import { capacityReportFile } from './runtime-from-settings.js'
import type { BackoffState } from '../orchestrator/backoff.js'
import type { BackoffReport, CapacitySnapshot } from '../orchestrator/runtime.js'
import { DEFAULT_CONFIG_FILE, loadSettings } from './settings.js'

const HELP = `buttcloud capacity: the operator's capacity report, as the running provider's last pass saw it,
and the pubs (or the engine) backing off after failures: failures in a row, last error, next attempt

Usage: node dist/src/provider/capacity.js [--config FILE] [--json]

Options:
  --config FILE   provider settings (default: ssb-config/provider.json, or $BUTTCLOUD_CONFIG)
  --json          print the report as JSON
  -h, --help      this help
`

/** Read the snapshot a provider wrote; undefined when there is none yet. */
export function readCapacitySnapshot(file: string): CapacitySnapshot | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return JSON.parse(text) as CapacitySnapshot
}

/** The snapshot as text: its age, the report's table and lines, the notes, then who is backing off. */
export function formatCapacitySnapshot(s: CapacitySnapshot, now = Date.now()): string {
  const age = Math.max(0, Math.round((now - s.at) / 1000))
  const lines = [`runtime ${s.runtime}, report from ${new Date(s.at).toISOString()} (${age} s ago)`, '']
  lines.push(s.report ? formatCapacityReport(s.report) : 'no capacity report yet: the engine has not answered')
  if (s.notes.length > 0) lines.push('', 'notes:', ...s.notes.map((n) => `  ${n}`))
  lines.push(...formatBackoff(s.backoff, s.at))
  return `${lines.join('\n')}\n`
}

/** Backoff lines: the engine's, then each pub's, with the next attempt counted from the report's time. */
export function formatBackoff(b: BackoffReport | undefined, at: number): string[] {
  const retry = (s: BackoffState) => {
    const inS = Math.ceil((s.nextRetryAt - at) / 1000)
    return inS > 0 ? `next attempt in ${inS} s` : 'next attempt on the next pass'
  }
  const lines: string[] = []
  if (b?.engine) lines.push(`  engine: ${b.engine.failures} failures in a row, ${retry(b.engine)}; last: ${b.engine.lastError}`)
  for (const p of b?.pubs ?? []) lines.push(`  ${p.request}: ${p.failures} failures in a row, ${retry(p)}; last: ${p.lastError}`)
  return lines.length > 0 ? ['', 'backoff:', ...lines] : ['', 'backoff: none']
}

function main(): number {
  const { values } = parseArgs({ options: { config: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  const settings = loadSettings(values.config ?? process.env.BUTTCLOUD_CONFIG ?? DEFAULT_CONFIG_FILE)
  if (settings.runtime.kind === 'none') {
    process.stderr.write('buttcloud capacity: this provider runs no pubs (runtime.kind is "none")\n')
    return 1
  }
  const file = capacityReportFile(settings)
  const snapshot = readCapacitySnapshot(file)
  if (!snapshot) {
    process.stderr.write(`buttcloud capacity: no report yet at ${file}; is the provider running? (it writes one after its first pass)\n`)
    return 1
  }
  process.stdout.write(values.json ? `${JSON.stringify(snapshot, null, 2)}\n` : formatCapacitySnapshot(snapshot))
  return 0
}

// Run only as a program: tests import the reader and formatter.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = main()
  } catch (err) {
    process.stderr.write(`buttcloud capacity: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  }
}
