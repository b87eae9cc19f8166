/**
 * `buttcloud request`: publish a `buttcloud/request`. With no options it asks the only provider whose offer the
 * user has for its cheapest plan; anything less certain than that is the user's choice to make, not ours.
 */
import { clientCall } from '../../ssb/client.js'
import type { SsbMsg } from '../../ssb/message.js'
import { checkOutgoing } from '../../protocol/parse.js'
import type { PubRequest } from '../../protocol/request.js'
import type { FeedId } from '../../protocol/ids.js'
import type { CommandArgs } from '../args.js'
import { CliError, EXIT } from '../exit-codes.js'
import { clean, formatMemory, formatPrice } from '../format.js'
import { cheapestPlan, shortId, type OfferView, type UserView } from '../view.js'
import { loadView, printJson, type Command } from './context.js'
import { watchPub } from './watch.js'

type RequestArgs = Extract<CommandArgs, { name: 'request' }>

export const request: Command<RequestArgs> = async (ctx, args) => {
  const { conn, view } = await loadView(ctx)
  const provider = chooseProvider(view, args.provider)
  const offer = view.offers.find((o) => o.provider === provider)
  const plan = choosePlan(offer, provider, args.plan)
  if (!offer) ctx.io.err(`note: no offer from ${provider} has reached your sbot; asking for plan "${plan}" anyway`)

  const content = checkOutgoing('buttcloud/request', {
    type: 'buttcloud/request',
    version: 1,
    provider,
    plan,
    ...(args.pubName !== undefined && { name: args.pubName }),
    ...(args.private && { recps: [conn.me, provider] }),
  } satisfies PubRequest)
  let msg: SsbMsg
  try {
    msg = await clientCall<SsbMsg>(conn.client, 'publish', content)
  } catch (err) {
    throw new CliError(EXIT.FAILED, `your sbot did not publish the request: ${(err as Error).message}`, { cause: err })
  }

  const planInfo = offer?.plans.find((p) => p.id === plan)
  const short = shortId(msg.key)
  if (args.watch) {
    ctx.io.err(`Requested ${msg.key}`)
    return watchPub(ctx, conn, msg.key, { connect: args.connect, ...(args.timeoutMs !== undefined && { timeoutMs: args.timeoutMs }) })
  }
  if (ctx.global.json) {
    printJson(ctx, { request: msg.key, provider, plan, ...(args.pubName !== undefined && { name: args.pubName }), private: args.private })
    return EXIT.OK
  }
  ctx.io.out(
    `Requested a pub${args.pubName ? ` "${clean(args.pubName)}"` : ''} from ${offer ? clean(offer.name) : provider}: plan ${plan}` +
      (planInfo ? ` (${formatMemory(planInfo.memoryMiB)}, ${formatPrice(planInfo)})` : '') +
      (args.private ? ', privately (to you and the provider)' : ', publicly'),
  )
  ctx.io.out(`Request id: ${msg.key}`)
  ctx.io.out(`Next: buttcloud watch ${short}   (waits for the provider's answer${planInfo && planInfo.price > 0 ? ': a payment link, then the pub' : ''})`)
  return EXIT.OK
}

function chooseProvider(view: UserView, asked: FeedId | undefined): FeedId {
  if (asked) return asked
  if (view.offers.length === 1) return view.offers[0]!.provider
  if (view.offers.length === 0) {
    throw new CliError(
      EXIT.NOT_FOUND,
      'no provider has made you an offer yet: join one with `buttcloud join <invite>`, then check `buttcloud offers`',
    )
  }
  const list = view.offers.map((o) => `  ${o.provider}  ${clean(o.name)}`).join('\n')
  throw new CliError(EXIT.USAGE, `several providers made you offers; choose one with --provider:\n${list}`)
}

function choosePlan(offer: OfferView | undefined, provider: FeedId, asked: string | undefined): string {
  if (!offer) {
    if (asked) return asked
    throw new CliError(EXIT.NOT_FOUND, `no offer from ${provider} has reached your sbot; name a plan with --plan`)
  }
  if (asked === undefined) return cheapestPlan(offer).id
  if (offer.plans.some((p) => p.id === asked)) return asked
  throw new CliError(EXIT.NOT_FOUND, `${clean(offer.name)} offers no plan "${asked}" (plans: ${offer.plans.map((p) => p.id).join(', ')})`)
}
