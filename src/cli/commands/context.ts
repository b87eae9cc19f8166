/** What every command gets: where to write, the global options, and its user's sbot (connected on first use). */
import type { GlobalOptions } from '../args.js'
import type { Connection } from '../connect.js'
import type { ExitCode } from '../exit-codes.js'
import type { Io } from '../format.js'
import { readView } from '../log.js'
import { findPub, type PubView, type UserView } from '../view.js'
import { CliError, EXIT } from '../exit-codes.js'
import { shortId } from '../view.js'
import { clean } from '../format.js'

export interface Context {
  io: Io
  global: GlobalOptions
  /** The user's sbot; the caller closes it when the command is done. */
  sbot(): Promise<Connection>
}

/** A command: parsed arguments in, exit code out. */
export type Command<A> = (ctx: Context, args: A) => Promise<ExitCode>

/** Machine output: one JSON document on stdout. */
export function printJson(ctx: Context, value: unknown): void {
  ctx.io.out(JSON.stringify(value, null, 2))
}

/** Read the log once and fold it into the user's view. */
export async function loadView(ctx: Context): Promise<{ conn: Connection; view: UserView }> {
  const conn = await ctx.sbot()
  try {
    return { conn, view: await readView(conn.client, conn.me) }
  } catch (err) {
    throw new CliError(EXIT.UNREACHABLE, `could not read your sbot's log: ${(err as Error).message}`, { cause: err })
  }
}

/** The pub the user means by `ref`, or a not-found CliError that lists what matched. */
export function resolvePub(view: UserView, ref: string): PubView {
  const match = findPub(view.pubs, ref)
  if (match.ok) return match.pub
  if (match.reason === 'ambiguous') {
    const list = match.candidates.map((p) => `  ${shortId(p.id)}  ${p.name ? clean(p.name) : '-'}  ${p.state}`).join('\n')
    throw new CliError(EXIT.NOT_FOUND, `"${clean(ref)}" matches several pubs; use more of the id:\n${list}`)
  }
  const hint = view.pubs.length ? 'see buttcloud pubs' : 'you have no pubs yet; ask for one with buttcloud request'
  throw new CliError(EXIT.NOT_FOUND, `no pub "${clean(ref)}" (${hint})`)
}
