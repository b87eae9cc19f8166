/**
 * `buttcloud connect <pub>`: make the owner's sbot know its hosted pub (join-pub.ts), and the same step that
 * `request --watch`, `watch` and `pubs` take by themselves once they see a pub up.
 */
import type { Connection } from '../connect.js'
import { CliError, EXIT } from '../exit-codes.js'
import { clean } from '../format.js'
import { joinPub, NoPeerTableError, type JoinResult } from '../join-pub.js'
import { shortId, type PubView } from '../view.js'
import { loadView, printJson, resolvePub, type Command, type Context } from './context.js'

export const connect: Command<{ name: 'connect'; pub: string }> = async (ctx, args) => {
  const { conn, view } = await loadView(ctx)
  const pub = resolvePub(view, args.pub)
  if (!pub.pub) {
    throw new CliError(EXIT.FAILED, `${label(pub)} is ${pub.state} and has no address yet; watch it come up: buttcloud watch ${shortId(pub.id)}`)
  }
  if (pub.state !== 'up') ctx.io.err(`note: ${label(pub)} is ${pub.state}; your sbot will reach it once it is up again`)
  const result = await join(conn, pub, true)
  if (ctx.global.json) printJson(ctx, { request: pub.id, pub: pub.pub, ...result })
  else ctx.io.out(describeJoin(pub, result))
  return EXIT.OK
}

/**
 * After a pub was seen up: make the sbot know it, and say what happened on stderr (the result on stdout stays the
 * command's own). Quiet when the sbot knew the pub already, unless `dialKnown`; a failure is a note, never fatal.
 */
export async function connectSeenUp(ctx: Context, conn: Connection, pub: PubView, dialKnown: boolean): Promise<void> {
  if (!pub.pub) return
  try {
    const result = await join(conn, pub, dialKnown)
    if (result.outcome !== 'known' || dialKnown) ctx.io.err(describeJoin(pub, result))
  } catch (err) {
    ctx.io.err(`note: could not make your sbot join ${label(pub)}: ${(err as Error).message}`)
  }
}

async function join(conn: Connection, pub: PubView, dialKnown: boolean): Promise<JoinResult> {
  const target = { id: pub.pub!.id, address: pub.pub!.address, ...(pub.invite !== undefined && { invite: pub.invite }) }
  try {
    return await joinPub(conn.client, target, { dialKnown })
  } catch (err) {
    if (err instanceof NoPeerTableError) throw new CliError(EXIT.FAILED, err.message, { cause: err })
    throw new CliError(EXIT.UNREACHABLE, `your sbot did not answer while joining the pub: ${(err as Error).message}`, { cause: err })
  }
}

/** One line for the owner: joined, remembered or already known, and whether the sbot reached the pub now. */
export function describeJoin(pub: PubView, r: JoinResult): string {
  const name = label(pub)
  const what =
    r.outcome === 'joined'
      ? `Joined ${name} with its invite: your sbot follows it and keeps it among its peers`
      : r.outcome === 'remembered'
        ? `Your sbot now remembers ${name} (${r.table}) and replicates with it (the invite was not used: ${clean(r.inviteError ?? 'no invite')})`
        : `Your sbot already knows ${name}`
  const now = r.connected === undefined ? '' : r.connected ? '; connected.' : `; not reachable right now (${clean(r.connectError ?? '')}), your sbot will retry.`
  return `${what}${now || '.'}`
}

function label(pub: PubView): string {
  return pub.name ? `"${clean(pub.name)}"` : shortId(pub.id)
}
