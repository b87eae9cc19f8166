/** One run of the CLI: parse, dispatch to a command, map every failure to its exit code, close the sbot. */
import { readFileSync } from 'node:fs'
import { parseCommandLine, type CommandArgs } from './args.js'
import { connectToSbot, type Connection } from './connect.js'
import { CliError, EXIT, EXIT_NAMES, type ExitCode } from './exit-codes.js'
import type { Io } from './format.js'
import { commandHelp, globalHelp } from './help.js'
import type { Context } from './commands/context.js'
import { command } from './commands/command.js'
import { connect } from './commands/connect.js'
import { join } from './commands/join.js'
import { offers } from './commands/offers.js'
import { pubs } from './commands/pubs.js'
import { request } from './commands/request.js'
import { status } from './commands/status.js'
import { watch } from './commands/watch.js'

/**
 * Run one command and resolve to its exit code; never throws. Under `--json` every line on stderr is a JSON object
 * too: `{"note": "…"}` for progress and notes, and one `{"error": {"code", "exit", "message"}}` when it fails.
 */
export async function runCli(argv: readonly string[], io: Io, onConnection?: (conn: Connection) => void): Promise<ExitCode> {
  let conn: Connection | undefined
  // Known before parsing, so a usage error is JSON too; parseArgs would refuse `--json` as another option's value.
  let json = argv.includes('--json')
  try {
    const invocation = parseCommandLine(argv)
    if (invocation.kind === 'help') {
      io.out(invocation.topic ? commandHelp(invocation.topic) : globalHelp())
      return EXIT.OK
    }
    if (invocation.kind === 'version') {
      io.out(cliVersion())
      return EXIT.OK
    }
    json = invocation.global.json
    const ctx: Context = {
      io: json ? jsonLines(io) : io,
      global: invocation.global,
      sbot: async () => {
        conn ??= await connectToSbot(invocation.global)
        onConnection?.(conn)
        return conn
      },
    }
    return await dispatch(ctx, invocation.command)
  } catch (err) {
    const code = err instanceof CliError ? err.code : EXIT.FAILED
    const message = err instanceof Error ? err.message : String(err)
    if (json) io.err(JSON.stringify({ error: { code: EXIT_NAMES[code], exit: code, message } }))
    else io.err(`buttcloud: ${message}`)
    return code
  } finally {
    await conn?.close()
  }
}

function dispatch(ctx: Context, args: CommandArgs): Promise<ExitCode> {
  switch (args.name) {
    case 'join':
      return join(ctx, args)
    case 'offers':
      return offers(ctx, args)
    case 'request':
      return request(ctx, args)
    case 'pubs':
      return pubs(ctx, args)
    case 'status':
      return status(ctx, args)
    case 'watch':
      return watch(ctx, args)
    case 'connect':
      return connect(ctx, args)
    case 'command':
      return command(ctx, args)
  }
}

/** stderr as JSON lines: notes become `{"note": …}`; no spinner. */
function jsonLines(io: Io): Io {
  return { ...io, err: (line) => io.err(JSON.stringify({ note: line })), errRaw: () => undefined, errIsTTY: false }
}

/** The package's version, read next to the built or source tree (the repository's, or the CLI package's in cli/). */
function cliVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if ((pkg.name === 'buttcloud' || pkg.name === 'buttcloud-cli') && pkg.version) return pkg.version
    } catch {
      // try the next layout
    }
  }
  return 'unknown'
}
