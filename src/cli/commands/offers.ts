/** `buttcloud offers`: the plans of every provider whose offer the user's sbot has. */
import { EXIT } from '../exit-codes.js'
import { formatOffers } from '../format.js'
import { loadView, printJson, type Command } from './context.js'

export const offers: Command<{ name: 'offers' }> = async (ctx) => {
  const { view } = await loadView(ctx)
  if (ctx.global.json) printJson(ctx, view.offers)
  else if (view.offers.length === 0) {
    ctx.io.err('No offers yet. Join a provider with `buttcloud join <invite>`; its offer arrives once its feed has replicated.')
  } else for (const line of formatOffers(view.offers)) ctx.io.out(line)
  return EXIT.OK
}
