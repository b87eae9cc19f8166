/**
 * The provider's EBT names to each peer only that peer's feed and its own (src/ssb/ebt-scope.ts). Two customers
 * (db2 sbots) join a real provider by invite and stay connected; a third member's connection is a tap: a plain muxrpc
 * client with its keys that opens `ebt.replicate` itself and reads the notes the provider sends first (with no stored
 * clock of this peer, those name every feed the provider would share with it). Neither customer's EBT state learns
 * the other's feed from the provider, `ebt.clock` answers a peer with its scope only, and both customers' messages
 * still go both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call, connectClient, type SbotClient } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import { pull, pushable } from '../../src/ssb/pull.js'
import type { FeedId } from '../../src/protocol/ids.js'
import type { Sbot } from '../../src/ssb/server.js'
import type { PrivateMembersApi } from '../../src/ssb/private-members.js'
import { inScope, scopedBlocks } from '../../src/ssb/ebt-scope.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>
type EbtState = { id: FeedId; seq: number; peers: Record<FeedId, { seq?: number }> }

describe('scoped blocks', () => {
  it('blocks every pair outside the scope, keeps real blocks, and writes through', () => {
    const real: Record<string, Record<string, boolean>> = {}
    const blocks = scopedBlocks(real, '@self')
    expect(blocks['@a']!['@b']).toBe(true)
    expect(blocks['@a']!['@a']).toBe(false)
    expect(blocks['@self']!['@a']).toBe(false)
    // ssb-ebt's block(): a real block of the server's own feed to a peer, then its undoing.
    blocks['@self']!['@a'] = true
    expect(real).toEqual({ '@self': { '@a': true } })
    expect(blocks['@self']!['@a']).toBe(true)
    expect(Object.keys(blocks['@self']!)).toEqual(['@a'])
    delete blocks['@self']!['@a']
    expect(Object.keys(blocks['@self']!)).toEqual([])
    delete blocks['@self']
    expect(real).toEqual({})
    expect(inScope('@self', '@a', '@a') && inScope('@self', '@self', '@a') && !inScope('@self', '@b', '@a')).toBe(true)
  })
})

describe("the provider's EBT notes name no other customer", () => {
  let provider: Provider
  const customers: TestPeer[] = []
  let tap: SbotClient | undefined

  beforeAll(async () => {
    provider = await startTestProvider()
    for (let i = 0; i < 2; i++) {
      const c = startPeer()
      customers.push(c)
      await joinWithInvite(c.sbot, await provider.createInvite(1), provider.address)
    }
  })
  afterAll(async () => {
    tap?.close()
    for (const c of customers) await c.stop()
    await provider?.stop()
  })

  const held = (sbot: Sbot) => call<Record<FeedId, number>>(sbot.getVectorClock as never)

  it('each customer hears of itself and the provider only, and replication goes both ways', async () => {
    const [a, b] = customers as [TestPeer, TestPeer]
    expect((provider.sbot.privateMembers as PrivateMembersApi).list().sort()).toEqual([a.id, b.id].sort())
    // Each customer's messages reach the provider ...
    for (const c of customers) await publish(c.sbot.db, { type: 'post', text: `hello from ${c.id}` })
    await waitFor('both customers replicated to the provider', async () => {
      const clock = await held(provider.sbot)
      return clock[a.id]! >= 1 && clock[b.id]! >= 1 ? true : undefined
    }, { timeoutMs: 30_000 })
    // ... and the provider's reach each customer.
    const news = await publish(provider.sbot.db, { type: 'post', text: 'news from the provider' })
    for (const c of customers) {
      await waitFor(`${c.id} to hold the provider's latest`, async () => ((await held(c.sbot))[provider.id] === news.value.sequence ? true : undefined), { timeoutMs: 30_000 })
    }

    // What each customer's EBT learned from the provider: the provider's clock of its own feed and of the customer's,
    // never of the other customer.
    const status = (c: TestPeer, feed: FeedId) => (c.sbot.ebt as unknown as { peerStatus(id: FeedId): EbtState }).peerStatus(feed)
    for (const [me, other] of [[a, b], [b, a]] as const) {
      expect(status(me, provider.id).peers[provider.id]?.seq).toBe(news.value.sequence)
      expect(status(me, me.id).peers[provider.id]).toBeDefined()
      expect(status(me, other.id).peers[provider.id]).toBeUndefined()
      expect((await held(me.sbot))[other.id]).toBeUndefined()
      expect(await messagesOfType(me.sbot, 'post').then((ms) => ms.filter((m) => m.value.author === other.id))).toEqual([])
    }
  })

  it("a member's first notes from the provider, read off the wire, name only that member and the provider", async () => {
    // A member by invite, whose connection is then a bare muxrpc client: nothing replicates but the tap.
    const member = startPeer()
    await call(member.sbot.invite.accept!, await provider.createInvite(1))
    await member.stop()
    const [a, b] = customers as [TestPeer, TestPeer]
    tap = await connectClient((member.sbot.config as { keys: Parameters<typeof connectClient>[0] }).keys, provider.address)
    expect((provider.sbot.privateMembers as PrivateMembersApi).list()).toContain(member.id)

    const out = pushable<unknown>()
    const first = new Promise<Record<FeedId, number>>((resolve, reject) => {
      const duplex = tap!.ebt.replicate({ version: 3, format: 'classic' }, () => undefined)
      pull(out.source, duplex.sink)
      pull(
        duplex.source,
        pull.take(1),
        pull.collect((err: unknown, items: Array<Record<FeedId, number>>) => (err ? reject(err) : resolve(items[0]!))),
      )
      // The provider answers a new peer's stream with its notes at once; ours come second and ask for nothing.
      out.push({})
    })
    const notes = await first
    out.end()
    expect(Object.keys(notes)).toContain(provider.id)
    for (const feed of Object.keys(notes)) expect([provider.id, member.id]).toContain(feed)
    expect(Object.keys(notes)).not.toContain(a.id)
    expect(Object.keys(notes)).not.toContain(b.id)

    // ebt.clock, which any peer may ask: the same scope.
    const clock = await call<Record<FeedId, number>>(tap.ebt.clock, { format: 'classic' })
    expect(Object.keys(clock).sort()).toEqual([provider.id].sort())
    // In-process (the operator), the whole clock.
    const full = await call<Record<FeedId, number>>((provider.sbot.ebt as unknown as { clock: (...args: unknown[]) => void }).clock, { format: 'classic' })
    expect(Object.keys(full)).toEqual(expect.arrayContaining([a.id, b.id, provider.id]))
  })
})
