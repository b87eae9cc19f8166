/**
 * joinPub's decisions against a scripted muxrpc client (callback-style methods, as ssb-client exposes them): which
 * calls it makes for a pub the sbot knows at another address, for an sbot with no peer table, and when the dial
 * fails. The real sbots are in join-pub.test.ts (db2, ssb-conn) and test/e2e/connect.test.ts (ssb-server, gossip).
 */
import { describe, expect, it } from 'vitest'
import { joinPub, NoPeerTableError } from '../../src/cli/join-pub.js'
import type { SbotClient } from '../../src/ssb/client.js'
import { feedKey, type FeedId, type MultiserverAddress } from '../../src/protocol/ids.js'
import { feedId } from './messages.js'

type Cb = (err: Error | null, value?: unknown) => void

const PUB: FeedId = feedId('hosted pub')
const address = (port: number) => `net:127.0.0.1:${port}~shs:${feedKey(PUB)}` as MultiserverAddress
const INVITE = `127.0.0.1:8200:${PUB}~c2VlZA==`

/** A client whose methods record their calls and answer as `answers` says (an Error fails the call). */
function scripted(answers: Record<string, unknown>): { client: SbotClient; calls: string[] } {
  const calls: string[] = []
  const client: Record<string, unknown> = { id: feedId('owner'), close: (cb?: () => void) => cb?.() }
  for (const [path, answer] of Object.entries(answers)) {
    const [group, method] = path.split('.') as [string, string]
    const target = (client[group] ??= {}) as Record<string, unknown>
    target[method] = (...args: unknown[]) => {
      const cb = args.pop() as Cb
      calls.push(`${path} ${args.map((a) => JSON.stringify(a)).join(' ')}`.trim())
      if (answer instanceof Error) cb(answer)
      else cb(null, answer)
    }
  }
  return { client: client as SbotClient, calls }
}

describe('joinPub', () => {
  it('forgets a conn entry of the pub at its old address, then joins it where it is now', async () => {
    const { client, calls } = scripted({
      'conn.dbPeers': [[address(8300), { key: PUB, type: 'pub' }]],
      'conn.forget': undefined,
      'conn.remember': undefined,
      'conn.connect': {},
      'invite.accept': [{}],
    })
    const r = await joinPub(client, { id: PUB, address: address(8200), invite: INVITE }, { dialKnown: true })
    expect(r).toEqual({ outcome: 'joined', table: 'conn', connected: true })
    expect(calls).toEqual([
      'conn.dbPeers',
      `conn.forget "${address(8300)}"`,
      `invite.accept "${INVITE}"`,
      `conn.remember "${address(8200)}" {"key":"${PUB}","type":"pub","autoconnect":true}`,
      `conn.connect "${address(8200)}"`,
    ])
  })

  it('on ssb-gossip: drops the moved entry by key, remembers the pub when the invite is refused, reports a failed dial', async () => {
    const { client, calls } = scripted({
      'gossip.peers': [{ key: PUB, address: address(8300) }],
      'gossip.remove': undefined,
      'gossip.add': {},
      'gossip.connect': new Error('connect ECONNREFUSED 127.0.0.1:8200'),
      'invite.accept': new Error('invite not accepted'),
    })
    const r = await joinPub(client, { id: PUB, address: address(8200), invite: INVITE }, { dialKnown: false })
    expect(r).toEqual({ outcome: 'remembered', table: 'gossip', inviteError: 'invite not accepted', connected: false, connectError: 'connect ECONNREFUSED 127.0.0.1:8200' })
    expect(calls).toEqual([
      'gossip.peers',
      `gossip.remove "${PUB}"`,
      `invite.accept "${INVITE}"`,
      `gossip.add "${address(8200)}" "pub"`,
      `gossip.connect "${address(8200)}"`,
    ])
  })

  it('leaves a pub known at its address alone unless asked to dial it', async () => {
    const answers = { 'conn.dbPeers': [[address(8200), { key: PUB }]], 'conn.remember': undefined, 'conn.connect': {} }
    const quiet = scripted(answers)
    expect(await joinPub(quiet.client, { id: PUB, address: address(8200), invite: INVITE }, { dialKnown: false })).toEqual({ outcome: 'known', table: 'conn' })
    expect(quiet.calls).toEqual(['conn.dbPeers'])
    const dialing = scripted(answers)
    expect(await joinPub(dialing.client, { id: PUB, address: address(8200) }, { dialKnown: true })).toEqual({ outcome: 'known', table: 'conn', connected: true })
    expect(dialing.calls).toEqual(['conn.dbPeers', `conn.connect "${address(8200)}"`])
  })

  it('refuses an sbot with neither ssb-conn nor ssb-gossip, and calls nothing', async () => {
    const { client, calls } = scripted({ 'invite.accept': [{}] })
    await expect(joinPub(client, { id: PUB, address: address(8200), invite: INVITE }, { dialKnown: true })).rejects.toBeInstanceOf(NoPeerTableError)
    expect(calls).toEqual([])
  })
})
