/**
 * End to end with the real parts: a classic ssb-server 16 (Patchwork's server) as the user's sbot, the built
 * `buttcloud` CLI, and the real provider. The provider's status reaches the user privately; a third sbot that
 * replicates both feeds holds the same messages and cannot read them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startClassicSbot, type ClassicSbot } from '../support/classic-sbot.js'
import { messagesOfType, startPeer, startTestProvider, type TestPeer } from '../../testkit/sbots.js'
import { call } from '../../src/ssb/client.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import type { MsgId } from '../../src/protocol/ids.js'
import type { PubView } from '../../src/cli/view.js'
import { json, requireBuild, runBin } from '../cli/support.js'
import { waitFor } from '../../testkit/wait.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>

describe('a Patchwork user gets a pub through the CLI', () => {
  let user: ClassicSbot
  let provider: Provider
  let bystander: TestPeer
  let pub: MsgId

  beforeAll(async () => {
    requireBuild()
    ;[user, provider] = await Promise.all([startClassicSbot(), startTestProvider()])
  })
  afterAll(async () => {
    await bystander?.stop()
    await user?.stop()
    await provider?.stop()
  })

  const cli = (...args: string[]) => runBin([...args, '--ssb-dir', user.dir])

  it('joins with the printed invite, requests a pub, and receives the provider status privately', async () => {
    const joined = await cli('join', await provider.createInvite(1))
    expect(joined.code, joined.stderr).toBe(0)

    // The offer is how the CLI finds the provider and its cheapest plan.
    await waitFor('the offer', async () => ((await cli('offers', '--json')).stdout.includes(provider.id) ? true : undefined), { timeoutMs: 30_000 })
    const requested = await cli('request', '--name', 'e2e pub', '--private')
    expect(requested.code, requested.stderr).toBe(0)
    pub = /Request id: (%\S+)/.exec(requested.stdout)![1] as MsgId

    const view = await waitFor("the provider's status at the user", async () => {
        const r = await cli('status', pub, '--json')
        const v = r.code === 0 ? json<PubView>(r) : undefined
        return v && v.state !== 'requested' ? v : undefined
      }, { timeoutMs: 30_000 })
    expect(view).toMatchObject({ id: pub, name: 'e2e pub', provider: provider.id, private: true, state: 'queued' })
    expect(view.reason).toMatch(/not running pubs yet/)

    const raw = await call<SsbMsg>(user.client.get, { id: pub, meta: true })
    expect(typeof raw.value.content).toBe('string') // the request itself was boxed (--private)
  })

  it('carries out the owner command and answers it privately', async () => {
    const stopped = await cli('command', pub, 'stop', '--json', '--timeout', '60')
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(json<{ reply: unknown }>(stopped)).toMatchObject({ verb: 'stop', request: pub, reply: { ok: true, result: { message: expect.stringMatching(/stopping/) } } })
    await waitFor('the stopped status', async () => ((await cli('status', pub, '--json')).stdout.includes('"stopped"') ? true : undefined), { timeoutMs: 30_000 })
    expect(provider.api.ledger().record(pub)).toMatchObject({ intent: 'stopped', owner: user.id })
  })

  it('a third sbot asking for both feeds through the provider gets the statuses, cannot read them, and gets nothing of the user', async () => {
    bystander = startPeer({ hops: 2 })
    await call(bystander.sbot.friends.follow, provider.id, { state: true })
    await call(bystander.sbot.friends.follow, user.id, { state: true })
    await call(bystander.sbot.conn.connect, provider.address)
    const statuses = (await messagesOfType<{ request?: string }>(provider.sbot, 'buttcloud/status')).filter(
      (m) => m.value.content.request === pub,
    )
    expect(statuses.map((m) => m.value.content)).toEqual([
      expect.objectContaining({ state: 'queued' }),
      expect.objectContaining({ state: 'stopped' }),
    ])
    for (const status of statuses) {
      const held = await waitFor('replication to the bystander', () => getFrom(bystander, status.key), { timeoutMs: 30_000 })
      expect(held.author).toBe(provider.id)
      expect(held.content).toEqual(expect.stringMatching(/\.box$/))
    }
    // The provider relays no customer's feed to anyone (docs/ssb-stack.md: EBT scope): the bystander asked for the
    // user's feed too, and by the time the provider's statuses arrived it holds nothing of it.
    expect(await getFrom(bystander, pub)).toBeUndefined()
  })
})

/** A message as a db2 peer holds it, or undefined while it has not arrived. */
function getFrom(peer: TestPeer, key: MsgId): Promise<SsbMsg['value'] | undefined> {
  return call<SsbMsg['value']>(peer.sbot.db.get, key).catch(() => undefined)
}
