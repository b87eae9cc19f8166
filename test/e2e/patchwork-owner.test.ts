/**
 * Patchwork 3.18's own sbot as the owner (headless: test/support/patchwork-sbot.ts), with the real provider under
 * the local runtime: it joins the provider and then its pub with Patchwork's own "Join pub" and the invite of the
 * "up" post, and its posts and pictures reach the pub by the connection that join set up.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClassicSbot } from '../support/classic-sbot.js'
import { patchworkJoinPub, patchworkSupport, startPatchworkSbot } from '../support/patchwork-sbot.js'
import { startTestProvider, testProviderSettings } from '../../testkit/sbots.js'
import { freePort } from '../../testkit/ports.js'
import { waitFor } from '../../testkit/wait.js'
import { clientCall } from '../../src/ssb/client.js'
import { addBlob } from '../../testkit/blobs.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import type { FeedId } from '../../src/protocol/ids.js'
import { assertPubBuilt, feedMessages } from '../../testkit/pub-process.js'
import { requestPub, withClient } from './owner-story.js'

const support = patchworkSupport()

describe.skipIf(!support.ok)(`Patchwork 3.18's own sbot as the owner${support.ok ? '' : ` (skipped: ${support.reason})`}`, () => {
  let owner: ClassicSbot
  let provider: Awaited<ReturnType<typeof startTestProvider>>
  let pub: { id: FeedId; address: string; invite: string }
  const picture = randomBytes(100 * 1024)

  beforeAll(async () => {
    assertPubBuilt()
    const pubPort = await freePort()
    const settings = testProviderSettings({ runtime: { kind: 'local', ports: { first: pubPort, last: pubPort }, statsIntervalMs: 0 } })
    ;[owner, provider] = await Promise.all([startPatchworkSbot(), startTestProvider(settings)])
    // A Patchwork user reaches the provider the way it reaches any pub: "Join pub" with the provider's invite.
    await patchworkJoinPub(owner, await provider.createInvite(1))
  })
  afterAll(async () => {
    await provider?.api.settled()
    await provider?.stop()
    await owner?.stop()
  })

  const atPub = <T>(fn: Parameters<typeof withClient<T>>[2]) => withClient(provider.sbot.config.keys, pub.address, fn)

  it('joins its pub with "Join pub" and the invite of the "up" post: the pub is remembered and followed', async () => {
    const up = await requestPub(owner.client, owner.id, provider.id)
    pub = { id: up.pubId, address: up.pubAddress, invite: up.invite }
    await patchworkJoinPub(owner, pub.invite)
    const own = (await feedMessages(owner.client, owner.id)).map((m) => m.value.content)
    // `autofollow` marks the follow Patchwork's own join publishes (ssb-invite's accept writes none).
    expect(own).toContainEqual(expect.objectContaining({ type: 'contact', contact: pub.id, following: true, autofollow: true }))
    expect(own).toContainEqual(expect.objectContaining({ type: 'pub', address: expect.objectContaining({ key: pub.id }) }))
    // The one-use code was spent by the pub's invite.use (not skipped as "already following"): a second use, by the
    // ssb-invite of Patchwork's own plugin set, is refused. (Not by a client with the owner's key: the pub's ssb-blobs
    // would take it for the owner's sbot, and on closing it the pub would stop asking that sbot for its pictures.)
    await expect(clientCall(owner.client, 'invite.accept', pub.invite)).rejects.toThrow()
  })

  it('its posts and a picture reach the pub over the connection the join made', async () => {
    const blob = await addBlob(owner.client, picture)
    const post = (await clientCall<SsbMsg>(owner.client, 'publish', { type: 'post', text: `From Patchwork: ![p.jpg](${blob})`, mentions: [{ link: blob, name: 'p.jpg', size: picture.length }] })).key
    const started = Date.now()
    await waitFor('the post at the pub', async () => ((await atPub((c) => feedMessages(c, owner.id))).some((m) => m.key === post) ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 })
    await waitFor('the picture at the pub', () => atPub((c) => clientCall<boolean>(c, 'blobs.has', blob)).then((has) => has || undefined), { timeoutMs: 30_000, intervalMs: 250 })
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})
