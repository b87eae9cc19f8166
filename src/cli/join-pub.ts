/**
 * Making the owner's sbot know its hosted pub, so it replicates with it with no other step. The invite comes first
 * (`invite.accept`: classic ssb-server 16's ssb-invite 2 and the db2 stack's ssb-invite 3 both offer it): it makes
 * the sbot follow the pub and remember it. A pub that already follows its owner may answer the owner's own invite
 * with "already following", which ssb-invite 2 turns into "invite not accepted"; then, or when the invite fails for
 * any other reason, the sbot remembers the pub and dials it: `conn.remember` + `conn.connect` where it has ssb-conn,
 * else `gossip.add` + `gossip.connect`. The pub replicates its owner whether or not the owner follows it.
 */
import { clientCall, clientHas, type SbotClient } from '../ssb/client.js'
import type { FeedId, InviteCode, MultiserverAddress } from '../protocol/ids.js'

/** The hosted pub as its provider described it. */
export interface PubTarget {
  id: FeedId
  address: MultiserverAddress
  invite?: InviteCode
}

/** What happened: the invite was used, the pub was put in the sbot's peer table, or it was there already. */
export type JoinOutcome = 'joined' | 'remembered' | 'known'

export interface JoinResult {
  outcome: JoinOutcome
  /** The peer table the sbot keeps: ssb-conn's or ssb-gossip's. */
  table: 'conn' | 'gossip'
  /** Why the invite was not used, when it was tried and failed. */
  inviteError?: string
  /** Whether the sbot reached the pub just now (undefined when no dial was asked for). */
  connected?: boolean
  /** Why the dial failed; the sbot keeps trying by itself. */
  connectError?: string
}

/** Thrown when the sbot has neither ssb-conn nor ssb-gossip: nothing can remember a peer there. */
export class NoPeerTableError extends Error {}

/**
 * Make the sbot know the pub: use its invite or remember it, then dial it. A pub the sbot knows already is only
 * dialed, and only when `dialKnown` says so (`pubs` looks at every pub each time and should stay quiet).
 */
export async function joinPub(client: SbotClient, pub: PubTarget, opts: { dialKnown: boolean }): Promise<JoinResult> {
  const table = peerTable(client)
  if (!table) throw new NoPeerTableError('your sbot has neither ssb-conn nor ssb-gossip, so it cannot remember the pub')
  if (await knows(client, table, pub)) {
    return { outcome: 'known', table, ...(opts.dialKnown ? await dial(client, table, pub) : {}) }
  }
  let inviteError: string | undefined
  if (pub.invite) {
    try {
      await clientCall(client, 'invite.accept', pub.invite)
    } catch (err) {
      inviteError = describe(err)
    }
  } else inviteError = 'no invite from the provider yet'
  // Remember the pub even after a good invite: ssb-invite 3 (db2) leaves ssb-conn's table alone.
  await remember(client, table, pub)
  return { outcome: inviteError === undefined ? 'joined' : 'remembered', table, ...(inviteError !== undefined && { inviteError }), ...(await dial(client, table, pub)) }
}

function peerTable(client: SbotClient): 'conn' | 'gossip' | undefined {
  if (clientHas(client, 'conn.remember') && clientHas(client, 'conn.connect')) return 'conn'
  if (clientHas(client, 'gossip.add') && clientHas(client, 'gossip.connect')) return 'gossip'
  return undefined
}

/**
 * Whether the sbot's peer table has the pub at its current address. An entry with the pub's key at another address
 * (the pub was moved to another port or hub) is dropped, so the pub is remembered afresh where it is now.
 */
async function knows(client: SbotClient, table: 'conn' | 'gossip', pub: PubTarget): Promise<boolean> {
  const entries =
    table === 'conn'
      ? ((await clientCall<Array<[string, { key?: string } | undefined]>>(client, 'conn.dbPeers')) ?? []).map(([address, data]) => ({ address, key: data?.key }))
      : ((await clientCall<Array<{ key?: string; address?: string }>>(client, 'gossip.peers')) ?? []).map((p) => ({ address: p.address, key: p.key }))
  if (entries.some((e) => e.address === pub.address)) return true
  const stale = entries.filter((e) => e.key === pub.id && e.address)
  // ssb-conn forgets by address; ssb-gossip keeps one entry per key and finds it by the key.
  if (table === 'conn') for (const e of stale) await clientCall(client, 'conn.forget', e.address)
  else if (stale.length) await clientCall(client, 'gossip.remove', pub.id)
  return false
}

async function remember(client: SbotClient, table: 'conn' | 'gossip', pub: PubTarget): Promise<void> {
  if (table === 'conn') await clientCall(client, 'conn.remember', pub.address, { key: pub.id, type: 'pub', autoconnect: true })
  // ssb-gossip's scheduler dials `pub` peers it knows, and keeps them in gossip.json across restarts.
  else await clientCall(client, 'gossip.add', pub.address, 'pub')
}

async function dial(client: SbotClient, table: 'conn' | 'gossip', pub: PubTarget): Promise<Pick<JoinResult, 'connected' | 'connectError'>> {
  try {
    await clientCall(client, `${table}.connect`, pub.address)
    return { connected: true }
  } catch (err) {
    return { connected: false, connectError: describe(err) }
  }
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err)
  return message.split('\n')[0]!.slice(0, 300)
}
