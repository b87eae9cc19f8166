/**
 * The built `buttcloud` bin against a classic ssb-server 16 (the server Patchwork embeds) as the user's sbot, with a
 * scripted stand-in provider on the db2 stack. The CLI finds the classic server through its folder (--ssb-dir).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startClassicSbot, type ClassicSbot } from '../support/classic-sbot.js'
import { call, clientCall } from '../../src/ssb/client.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { publish, queryTypes } from '../../src/ssb/db2.js'
import { privatePost } from '../../src/protocol/post.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { collect } from '../../src/ssb/pull.js'
import { parseMessage, type ContentOf } from '../../src/protocol/index.js'
import type { MsgId } from '../../src/protocol/ids.js'
import type { PubView } from '../../src/cli/view.js'
import { OFFER } from './messages.js'
import { json, jsonLines, requireBuild, runBin, startBin, startStandInProvider, type StandInProvider } from './support.js'
import { waitFor } from '../../testkit/wait.js'

describe('buttcloud against a classic ssb-server 16', () => {
  let user: ClassicSbot
  let provider: StandInProvider
  let requestId: MsgId

  beforeAll(async () => {
    requireBuild()
    ;[user, provider] = await Promise.all([startClassicSbot(), startStandInProvider()])
  })
  afterAll(async () => {
    await Promise.all([user?.stop(), provider?.close()])
  })

  const cli = (...args: string[]) => runBin([...args, '--ssb-dir', user.dir])
  /** The message as the classic server stores it, without decrypting. */
  const rawOnUser = (id: MsgId) => call<SsbMsg>(user.client.get, { id, meta: true }).catch(() => undefined)
  const recps = () => [user.id, provider.id]

  it('joins the provider with its invite and then lists its offer', async () => {
    const offer = await provider.post('buttcloud/offer', OFFER)
    const joined = await cli('join', await provider.invite())
    expect(joined.stderr).toBe('')
    expect(joined.code).toBe(0)
    expect(joined.stdout).toContain(`Joined ${provider.id}`)

    await waitFor('the offer to reach the user', () => rawOnUser(offer.key))
    const offers = await cli('offers', '--json')
    expect(offers.code).toBe(0)
    expect(json<Array<{ provider: string; name: string; plans: Array<{ id: string }> }>>(offers)).toEqual([
      expect.objectContaining({ provider: provider.id, name: 'Stand-in Cloud', plans: OFFER.plans }),
    ])
    const human = await cli('offers')
    expect(human.stdout).toMatch(/tiny\s+Tiny\s+128 MiB\s+1 GiB disk\s+web view\s+free/)
    expect(human.stdout).toMatch(/big\s+Big\s+1 GiB\s+\d+ (MiB|GiB) disk\s+(no )?web view\s+9\.00 EUR\/month/)
  })

  it('requests a pub with the defaults: the only provider, its cheapest plan, boxed to the user and the provider', async () => {
    const r = await cli('request', '--name', 'classic pub')
    expect(r.code).toBe(0)
    const id = /Request id: (%\S+)/.exec(r.stdout)?.[1]
    expect(id, r.stdout + r.stderr).toBeDefined()
    requestId = id as MsgId
    expect(r.stdout).toContain('privately (to you and the provider)')
    expect(r.stdout).toContain('Next: buttcloud watch')

    expect(typeof (await rawOnUser(requestId))!.value.content).toBe('string') // ciphertext to everyone else
    const atProvider = await waitFor('the request to reach the provider', () => provider.message(requestId))
    const parsed = parseMessage(atProvider, true)
    expect(parsed.ok && parsed.message.content).toEqual({
      type: 'buttcloud/request',
      version: 1,
      provider: provider.id,
      plan: 'tiny',
      name: 'classic pub',
      recps: recps(),
    })
    expect(parsed.ok && parsed.message.author).toBe(user.id)
  })

  it('watch shows the provider\'s private statuses as they come and exits 0 once the pub is up', async () => {
    const provisioning = await provider.post('buttcloud/status', { type: 'buttcloud/status', version: 1, request: requestId, state: 'provisioning', recps: recps() })
    const arrived = await waitFor('the status to reach the user', () => rawOnUser(provisioning.key))
    expect(typeof arrived.value.content).toBe('string') // boxed: only the CLI's private read opens it

    const watching = startBin(['watch', 'classic pub', '--timeout', '20', '--no-connect', '--ssb-dir', user.dir])
    await waitFor('watch to catch up', () => (watching.stdout().includes('Watching') ? true : undefined))
    expect(watching.stdout()).toMatch(/Watching %\S+ \(classic pub\): provisioning for \d+s/)

    const hosted = generateKeys().id // no pub runs behind it: the CLI's join finds nobody there
    const address = `net:127.0.0.1:9999~shs:${hosted.slice(1, -'.ed25519'.length)}`
    const invite = `127.0.0.1:9999:${hosted}~aW52aXRlLXNlZWQ=`
    // Today's form: one private post per transition, the typed status inside (the provisioning above is the old form).
    await publish(
      provider.sbot.db,
      privatePost('Your pub "classic pub" is up.', user.id, provider.id, { type: 'buttcloud/status', version: 1, request: requestId, state: 'up', pub: { id: hosted, address }, invite }),
    )
    const done = await watching.result
    expect(done.code, done.stdout + done.stderr).toBe(0)
    expect(done.stdout).toMatch(/\[\d+\.\ds\] up/)
    expect(done.stdout).toContain(`address: ${address}`)
    expect(done.stdout).toContain(invite)
  })

  it('pubs and status --json show what the provider sent; pubs makes the sbot remember the pub it sees up', async () => {
    const listed = await cli('pubs', '--json')
    const pubs = json<PubView[]>(listed)
    expect(pubs).toHaveLength(1)
    // Nothing listens at the pub's address: the invite fails, ssb-gossip remembers the pub and will retry.
    expect(jsonLines(listed.stderr)).toEqual([
      { note: expect.stringMatching(/^Your sbot now remembers "classic pub" \(gossip\) .*not reachable right now .*your sbot will retry\.$/) },
    ])
    const peers = await clientCall<Array<{ key: string; address: string }>>(user.client, 'gossip.peers')
    expect(peers).toContainEqual(expect.objectContaining({ key: pubs[0]!.pub!.id, address: pubs[0]!.pub!.address }))
    expect(pubs[0]).toMatchObject({ id: requestId, name: 'classic pub', plan: 'tiny', provider: provider.id, providerName: 'Stand-in Cloud', state: 'up', private: true })

    const byPrefix = await cli('status', requestId.slice(0, 9), '--json')
    expect(byPrefix.code).toBe(0)
    const pub = json<PubView>(byPrefix)
    expect(pub.history.map((h) => h.state)).toEqual(['provisioning', 'up'])
    expect(pub.pub?.address).toMatch(/^net:127\.0\.0\.1:9999~shs:/)
    expect(pub.invite).toMatch(/~aW52aXRlLXNlZWQ=$/)

    const human = await cli('pubs')
    expect(human.stderr).toBe('') // known now: nothing more to do
    expect(human.stdout).toMatch(new RegExp(`${escape(requestId.slice(0, 9))}\\s+classic pub\\s+tiny\\s+up\\s+\\d+s ago\\s+Stand-in Cloud`))
  })

  it('command publishes a private command, waits for the reply and prints its invite code', async () => {
    const running = startBin(['command', 'classic pub', 'invite', '--uses', '2', '--timeout', '20', '--ssb-dir', user.dir])
    const command = await waitFor('the command to reach the provider', () => commandFor(requestId, 'invite'))
    expect(command.meta?.private).toBe(true)
    expect(command.value.content).toEqual({ type: 'buttcloud/command', version: 1, request: requestId, verb: 'invite', args: { uses: 2 }, recps: recps() })

    const code = `127.0.0.1:9999:${provider.id}~ZnJlc2gtaW52aXRl`
    await provider.post('buttcloud/reply', { type: 'buttcloud/reply', version: 1, command: command.key, request: requestId, ok: true, result: { invite: code }, recps: recps() })
    const done = await running.result
    expect(done.code, done.stderr).toBe(0)
    expect(done.stdout).toContain(`Invite code (paste it into Patchwork's "Join pub"):\n${code}`)
  })

  it('command exits 1 with the reason when the provider refuses', async () => {
    const running = startBin(['command', requestId, 'restart', '--timeout', '20', '--ssb-dir', user.dir])
    const command = await waitFor('the restart command', () => commandFor(requestId, 'restart'))
    await provider.post('buttcloud/reply', {
      type: 'buttcloud/reply',
      version: 1,
      command: command.key,
      ok: false,
      error: { code: 'unavailable', reason: 'restarts are not possible yet' },
      recps: recps(),
    })
    const done = await running.result
    expect(done.code).toBe(1)
    expect(done.stderr).toContain('The provider refused restart: unavailable: restarts are not possible yet')
  })

  it('watch exits 4 when the pub does not settle in time; --public posts the request in the clear', async () => {
    const r = await cli('request', '--provider', provider.id, '--plan', 'small', '--public', '--json')
    expect(r.code).toBe(0)
    const { request } = json<{ request: MsgId; plan: string; private: boolean }>(r)
    expect(parseMessage(await rawOnUser(request))).toMatchObject({ ok: true, message: { content: { type: 'buttcloud/request', plan: 'small' } } })
    expect((await rawOnUser(request))!.value.content).not.toHaveProperty('recps')

    const watched = await cli('watch', request.slice(0, 12), '--timeout', '1')
    expect(watched.code).toBe(4)
    expect(watched.stdout).toContain('requested for')
    expect(watched.stderr).toContain('still requested after 1.0s')
  })

  it('exits 5 for a pub that does not exist and 2 for a bad command line', async () => {
    const missing = await cli('status', 'no-such-pub')
    expect(missing.code).toBe(5)
    expect(missing.stderr).toContain('no pub "no-such-pub"')
    const bad = await cli('command', 'classic pub', 'invite', '--uses', '1000')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('args.uses')
  })

  /** The provider's decrypted copy of the user's command with this verb. */
  async function commandFor(request: MsgId, verb: string): Promise<SsbMsg<ContentOf<'buttcloud/command'>> | undefined> {
    const msgs = (await collect(queryTypes(provider.sbot.db, ['buttcloud/command'], { live: 'old' }))) as SsbMsg<ContentOf<'buttcloud/command'>>[]
    return msgs.find((m) => m.value.content.request === request && m.value.content.verb === verb)
  }
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
