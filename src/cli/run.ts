/** One run of the CLI: parse, dispatch to a command, map every failure to its exit code, close the sbot. */
import { readFileSync } from 'node:fs'
import { parseCommandLine, type CommandArgs } from './args.js'
import { connectToSbot, type Connection } from './connect.js'
import { CliError, EXIT, type ExitCode } from './exit-codes.js'
import type { Io } from './format.js'
import { commandHelp, globalHelp } from './help.js'
import type { Context } from './commands/context.js'
import { command } from './commands/command.js'
import { join } from './commands/join.js'
import { offers } from './commands/offers.js'
import { pubs } from './commands/pubs.js'
import { request } from './commands/request.js'
import { status } from './commands/status.js'
import { watch } from './commands/watch.js'

/** Run one command and resolve to its exit code; never throws. */
export async function runCli(argv: readonly string[], io: Io, onConnection?: (conn: Connection) => void): Promise<ExitCode> {
  let conn: Connection | undefined
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
    const ctx: Context = {
      io,
      global: invocation.global,
      sbot: async () => {
        conn ??= await connectToSbot(invocation.global)
        onConnection?.(conn)
        return conn
      },
    }
    return await dispatch(ctx, invocation.command)
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`buttcloud: ${err.message}`)
      return err.code
    }
    io.err(`buttcloud: ${(err as Error).message ?? String(err)}`)
    return EXIT.FAILED
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
    case 'command':
      return command(ctx, args)
  }
}

/** The package's version, read next to the built or source tree. */
function cliVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'buttcloud' && pkg.version) return pkg.version
    } catch {
      // try the next layout
    }
  }
  return 'unknown'
}
