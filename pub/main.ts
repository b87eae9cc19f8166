/**
 * The hosted pub's entry point. In a container it runs as PID 1, where the kernel installs no default signal
 * handlers: without our own SIGTERM handler `docker stop` would wait out the grace period and SIGKILL the pub.
 *
 * Prints one JSON line with `"event":"ready"` on stdout once it serves (the structured logger's, component `pub`); exits 1 with a one-line reason when it
 * cannot start (98 when its port is in use), 0 after a clean shutdown, 75 with a one-line reason when its disk is
 * full (src/protocol/pub-exit.ts). Runs with umask 077.
 */
import { readSettings, SettingsError } from './settings.js'
import { PortTakenError, startPub, type RunningPub } from './server.js'
import { PUB_EXIT } from '../src/protocol/pub-exit.js'
import { usePrivateUmask } from '../src/files/private.js'
import { isDiskFull } from '../src/files/disk.js'
import { createLogger } from '../src/log/logger.js'

// How long closing may take before we give up on a clean exit (Swarm's grace period is the outer bound).
const CLOSE_TIMEOUT_MS = 8000

async function main(): Promise<void> {
  let pub: RunningPub | null = null
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    log({ event: 'stopping', signal })
    // A signal during startup: nothing to close yet, and startPub's failure path closes what it opened.
    if (!pub) process.exit(0)
    const timer = setTimeout(() => {
      log({ event: 'stop-timeout', ms: CLOSE_TIMEOUT_MS })
      process.exit(1)
    }, CLOSE_TIMEOUT_MS)
    timer.unref()
    const ingest = pub.ingest()
    pub.close().then(
      () => {
        log({ event: 'stopped', ingest })
        process.exit(0)
      },
      (err: Error) => {
        log({ event: 'stop-failed', error: err.message })
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)

  // Everything the pub writes (log, indexes, keyring) is for its own user, in a container or not.
  usePrivateUmask()
  const started = Date.now()
  const settings = readSettings()
  pub = await startPub(settings)
  pub.disk?.onChange(() => log({ event: 'disk', ...pub!.disk!.usage() }))
  log({
    event: 'ready',
    id: pub.id,
    address: pub.address,
    name: settings.name,
    published: pub.published,
    web: pub.webPort,
    ...(pub.webError ? { webError: pub.webError } : {}),
    ...(pub.disk ? { disk: pub.disk.usage() } : {}),
    ms: Date.now() - started,
  })
}

// The one structured logger, on stdout (the ready line is what the drivers wait for); `event` names each line.
const logger = createLogger('pub', 'stdout')
function log(fields: { event: string } & Record<string, unknown>): void {
  logger.info(fields, fields.event)
}

// Out of disk space: one line and a clean exit (the provider restarts it with a backoff) instead of a stack trace.
process.on('uncaughtException', (err) => {
  const full = isDiskFull(err)
  process.stderr.write(full ? `pub: the disk is full (${err.message.split('\n')[0]!.slice(0, 200)}); stopping\n` : `${err.stack ?? String(err)}\n`)
  process.exit(full ? PUB_EXIT.diskFull : 1)
})

main().catch((err: Error) => {
  const reason = err instanceof SettingsError ? err.message : describe(err)
  process.stderr.write(`pub: cannot start: ${reason}\n`)
  // A taken port is the hub's state, not the pub's fault: a code of its own lets the provider move it elsewhere.
  process.exit(err instanceof PortTakenError ? PUB_EXIT.portTaken : 1)
})

function describe(err: Error): string {
  const causes: string[] = [err.message]
  let at: unknown = err.cause
  while (at instanceof Error && causes.length < 4) {
    causes.push(at.message)
    at = at.cause
  }
  return causes.join(': ')
}
