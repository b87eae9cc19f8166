/** `buttcloud status <pub>`: one pub in detail. */
import { EXIT } from '../exit-codes.js'
import { formatPub } from '../format.js'
import { loadView, printJson, resolvePub, type Command } from './context.js'

export const status: Command<{ name: 'status'; pub: string }> = async (ctx, args) => {
  const { view } = await loadView(ctx)
  const pub = resolvePub(view, args.pub)
  if (ctx.global.json) printJson(ctx, pub)
  else for (const line of formatPub(pub, ctx.io.now())) ctx.io.out(line)
  return EXIT.OK
}
