/**
 * The provider's control plane with real sbots on 127.0.0.1: requests, commands, refusals, restarts and
 * malformed input. The user here is a db2 sbot; test/e2e has the classic (Patchwork) server and the CLI.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { manifest } from '../../plugins/buttcloud/index.js'
import { createButtcloudPlugin } from '../../plugins/buttcloud/index.js'
import { call, connectClient } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import { collect, pull } from '../../src/ssb/pull.js'
import type { Sbot } from '../../src/ssb/server.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

type Content = Record<string, any>
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function provider(settings = testProviderSettings()) {
  const p = await startTestProvider(settings)
  cleanups.push(() => p.stop())
  return p
}

async function userOf(p: { createInvite(n?: number): Promise<string>; address: string }): Promise<TestPeer> {
  const u = startPeer()
  cleanups.push(() => u.stop())
  await joinWithInvite(u.sbot, await p.createInvite(1), p.address)
  return u
}

const statusesFor = async (sbot: Sbot, request: MsgId) =>
  (await messagesOfType<Content>(sbot, 'buttcloud/status')).filter((m) => m.value.content.request === request)
const replyTo = async (sbot: Sbot, command: MsgId) =>
  (await messagesOfType<Content>(sbot, 'buttcloud/reply')).filter((m) => m.value.content.command === command)

async function requestPub(u: TestPeer, providerId: string, name = 'my pub') {
  return publish(u.sbot.db, { type: 'buttcloud/request', version: 1, provider: providerId, plan: 'free', name, recps: [u.id, providerId] })
}
async function commandPub(u: TestPeer, providerId: string, request: MsgId, verb: string, args?: object) {
  return publish(u.sbot.db, { type: 'buttcloud/command', version: 1, request, verb, ...(args ? { args } : {}), recps: [u.id, providerId] })
}

describe('provider control plane', () => {
  it("init returns exactly the manifest's methods", async () => {
    const plugin = createButtcloudPlugin()
    expect(plugin.manifest).toEqual(manifest)
    const p = await provider()
    for (const name of Object.keys(manifest)) expect(typeof (p.api as unknown as Record<string, unknown>)[name], name).toBe('function')
    // Over muxrpc, exactly the manifest is exposed: nothing that changes state.
    expect(Object.keys(manifest).sort()).toEqual(['health', 'listAll', 'myPubs', 'stats', 'watch'])
  })

  it('answers a request with a private status and carries out the owner commands', async () => {
    const p = await provider()
    const u = await userOf(p)
    const req = await requestPub(u, p.id)
    const queued = await waitFor('first status', async () => (await statusesFor(u.sbot, req.key))[0], { timeoutMs: 20_000 })
    expect(queued.value.content).toMatchObject({ state: 'queued', reason: expect.stringMatching(/not running pubs yet/) })

    const stop = await commandPub(u, p.id, req.key, 'stop')
    const reply = await waitFor('reply to stop', async () => (await replyTo(u.sbot, stop.key))[0], { timeoutMs: 20_000 })
    expect(reply.value.content).toMatchObject({ ok: true, request: req.key, recps: [u.id, p.id] })
    await waitFor('condition', async () => (await statusesFor(u.sbot, req.key)).find((m) => m.value.content.state === 'stopped'))

    const invite = await commandPub(u, p.id, req.key, 'invite')
    const refused = await waitFor('condition', async () => (await replyTo(u.sbot, invite.key))[0])
    expect(refused.value.content).toMatchObject({ ok: false, error: { code: 'invalid-state' } })
  })

  it("refuses a stranger's command privately and changes nothing", async () => {
    const p = await provider()
    const owner = await userOf(p)
    const stranger = await userOf(p)
    const req = await requestPub(owner, p.id)
    await waitFor('condition', async () => (await statusesFor(owner.sbot, req.key))[0])
    // The stranger needs the owner's feed to even name the request; it has the id from a public message here.
    const attack = await commandPub(stranger, p.id, req.key, 'destroy')
    const refusal = await waitFor('refusal', async () => (await replyTo(stranger.sbot, attack.key))[0], { timeoutMs: 20_000 })
    expect(refusal.value.content).toMatchObject({ ok: false, error: { code: 'not-owner' }, recps: [stranger.id, p.id] })
    await p.api.settled()
    const [record] = p.api.ledger().recordsOf(owner.id)
    expect(record).toMatchObject({ intent: 'running' })
    expect((await statusesFor(owner.sbot, req.key)).map((m) => m.value.content.state)).toEqual(['queued'])
    // The owner cannot read the refusal: it was boxed to the stranger and the provider only.
    expect(await replyTo(owner.sbot, attack.key)).toEqual([])
  })

  it('carries out each command once, also across a restart, and handles commands posted while it was down', async () => {
    const settings = testProviderSettings()
    let p = await startTestProvider(settings)
    const realPort = Number(p.address.split(':')[2]!.split('~')[0])
    const u = await userOf(p)
    const req = await requestPub(u, p.id)
    const restart = await commandPub(u, p.id, req.key, 'restart')
    await waitFor('reply to restart', async () => (await replyTo(u.sbot, restart.key))[0], { timeoutMs: 20_000 })
    await p.stop({ keepData: true })

    // Posted while the provider is down.
    const stop = await commandPub(u, p.id, req.key, 'stop')
    p = await startTestProvider({ ...settings, port: realPort })
    cleanups.push(() => p.stop())
    await call(u.sbot.conn.connect, p.address)
    await waitFor('reply to the command posted while down', async () => (await replyTo(u.sbot, stop.key))[0], { timeoutMs: 20_000 })
    await p.api.settled()

    const replies = await messagesOfType<Content>(p.sbot, 'buttcloud/reply')
    const count = (key: MsgId) => replies.filter((m) => m.value.content.command === key).length
    expect(count(restart.key)).toBe(1)
    expect(count(stop.key)).toBe(1)
    expect(p.api.ledger().record(req.key)).toMatchObject({ intent: 'stopped', restartGeneration: 1 })
    const states = (await statusesFor(p.sbot, req.key)).map((m) => m.value.content.state)
    expect(states).toEqual(['queued', 'stopped'])
  })

  it('survives malformed messages, refuses those addressed to it, and changes nothing', async () => {
    const p = await provider()
    const u = await userOf(p)
    const req = await requestPub(u, p.id)
    await waitFor('condition', async () => (await statusesFor(u.sbot, req.key))[0])
    const before = JSON.stringify(p.api.ledger().records())
    const garbage: Content[] = [
      { type: 'buttcloud/command', version: 1, request: req.key, verb: 'explode', recps: [u.id, p.id] },
      { type: 'buttcloud/command', version: 2, request: req.key, verb: 'stop', recps: [u.id, p.id] },
      { type: 'buttcloud/command', version: 1, request: 'not-an-id', verb: 'stop', recps: [u.id, p.id] },
      { type: 'buttcloud/command', version: 1, request: req.key, verb: 'invite', args: { uses: 1e9 }, recps: [u.id, p.id] },
      { type: 'buttcloud/request', version: 1, provider: p.id, plan: 'x'.repeat(5000) },
      { type: 'buttcloud/request', version: 1, provider: p.id, plan: ['free'], name: { evil: true } },
      { type: 'buttcloud/status', version: 1, request: req.key, state: 'up', recps: [u.id, p.id] },
      { type: 'buttcloud/reply', version: 1, command: req.key, ok: true, recps: [u.id, p.id] },
      { type: 'buttcloud/whatever', version: 1 },
      { type: 'buttcloud/request', provider: p.id },
    ]
    const posted: Array<{ key: MsgId }> = []
    for (const content of garbage) posted.push(await publish(u.sbot.db, content))
    const sentinel = await commandPub(u, p.id, req.key, 'stats')
    await waitFor('the provider to get past the garbage', async () => (await replyTo(u.sbot, sentinel.key))[0], { timeoutMs: 20_000 })
    await p.api.settled()

    const refusals = await messagesOfType<Content>(u.sbot, 'buttcloud/reply')
    const answered = (i: number) => refusals.find((m) => m.value.content.command === posted[i]!.key)?.value.content
    for (const i of [0, 1, 2, 3, 4, 5]) expect(answered(i)).toMatchObject({ ok: false, error: { code: 'malformed' } })
    expect(answered(1)!.error.reason).toMatch(/unsupported version 2/)
    expect(answered(0)!.error.reason).toMatch(/verb/)
    // The user's forged status and reply are not the provider's: nothing to answer, nothing changed.
    // A forged status and a forged reply parse, but only the provider's own count: ignored, not answered.
    expect(answered(6)).toBeUndefined()
    expect(answered(7)).toBeUndefined()
    expect(answered(8)).toBeUndefined() // public, and not addressed to anyone: ignored
    expect(JSON.stringify(p.api.ledger().records().map((r) => ({ ...r, commands: r.commands.length })))).toBe(
      JSON.stringify(JSON.parse(before).map((r: Content) => ({ ...r, commands: r.commands.length + 1 }))),
    )
    expect(p.api.ledger().record(req.key)!.intent).toBe('running')
  })

  it('keeps the refusal cap across a restart, and answers nothing it has answered before', async () => {
    const settings = testProviderSettings({ buttcloud: { refusalsPerAuthor: 2 } })
    let p = await startTestProvider(settings)
    const realPort = Number(p.address.split(':')[2]!.split('~')[0])
    const u = await userOf(p)
    const garbage = () => publish(u.sbot.db, { type: 'buttcloud/command', version: 1, request: 'nope', verb: 'x', recps: [u.id, p.id] })
    const refusals = async () => (await messagesOfType<Content>(u.sbot, 'buttcloud/reply')).filter((m) => m.value.content.ok === false)
    for (let i = 0; i < 3; i++) await garbage()
    // The request comes after the garbage in the user's feed: its status proves the garbage was looked at.
    const first = await requestPub(u, p.id, 'first')
    await waitFor('status of the first request', async () => (await statusesFor(u.sbot, first.key))[0], { timeoutMs: 20_000 })
    await p.api.settled()
    expect(await refusals()).toHaveLength(2)
    await p.stop({ keepData: true })

    p = await startTestProvider({ ...settings, port: realPort })
    cleanups.push(() => p.stop())
    await call(u.sbot.conn.connect, p.address)
    for (let i = 0; i < 2; i++) await garbage()
    const second = await requestPub(u, p.id, 'second')
    await waitFor('status of the second request', async () => (await statusesFor(u.sbot, second.key))[0], { timeoutMs: 20_000 })
    await p.api.settled()
    expect(await refusals()).toHaveLength(2)
    expect(p.api.ledger().unansweredInvalid()).toEqual([])
    expect(p.api.ledger().unansweredOrphans()).toEqual([])
  })

  it('lets an owner list only their own pubs over RPC, and keeps listAll for the operator', async () => {
    const p = await provider()
    const u = await userOf(p)
    const other = await userOf(p)
    const mine = await requestPub(u, p.id, 'mine')
    const theirs = await requestPub(other, p.id, 'theirs')
    await waitFor('condition', async () => (await statusesFor(u.sbot, mine.key))[0])
    await waitFor('condition', async () => (await statusesFor(other.sbot, theirs.key))[0])

    const client = await connectClient(u.sbot.config.keys, p.address, { manifest: { buttcloud: manifest } })
    try {
      const pubs = await call<any[]>(client.buttcloud.myPubs)
      expect(pubs.map((x) => x.request)).toEqual([mine.key])
      expect(pubs[0]).toMatchObject({ name: 'mine', status: { state: 'queued' } })
      await expect(call(client.buttcloud.listAll)).rejects.toThrow(/not in list of allowed methods|permission/i)
      const watched = await collect<any>(pull(client.buttcloud.watch(), pull.take(1)))
      expect(watched[0]).toMatchObject({ request: mine.key })
    } finally {
      await new Promise<void>((r) => client.close(() => r()))
    }
    const all = await call<any[]>(p.api.listAll)
    expect(all.map((x) => x.request).sort()).toEqual([mine.key, theirs.key].sort())
  })
})
