/**
 * Customers stay private from each other (issue 12): two classic ssb-server 16 customers at their default hops, each
 * with a history of its own, join by invite and get pubs. Once both hold the provider's latest message, neither
 * holds any message of the other's feed (the provider follows no one publicly, so neither is at hops 2 of the other),
 * no public message of the provider names either, and each reads its own statuses. A provider restart keeps every
 * pub and its placement, and the provider still receives a new command from each customer (it replicates them from
 * its private member journal, without any follow).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startClassicSbot, type ClassicSbot } from '../support/classic-sbot.js'
import { messagesOfType, startTestProvider, testProviderSettings } from '../../testkit/sbots.js'
import { freePort } from '../../testkit/ports.js'
import { waitFor } from '../../testkit/wait.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import { call, clientCall, clientSource } from '../../src/ssb/client.js'
import { collect, type Source } from '../../src/ssb/pull.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import type { ProviderSettings } from '../../src/provider/settings.js'
import type { PrivateMembersApi } from '../../src/ssb/private-members.js'
import { isStatusPost, statusOfPost } from '../../src/protocol/post.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>
type Status = { type: 'buttcloud/status'; request: MsgId; state: string }
/** Each customer's own history: enough that any cross-replication would show. */
const HISTORY = 30

describe('customers stay private from each other', () => {
  let settings: ProviderSettings
  let provider: Provider
  const customers: ClassicSbot[] = []
  const requests = new Map<FeedId, MsgId>()

  beforeAll(async () => {
    assertPubBuilt()
    const pubPort = await freePort()
    // A fixed port: the customers' sbots find the provider again after its restart.
    settings = testProviderSettings({ port: await freePort(), runtime: { kind: 'local', ports: { first: pubPort, last: pubPort + 1 }, statsIntervalMs: 0 } })
    const started = await Promise.all([startTestProvider(settings), startClassicSbot(), startClassicSbot()])
    provider = started[0]
    customers.push(started[1], started[2])
  })
  afterAll(async () => {
    await provider?.api.settled()
    await provider?.stop()
    for (const c of customers) await c.stop()
  })

  /** The feeds a classic sbot holds, with how far. */
  const clockOf = (c: ClassicSbot) => clientCall<Record<FeedId, number>>(c.client, 'getVectorClock')
  /** The customer's statuses from the provider (each rides in a private post), decrypted by its own server. */
  const statusesAt = async (c: ClassicSbot): Promise<Status[]> => {
    const all = (await collect(clientSource(c.client, 'messagesByType', { type: 'post', private: true }))) as Array<SsbMsg<unknown>>
    return all.flatMap((m) => {
      if (m.value.author !== provider.id || !isStatusPost(m.value.content)) return []
      const read = statusOfPost(m.value.content)
      return read.ok ? [read.status as Status] : []
    })
  }
  const providerLatest = async () => (await call<{ sequence: number }>(provider.sbot.getFeedState as never, provider.id)).sequence

  it('two customers join and get pubs; neither replicates the other, and no public provider message names either', async () => {
    for (const c of customers) {
      for (let i = 0; i < HISTORY; i++) await clientCall(c.client, 'publish', { type: 'post', text: `history ${i} of ${c.id}` })
      await clientCall(c.client, 'invite.accept', await provider.createInvite(1))
      const req = await clientCall<SsbMsg>(c.client, 'publish', { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', name: 'mine', recps: [c.id, provider.id] })
      requests.set(c.id, req.key)
    }
    // Each gets its own pub, and reads its status.
    for (const c of customers) {
      await waitFor(`${c.id}'s pub up`, async () => ((await statusesAt(c)).some((s) => s.request === requests.get(c.id) && s.state === 'up') ? true : undefined), { timeoutMs: 60_000 })
    }
    // Both connected a while: until each holds the provider's latest message (everything the provider has to say).
    await provider.api.settled()
    const latest = await providerLatest()
    for (const c of customers) {
      await waitFor(`${c.id} to hold the provider's latest`, async () => ((await clockOf(c))[provider.id] === latest ? true : undefined), { timeoutMs: 30_000 })
    }

    const [a, b] = customers as [ClassicSbot, ClassicSbot]
    // The provider holds both customers' whole histories (it replicates them) ...
    const held = await call<Record<FeedId, number>>(provider.sbot.getVectorClock as never)
    expect(held[a.id]).toBeGreaterThan(HISTORY)
    expect(held[b.id]).toBeGreaterThan(HISTORY)
    // ... while neither customer holds a single message of the other.
    expect((await clockOf(a))[b.id]).toBeUndefined()
    expect((await clockOf(b))[a.id]).toBeUndefined()
    // Each reads only its own statuses: the other's reached it as ciphertext (they share the provider's feed).
    expect((await statusesAt(a)).map((s) => s.request)).toEqual(expect.arrayContaining([requests.get(a.id)]))
    expect((await statusesAt(a)).map((s) => s.request)).not.toContain(requests.get(b.id))
    expect((await statusesAt(b)).map((s) => s.request)).not.toContain(requests.get(a.id))

    // Nothing public of the provider's names either customer: no follow, no contact, no record.
    const feed = (await collect((provider.sbot.createHistoryStream as (o: object) => Source<SsbMsg['value']>)({ id: provider.id, keys: false }))) as Array<SsbMsg['value']>
    const publicOnes = feed.filter((m) => typeof m.content === 'object')
    expect(publicOnes.length).toBeGreaterThan(0)
    for (const m of publicOnes) {
      expect(JSON.stringify(m.content)).not.toContain(a.id)
      expect(JSON.stringify(m.content)).not.toContain(b.id)
    }
    expect(publicOnes.filter((m) => (m.content as { type?: string }).type === 'contact')).toEqual([])
    // No placement or payment record is on the feed either: they are in the provider's private journal.
    expect(await messagesOfType(provider.sbot, 'buttcloud/placement', 'buttcloud/release', 'buttcloud/payment')).toEqual([])
    expect((provider.sbot.privateMembers as PrivateMembersApi).list().sort()).toEqual([a.id, b.id].sort())
  })

  it('a provider restart keeps every pub and still receives a new command from each customer', async () => {
    const placements = new Map(provider.api.ledger().placements())
    expect([...placements.keys()].sort()).toEqual([...requests.values()].sort())
    await provider.api.settled()
    await provider.stop({ keepData: true })
    provider = await startTestProvider(settings)
    expect(new Map(provider.api.ledger().placements())).toEqual(placements)
    expect(provider.api.ledger().records().map((r) => r.request).sort()).toEqual([...requests.values()].sort())

    for (const c of customers) {
      // ssb-invite 2 added the provider as a gossip seed, which the customer's sbot redials on its own schedule
      // (that can take a while); dialling now keeps the test short.
      await clientCall(c.client, 'gossip.connect', provider.address).catch(() => undefined)
      const cmd = await clientCall<SsbMsg>(c.client, 'publish', { type: 'buttcloud/command', version: 1, request: requests.get(c.id), verb: 'restart', recps: [c.id, provider.id] })
      const reply = await waitFor(`the provider's reply to ${c.id}'s restart`, async () =>
        (await messagesOfType<{ command: MsgId; ok: boolean }>(provider.sbot, 'buttcloud/reply')).find((m) => m.value.content.command === cmd.key),
        { timeoutMs: 60_000 },
      )
      expect(reply.value.content.ok).toBe(true)
    }
    expect(await call(provider.sbot.friends.isFollowing, { source: provider.id, dest: customers[0]!.id })).toBe(false)
  })
})
