/**
 * `buttcloud join <invite>`: accept a provider's invite on the user's sbot. ssb-invite then makes the user and the
 * provider follow each other, which is what lets requests, offers and statuses replicate between them.
 */
import { clientCall, clientHas } from '../../ssb/client.js'
import { FeedId, multiserverAddress } from '../../protocol/ids.js'
import { CliError, EXIT } from '../exit-codes.js'
import { printJson, type Command } from './context.js'

/** The provider's id and address in a legacy invite code (`host:port:@key.ed25519~seed`), when it is one. */
export function inviteTarget(code: string): { provider: FeedId; address: string } | undefined {
  const m = /^(.+):([0-9]{1,5}):(@[A-Za-z0-9+/]{43}=\.ed25519)~/.exec(code)
  if (!m) return undefined
  const provider = FeedId.safeParse(m[3])
  if (!provider.success) return undefined
  return { provider: provider.data, address: multiserverAddress(m[1]!, Number(m[2]), provider.data) }
}

export const join: Command<{ name: 'join'; invite: string }> = async (ctx, args) => {
  const conn = await ctx.sbot()
  try {
    await clientCall(conn.client, 'invite.accept', args.invite)
  } catch (err) {
    throw new CliError(EXIT.FAILED, `the invite was not accepted: ${(err as Error).message}`, { cause: err })
  }
  const target = inviteTarget(args.invite)
  // invite.accept hangs up once the invite is used. A db2 server (ssb-conn) does not dial the provider again by
  // itself; a classic one (ssb-gossip) does, but only on its next gossip round. Dial now so replication starts.
  const dial = ['conn.connect', 'gossip.connect'].find((m) => clientHas(conn.client, m))
  if (target && dial) {
    await clientCall(conn.client, dial, target.address).catch((err: Error) =>
      ctx.io.err(`note: could not connect to the provider right away (${err.message}); your sbot will retry`),
    )
  }
  if (ctx.global.json) printJson(ctx, { joined: true, ...(target && target) })
  else {
    ctx.io.out(`Joined${target ? ` ${target.provider}` : ''}: your sbot and the provider now follow each other.`)
    ctx.io.out('Next: buttcloud offers   (the offer appears once the provider\'s feed has reached your sbot)')
  }
  return EXIT.OK
}
