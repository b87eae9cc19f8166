/** `buttcloud pubs`: the user's pubs and where each stands; a pub that is up is joined by the user's sbot. */
import { EXIT } from '../exit-codes.js'
import { formatPubs } from '../format.js'
import { connectSeenUp } from './connect.js'
import { loadView, printJson, type Command } from './context.js'

export const pubs: Command<{ name: 'pubs'; connect: boolean }> = async (ctx, args) => {
  const { conn, view } = await loadView(ctx)
  if (ctx.global.json) printJson(ctx, view.pubs)
  else if (view.pubs.length === 0) ctx.io.err('No pubs yet. Ask for one with `buttcloud request`.')
  else for (const line of formatPubs(view.pubs, ctx.io.now())) ctx.io.out(line)
  // Quiet for pubs the sbot knows already; a pub seen up for the first time is joined now.
  if (args.connect) for (const pub of view.pubs) if (pub.state === 'up') await connectSeenUp(ctx, conn, pub, false)
  return EXIT.OK
}
