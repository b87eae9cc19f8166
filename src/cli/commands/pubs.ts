/** `buttcloud pubs`: the user's pubs and where each stands. */
import { EXIT } from '../exit-codes.js'
import { formatPubs } from '../format.js'
import { loadView, printJson, type Command } from './context.js'

export const pubs: Command<{ name: 'pubs' }> = async (ctx) => {
  const { view } = await loadView(ctx)
  if (ctx.global.json) printJson(ctx, view.pubs)
  else if (view.pubs.length === 0) ctx.io.err('No pubs yet. Ask for one with `buttcloud request`.')
  else for (const line of formatPubs(view.pubs, ctx.io.now())) ctx.io.out(line)
  return EXIT.OK
}
