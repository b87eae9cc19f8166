/**
 * A Patchwork-like user who never runs the CLI: a classic ssb-server 16 that only publishes and reads private
 * `post`s. It gets a pub by private posts alone (request, invite, help), a stranger's destroy post is refused
 * privately and changes nothing, and the provider's notification posts are readable by the owner and ciphertext to
 * a third sbot that replicates the provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startClassicSbot, type ClassicSbot } from '../support/classic-sbot.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { freePort } from '../../testkit/ports.js'
import { waitFor } from '../../testkit/wait.js'
import { call, clientCall } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import { privatePosts, type Post } from '../support/private-posts.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>
/** The invite code in a notification ("Invite code: …") or an answer ("A new invite code:\n\n…"). */
const INVITE_RE = /invite code:\s+(\S+)/i

describe('a Patchwork user gets and runs a pub by private posts alone', () => {
  let user: ClassicSbot
  let provider: Provider
  let stranger: TestPeer
  /** Keys of the user's own posts, in order. */
  let request: MsgId

  beforeAll(async () => {
    assertPubBuilt()
    const pubPort = await freePort()
    const settings = testProviderSettings({ runtime: { kind: 'local', ports: { first: pubPort, last: pubPort }, statsIntervalMs: 0 } })
    ;[user, provider] = await Promise.all([startClassicSbot(), startTestProvider(settings)])
    await clientCall(user.client, 'invite.accept', await provider.createInvite(1))
  })
  afterAll(async () => {
    // The provider first, once no pass is writing: the stranger then receives nothing more while it closes.
    await provider?.api.settled()
    await provider?.stop()
    await stranger?.stop()
    await user?.stop()
  })

  const { say, postsToUser, postMatching } = privatePosts(() => user, () => provider)

  it('request my-pub: the pub comes up and its invite arrives as a private post mentioning the owner', async () => {
    const asked = await say('request my-pub')
    const up = await postMatching('the "up" post with the invite', /is up\..*Invite code/s)
    expect(up.value.content).toMatchObject({ type: 'post', mentions: [{ link: user.id }], recps: [user.id, provider.id] })
    expect(up.value.content.text).toContain('Your pub "my-pub" is up')
    const record = provider.api.ledger().records().find((r) => r.owner === user.id)!
    expect(record).toMatchObject({ request: asked, name: 'my-pub', plan: 'free', intent: 'running' })
    request = record.request
    // One message: the post carries the typed status too (read by the CLI), with the same invite as its text.
    const code = INVITE_RE.exec(up.value.content.text)![1]
    expect(up.value.content.buttcloud).toMatchObject({ type: 'buttcloud/status', version: 1, request: asked, state: 'up', invite: code })
    const status = (await messagesOfType<Record<string, any>>(provider.sbot, 'buttcloud/status')).find((m) => m.value.content.invite)
    expect(status?.value.content.invite).toBe(code)
    expect(status?.key).toBe(up.key)
  })

  it('invite my-pub 2: a new invite as a private post, with the typed reply beside it', async () => {
    const before = Math.max(...(await postsToUser()).map((m) => m.value.sequence))
    const asked = await say('invite my-pub 2')
    const answer = await postMatching('the invite answer', /A new invite code/, before)
    const code = INVITE_RE.exec(answer.value.content.text)![1]
    const reply = await waitFor('the typed reply', async () =>
      (await messagesOfType<Record<string, any>>(provider.sbot, 'buttcloud/reply')).find((m) => m.value.content.command === asked),
    )
    expect(reply.value.content).toMatchObject({ ok: true, request, result: { invite: code } })
  })

  it('help is answered; a line that is no command gets the help text too', async () => {
    const before = Math.max(...(await postsToUser()).map((m) => m.value.sequence))
    await say('help')
    const help = await postMatching('the help answer', /^Commands/, before)
    expect(help.value.content.text).toMatch(/destroy <pub> confirm/)
    await say('please make me a pub')
    await postMatching('the answer to a line that is no command', /not a command I know.*Commands/s, help.value.sequence)
  })

  it("a stranger's destroy post is refused privately and changes nothing; notifications are ciphertext to it", async () => {
    stranger = startPeer({ hops: 2 })
    await joinWithInvite(stranger.sbot, await provider.createInvite(1), provider.address)
    await call(stranger.sbot.friends.follow, provider.id, { state: true })
    const byName = await publish(stranger.sbot.db, { type: 'post', text: 'destroy my-pub confirm', recps: [stranger.id, provider.id] })
    const byId = await publish(stranger.sbot.db, { type: 'post', text: `destroy ${request.slice(1, 12)} confirm`, recps: [stranger.id, provider.id] })
    const refusals = await waitFor('both refusals at the stranger', async () => {
      const posts = (await messagesOfType<Post>(stranger.sbot, 'post')).filter((m) => m.value.author === provider.id && typeof m.value.content === 'object')
      return posts.length >= 2 ? posts : undefined
    }, { timeoutMs: 60_000 })
    expect(refusals.map((m) => m.value.content.text)).toEqual([
      expect.stringMatching(/^Refused\. no pub of yours is named "my-pub"/),
      expect.stringMatching(/^destroy: refused\. only the owner of this pub may command it/),
    ])
    const replies = (await messagesOfType<Record<string, any>>(provider.sbot, 'buttcloud/reply')).map((m) => m.value.content)
    expect(replies).toContainEqual(expect.objectContaining({ command: byName.key, ok: false, error: expect.objectContaining({ code: 'unknown-pub' }) }))
    expect(replies).toContainEqual(expect.objectContaining({ command: byId.key, ok: false, error: expect.objectContaining({ code: 'not-owner' }) }))
    expect(provider.api.ledger().record(request)).toMatchObject({ intent: 'running' })

    // The owner's notification posts reached the stranger (it replicates the provider) only as ciphertext.
    const notices = (await messagesOfType<Post>(provider.sbot, 'post')).filter((m) => m.value.author === provider.id && m.value.content.recps?.includes(user.id))
    expect(notices.length).toBeGreaterThan(0)
    for (const notice of notices) {
      const held = await waitFor('replication to the stranger', () => call<SsbMsg['value']>(stranger.sbot.db.get, notice.key).catch(() => undefined), { timeoutMs: 30_000 })
      expect(held.content).toEqual(expect.stringMatching(/\.box$/))
    }
  })
})
