#!/usr/bin/env node
/**
 * `npm start`: run the provider on embedded defaults (ssb-config/provider.json; environment overrides).
 * Prints its id, address and an invite for Patchwork's "Join pub", then runs until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util'
import { DEFAULT_CONFIG_FILE, ENV_OVERRIDES, loadSettings } from './settings.js'
import { startProvider } from './provider.js'
import { isDiskFull } from '../files/disk.js'

const HELP = `buttcloud-provider: run a ButtCloud provider (an sbot with the buttcloud plugin)

Usage: npm start [-- --config FILE]

Options:
  --config FILE   provider settings (default: ssb-config/provider.json)
  -h, --help      this help

Environment overrides: ${Object.keys(ENV_OVERRIDES).join(', ')}
`

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  // Listening first: a SIGTERM that comes while the provider starts (or races its banner) still stops it cleanly.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  const settings = loadSettings(values.config ?? process.env.BUTTCLOUD_CONFIG ?? DEFAULT_CONFIG_FILE)
  const provider = await startProvider(settings)
  const invite = await provider.createInvite()
  process.stdout.write(
    [
      'ButtCloud provider is running.',
      `  id:       ${provider.id}`,
      `  address:  ${provider.address}`,
      `  data:     ${settings.path}`,
      `  runtime:  ${settings.runtime.kind}`,
      `  payment:  ${provider.payment.stripe ? 'Stripe' : 'none (every plan is free)'}${provider.siteUrl ? `; site ${provider.siteUrl}` : ''}`,
      '',
      `Paste this invite into Patchwork ("Join pub"), or run \`buttcloud join <invite>\``,
      `(good for ${settings.inviteUses} people until ${new Date(Date.now() + settings.inviteTtlMs).toISOString().slice(0, 16).replace('T', ' ')} UTC; restart for a fresh one):`,
      `  ${invite}`,
      '',
      'Then ask for a pub: `buttcloud request --name my-pub --watch`',
      '',
    ].join('\n'),
  )
  await stopped
  await provider.close()
  return 0
}

/** End the provider with one clear line: everything it acknowledged is on disk, its pubs run on. */
function stopForFullDisk(err: Error): never {
  process.stderr.write(
    `buttcloud-provider: the disk is full (${err.message.split('\n')[0]!.slice(0, 200)}); stopping now so nothing half-written is acknowledged. Free some space and start it again: nothing acknowledged is lost, and its pubs keep running.\n`,
  )
  process.exit(75)
}

// A write that fails for lack of space (ssb-db2 throws it from a callback) ends the provider with one clear line,
// and a restart after space is freed redoes the rest.
process.on('uncaughtException', (err) => {
  if (!isDiskFull(err)) {
    // Anything else is a bug: the same stack trace and exit code Node would give without this handler.
    process.stderr.write(`${err.stack ?? String(err)}\n`)
    process.exit(1)
  }
  stopForFullDisk(err)
})

// ssb-db2 reports some failed writes (its indexes' number files) with console.error rather than an error anyone can
// catch. On a full disk that is not fatal (an index is rebuilt from the log), so say it once, in one line, instead of
// a page of stack traces; the disk guard and the uncaught handler above deal with the disk itself.
const consoleError = console.error.bind(console)
let toldIndexFull = false
console.error = (...args: unknown[]) => {
  if (!args.some((a) => a instanceof Error && isDiskFull(a))) return consoleError(...args)
  if (toldIndexFull) return
  toldIndexFull = true
  process.stderr.write('buttcloud-provider: the disk is full: an index could not be saved (it is rebuilt from the log once there is room)\n')
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`buttcloud-provider: ${err instanceof Error ? err.message : String(err)}\n`)
    if (err instanceof Error && err.cause) process.stderr.write(`  cause: ${String((err.cause as Error).message ?? err.cause)}\n`)
    process.exit(1)
  },
)
