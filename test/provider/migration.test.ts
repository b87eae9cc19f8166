/**
 * Upgrading a provider whose data folder the previous release made (issue 12, item 6). That release kept its
 * placements and payment facts on its own feed (boxed to itself), and ssb-invite 3 followed every invitee publicly.
 * The folder is built here the way that release built it: the standard stack with ssb-invite 3 unwrapped (a real
 * invite, accepted by a real user sbot, publishes the real `contact`), and the records published with the same
 * schemas and calls the release's plugin used. After the upgrade every pub keeps its placement (its port is not
 * handed out again) and its payments, the invitees become private members and their public follows are undone once
 * (a restart does not undo them again), and the provider still hears its users: the unfollow drops them from the
 * follow graph, and without the member guard ssb-replication-scheduler would then stop replicating them.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readPrivateRecords } from '../../plugins/buttcloud/private-records.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { checkOutgoing } from '../../src/protocol/parse.js'
import { call } from '../../src/ssb/client.js'
import { sbotConfig } from '../../src/ssb/config.js'
import { publish } from '../../src/ssb/db2.js'
import { generateKeys, keysFileText } from '../../src/ssb/keys.js'
import { applyDb2Patches } from '../../src/ssb/patches.js'
import { quietSsbRefDeprecations } from '../../src/ssb/quiet-ssb-ref.js'
import { MEMBERS_FILE, type PrivateMembersApi } from '../../src/ssb/private-members.js'
import { closeSbot, createSbot, type Sbot } from '../../src/ssb/server.js'
import { freePort } from '../../testkit/ports.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'
import { inMemoryRuntime } from '../orchestrator/fakes.js'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})


/** The provider's own contact messages, in feed order. */
async function contactsOf(provider: Sbot): Promise<Array<{ contact: FeedId; following: boolean; pub?: boolean }>> {
  const all = await messagesOfType<{ contact: FeedId; following: boolean; pub?: boolean }>(provider, 'contact')
  return all.filter((m) => m.value.author === provider.id).sort((a, b) => a.value.sequence - b.value.sequence).map((m) => m.value.content)
}

describe('upgrading a data folder made by the previous release', () => {
  it('keeps every pub, placement and payment, makes invitees private members, and undoes their public follows once', async () => {
    const port = await freePort()
    const settings = testProviderSettings({ port })
    const keys = generateKeys()
    writeFileSync(join(settings.path, 'secret'), keysFileText(keys), { mode: 0o600 })
    applyDb2Patches()
    quietSsbRefDeprecations()
    // The previous release's provider: the same stack, ssb-invite 3 as it comes.
    const old = createSbot(sbotConfig({ path: settings.path, keys, host: '127.0.0.1', port, externalHost: '127.0.0.1', allowPrivate: true, hops: 1 }))
    let oldOpen = true
    cleanups.push(async () => oldOpen && closeSbot(old))
    const user: TestPeer = startPeer()
    cleanups.push(() => user.stop())
    const address = old.getAddress()!.split(';')[0]!
    await joinWithInvite(user.sbot, await call<string>(old.invite.create, { uses: 1, external: '127.0.0.1' }), address)
    expect(await contactsOf(old)).toEqual([expect.objectContaining({ contact: user.id, following: true, pub: true })])

    // Two pubs, requested by the user and replicated to the provider through that follow.
    const requests: MsgId[] = []
    for (const name of ['one', 'two']) {
      requests.push((await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: old.id, plan: 'free', name, recps: [user.id, old.id] })).key)
    }
    await waitFor('the old provider to hold both requests', async () => ((await messagesOfType(old, 'buttcloud/request')).length === 2 ? true : undefined), { timeoutMs: 20_000 })
    // Its records, as the release's plugin published them: placements on ports 9003 and 9005 (a fresh pick from the
    // runtime's 9000-9009 would be 9000), and a payment fact.
    for (const [i, request] of requests.entries()) {
      await publish(old.db, checkOutgoing('buttcloud/placement', { type: 'buttcloud/placement', version: 1, request, hub: 'local', port: 9003 + 2 * i, recps: [old.id] }))
    }
    const payment = checkOutgoing('buttcloud/payment', {
      type: 'buttcloud/payment',
      version: 1,
      request: requests[0]!,
      event: 'evt_paid_before_upgrade',
      kind: 'invoice-paid',
      subscription: 'sub_old',
      customer: 'cus_old',
      created: 1_700_000_000,
      recps: [old.id],
    })
    await publish(old.db, payment)
    // A second invitee whose move the upgrade had begun when it was killed: recorded as a member, not yet unfollowed.
    const halfway = generateKeys().id
    await publish(old.db, { type: 'contact', contact: halfway, following: true, pub: true })
    await new Promise<void>((resolve) => old.db.onDrain(() => resolve()))
    await closeSbot(old)
    oldOpen = false
    mkdirSync(join(settings.path, 'private'), { recursive: true, mode: 0o700 })
    writeFileSync(join(settings.path, MEMBERS_FILE), `${JSON.stringify({ feed: halfway, at: 1, via: 'follow' })}\n`, { mode: 0o600 })

    // The upgrade.
    let p = await startTestProvider(settings, { runtime: inMemoryRuntime() })
    cleanups.push(() => p.stop())
    expect(p.id).toBe(keys.id)
    const ledger = () => p.api.ledger()
    expect(ledger().records().map((r) => r.request).sort()).toEqual([...requests].sort())
    const placed = () => new Map([...ledger().placements()].map(([r, at]) => [r, `${at.hub}:${at.port}`]))
    expect(placed()).toEqual(new Map([[requests[0]!, 'local:9003'], [requests[1]!, 'local:9005']]))
    expect(ledger().paymentsOf(requests[0]!)).toEqual([payment])

    const members = p.sbot.privateMembers as PrivateMembersApi
    await members.migrated()
    expect(members.list().sort()).toEqual([user.id, halfway].sort())
    expect(await call(p.sbot.friends.isFollowing, { source: p.id, dest: user.id })).toBe(false)
    expect(await call(p.sbot.friends.isFollowing, { source: p.id, dest: halfway })).toBe(false)
    const afterUpgrade = await contactsOf(p.sbot)
    expect(afterUpgrade.filter((c) => !c.following).map((c) => c.contact).sort()).toEqual([user.id, halfway].sort())

    // The pubs run on their kept ports: nothing was placed again.
    await p.api.settled()
    expect(placed()).toEqual(new Map([[requests[0]!, 'local:9003'], [requests[1]!, 'local:9005']]))
    expect(readPrivateRecords(settings.path).filter((r) => r.content.type === 'buttcloud/placement')).toEqual([])

    // A restart moves nothing again, and the provider still hears the user (replicated as a member, not followed).
    await p.stop({ keepData: true })
    p = await startTestProvider(settings, { runtime: inMemoryRuntime() })
    await (p.sbot.privateMembers as PrivateMembersApi).migrated()
    expect(await contactsOf(p.sbot)).toEqual(afterUpgrade)
    expect(placed()).toEqual(new Map([[requests[0]!, 'local:9003'], [requests[1]!, 'local:9005']]))
    expect(ledger().paymentsOf(requests[0]!)).toEqual([payment])
    await call(user.sbot.conn.connect, p.address).catch(() => undefined)
    const cmd = await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request: requests[1]!, verb: 'stop', recps: [user.id, p.id] })
    await waitFor('the reply to a command sent after the upgrade', async () =>
      (await messagesOfType<{ command: MsgId; ok: boolean }>(user.sbot, 'buttcloud/reply')).find((m) => m.value.content.command === cmd.key && m.value.content.ok),
      { timeoutMs: 30_000 },
    )
    expect(existsSync(join(settings.path, MEMBERS_FILE))).toBe(true)
  })
})
