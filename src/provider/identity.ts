#!/usr/bin/env node
/**
 * `node dist/src/provider/identity.js backup|restore|catch-up`: the operator's tool to bring a provider back on a new
 * machine with the same identity and records, without ever forking its feed (docs/restore.md).
 */
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { catchUp } from './catch-up.js'
import { clearRestorePending, makeBackup, readBackup, restoreBackup, restorePending, RestoreRefused, writePrivateFile } from './identity-store.js'
import { DEFAULT_CONFIG_FILE, loadSettings } from './settings.js'

/** Exit codes, also listed in the help. */
export const IDENTITY_EXIT = { OK: 0, FAILED: 1, USAGE: 2, REFUSED: 3, NOT_CAUGHT_UP: 4 } as const

const HELP = `buttcloud identity: back up a provider, and restore it on a new machine without forking its feed

Usage:
  node dist/src/provider/identity.js backup FILE [--config FILE]
  node dist/src/provider/identity.js restore FILE [--config FILE] (--peer ADDRESS ... | --no-peer-has-newer)
  node dist/src/provider/identity.js catch-up [--config FILE] (--peer ADDRESS ... | --no-peer-has-newer)

backup    writes FILE (mode 0600): the provider's key, its settings file, every message of its own feed, and its
          private journals (placements, payments, members). Works with the provider running or stopped.
restore   into the data folder of the settings (which must not hold a key or log yet): writes the settings file if
          there is none at --config, the key (0600), the journals and the feed (each message's signature is
          checked again); then catches up as below. Until it has, the provider refuses to start.
catch-up  replicates the provider's own feed from each --peer (its users' sbots, its pubs: anyone who replicates
          it) until it holds as much as every one of them. Only then may the provider publish again.

Options:
  --config FILE        provider settings (default: ssb-config/provider.json, or $BUTTCLOUD_CONFIG)
  --peer ADDRESS       a peer to fetch the provider's feed from (net:host:port~shs:key); repeat for more
  --no-peer-has-newer  the operator states that no peer can hold messages of this provider newer than the backup,
                       and the provider may publish from the backup's end (a wrong statement forks the feed)
  --timeout-ms N       how long to wait for the peers (default 60000)
  -h, --help           this help

Exit codes: 0 done (the provider may start), 1 failed, 2 usage, 3 refused (a data folder that already holds a
provider, or a backup that does not verify), 4 not caught up (a peer unreachable or ahead; run catch-up again).
`

class UsageError extends Error {}

function parseOptions(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        peer: { type: 'string', multiple: true },
        'no-peer-has-newer': { type: 'boolean' },
        'timeout-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv)
  if (values.help) {
    process.stdout.write(HELP)
    return IDENTITY_EXIT.OK
  }
  const [command, file, ...extra] = positionals
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`)
  const configFile = resolve(values.config ?? process.env.BUTTCLOUD_CONFIG ?? DEFAULT_CONFIG_FILE)
  const peers = values.peer ?? []
  const noNewer = values['no-peer-has-newer'] ?? false
  const timeoutMs = values['timeout-ms'] === undefined ? 60_000 : Number(values['timeout-ms'])
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new UsageError('--timeout-ms takes a whole number of milliseconds')
  const say = (line: string) => process.stderr.write(`${line}\n`)

  const finish = async (): Promise<number> => {
    const settings = loadSettings(configFile)
    if (!restorePending(settings.path)) {
      say(`${settings.path} has no restore waiting to catch up: nothing to do`)
      return IDENTITY_EXIT.OK
    }
    if (noNewer) {
      clearRestorePending(settings.path)
      say('the operator states no peer holds newer messages: the provider may publish from the backup\'s end')
      return IDENTITY_EXIT.OK
    }
    const result = await catchUp(settings, peers, { timeoutMs, log: say })
    for (const p of result.peers) say(`  ${p.address}: ${p.latest !== undefined ? `holds ${p.latest}` : `unreachable (${p.error})`}`)
    if (!result.caughtUp) {
      say('not caught up: the provider will not start. Run catch-up again when the peers answer.')
      return IDENTITY_EXIT.NOT_CAUGHT_UP
    }
    process.stdout.write(`caught up at sequence ${result.latest}: the provider may start\n`)
    return IDENTITY_EXIT.OK
  }
  const needPeers = () => {
    if (peers.length === 0 && !noNewer) throw new UsageError('give the peers to catch up from (--peer ADDRESS), or --no-peer-has-newer')
    if (peers.length > 0 && noNewer) throw new UsageError('--peer and --no-peer-has-newer exclude each other')
  }

  switch (command) {
    case 'backup': {
      if (!file) throw new UsageError('backup needs the FILE to write')
      const settings = loadSettings(configFile)
      const { online, ...backup } = await makeBackup(settings, existsSync(configFile) ? configFile : undefined)
      mkdirSync(dirname(resolve(file)), { recursive: true })
      writePrivateFile(file, `${JSON.stringify(backup)}\n`)
      process.stdout.write(`backed up ${backup.id}: ${backup.messages.length} messages, private journals, key and settings, into ${file} (${online ? 'from the running provider' : 'from its data folder'})\n`)
      return IDENTITY_EXIT.OK
    }
    case 'restore': {
      if (!file) throw new UsageError('restore needs the backup FILE')
      needPeers()
      let backup
      try {
        backup = readBackup(file)
      } catch (err) {
        throw new RestoreRefused(err instanceof Error ? err.message : String(err))
      }
      if (!existsSync(configFile)) {
        if (!backup.settings) throw new RestoreRefused(`no settings at ${configFile}, and the backup holds none`)
        mkdirSync(dirname(configFile), { recursive: true })
        writePrivateFile(configFile, `${JSON.stringify(backup.settings, null, 2)}\n`)
        say(`wrote the backed-up settings to ${configFile}`)
      }
      const settings = loadSettings(configFile)
      try {
        await restoreBackup(backup, settings)
      } catch (err) {
        if (err instanceof RestoreRefused) throw err
        // A message that does not verify: the backup is not what the provider published.
        if (/does not verify|says it is/.test(err instanceof Error ? err.message : '')) throw new RestoreRefused((err as Error).message)
        throw err
      }
      say(`restored ${backup.id} into ${settings.path}: ${backup.messages.length} messages`)
      return finish()
    }
    case 'catch-up':
      if (file) throw new UsageError('catch-up takes no FILE')
      needPeers()
      return finish()
    default:
      throw new UsageError(command ? `unknown command ${command}` : 'give a command: backup, restore or catch-up')
  }
}

// Run only as a program: tests import the pieces.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err)
      process.stderr.write(`buttcloud identity: ${message}\n`)
      if (err instanceof UsageError) process.stderr.write('run with --help for usage\n')
      process.exit(err instanceof UsageError ? IDENTITY_EXIT.USAGE : err instanceof RestoreRefused ? IDENTITY_EXIT.REFUSED : IDENTITY_EXIT.FAILED)
    },
  )
}
