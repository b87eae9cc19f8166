/**
 * The story of issue 13, told once for every runtime (test/e2e/pub-serves-owner*.test.ts): with the real provider,
 * the owner's classic ssb-server 16 requests a pub by a private post and joins it with the invite of the "up" post
 * (`invite.accept`, which fails on an "already following" answer), posts a picture (a 200 KB blob named in `mentions`
 * and as a markdown image), the pub holds both within seconds; a feed nobody in scope follows is not replicated even
 * when offered; the owner's sbot stops, and a new classic guest who joins with an owner-made invite and follows the
 * owner gets the post and the blob from the pub alone.
 *
 * Call `ownerStory` inside a `describe`: it registers the hooks and the steps, in order.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClassicSbot, type ClassicSbot } from '../support/classic-sbot.js'
import { startTestProvider, testProviderSettings } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'
import { clientCall, clientSource, connectClient, type SbotClient } from '../../src/ssb/client.js'
import { collect } from '../../src/ssb/pull.js'
import { addBlob, readBlob } from '../../testkit/blobs.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { multiserverAddress, type FeedId, type MsgId, type MultiserverAddress } from '../../src/protocol/ids.js'
import { blobUsage } from '../../src/drivers/pub-client.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import type { ProviderSettings } from '../../src/provider/settings.js'
import { assertPubBuilt, feedMessages, startFeedSource, vectorClock, type FeedSource } from '../../testkit/pub-process.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>
type Post = { type: 'post'; text: string; mentions?: Array<{ link: string }>; recps?: string[] }
const INVITE_RE = /invite code:\s+(\S+)/i

/** What a runtime brings to the story: the provider's runtime settings, and what to undo once the provider is gone. */
export interface StoryRuntime {
  runtime: ProviderSettings['runtime']
  /** Called with the story's one request once the "up" post names the pub (runtime-specific checks). */
  onUp?(request: MsgId, pub: { id: FeedId; address: string }): Promise<void>
  /** Called after the provider stopped, with the story's request (undefined if it never got that far). */
  cleanup?(request: MsgId | undefined): Promise<void>
}

/** Run `fn` with a muxrpc client of the sbot at `address` (as `keys`), closed afterwards. */
export async function withClient<T>(keys: SsbKeys, address: string, fn: (client: SbotClient) => Promise<T>): Promise<T> {
  const client = await connectClient(keys, address)
  try {
    return await fn(client)
  } finally {
    client.close(() => undefined)
  }
}

/**
 * The owner (a classic-stack sbot behind `client`) asks the provider for a pub by a private post and waits for the
 * "up" post: the request, the invite it carries, and the pub's id and address read from that invite.
 */
export async function requestPub(client: SbotClient, ownerId: FeedId, providerId: FeedId): Promise<{ request: MsgId; invite: string; pubId: FeedId; pubAddress: string }> {
  const request = (await clientCall<SsbMsg>(client, 'publish', { type: 'post', text: 'request my-pub', recps: [ownerId, providerId] })).key
  const up = await waitFor('the "up" post', async () => {
    const all = (await collect(clientSource(client, 'messagesByType', { type: 'post', private: true }))) as Array<SsbMsg<Post | string>>
    return all.find((m) => m.value.author === providerId && typeof m.value.content === 'object' && /is up\./.test(m.value.content.text)) as SsbMsg<Post> | undefined
  }, { timeoutMs: 60_000 })
  const invite = INVITE_RE.exec(up.value.content.text)![1]!
  const [host, port, pubId] = invite.split('~')[0]!.split(':') as [string, string, FeedId]
  return { request, invite, pubId, pubAddress: multiserverAddress(host, Number(port), pubId) }
}

/** Register the story's hooks and steps in the enclosing `describe`; `setup` gives the runtime (run in beforeAll). */
export function ownerStory(setup: () => Promise<StoryRuntime>): void {
  let story: StoryRuntime | undefined
  let owner: ClassicSbot
  let ownerStopped = false
  let guest: ClassicSbot | undefined
  let provider: Provider | undefined
  let source: FeedSource | undefined
  let request: MsgId | undefined
  let pubId: FeedId
  let pubAddress: string
  let upInvite: string
  let post: MsgId
  let blob: string
  const picture = randomBytes(200 * 1024)

  beforeAll(async () => {
    assertPubBuilt()
    story = await setup()
    const settings = testProviderSettings({ runtime: story.runtime })
    ;[owner, provider] = await Promise.all([startClassicSbot(), startTestProvider(settings)])
    await clientCall(owner.client, 'invite.accept', await provider.createInvite(1))
  })
  afterAll(async () => {
    await provider?.api.settled()
    await provider?.stop()
    await guest?.stop()
    if (!ownerStopped) await owner?.stop()
    await source?.close()
    await story?.cleanup?.(request)
  })

  /**
   * A client of the pub with the provider's key (a master there), for looking at what the pub holds; the owner's key
   * only for what the owner does itself (a client with it would stand in for the owner's sbot in ssb-blobs' peers).
   */
  const atPub = <T>(fn: (client: SbotClient) => Promise<T>, keys: SsbKeys = provider!.sbot.config.keys): Promise<T> => withClient(keys, pubAddress, fn)

  it('the owner requests a pub and joins it with the invite of the "up" post: invite.accept succeeds', async () => {
    ;({ request, invite: upInvite, pubId, pubAddress } = await requestPub(owner.client, owner.id, provider!.id))
    await story!.onUp?.(request, { id: pubId, address: pubAddress })

    // The pub has followed its owner since its first start: the use must succeed all the same.
    await clientCall(owner.client, 'invite.accept', upInvite)
    const ownFeed = await feedMessages(owner.client, owner.id)
    expect(ownFeed.map((m) => m.value.content)).toContainEqual(expect.objectContaining({ type: 'contact', contact: pubId, following: true }))
    expect(ownFeed.map((m) => m.value.content)).toContainEqual(expect.objectContaining({ type: 'pub', address: expect.objectContaining({ key: pubId }) }))
    // The use was spent: the one-use code is refused now.
    await expect(clientCall(owner.client, 'invite.accept', upInvite)).rejects.toThrow()
    // And the pub did not follow its owner a second time.
    const pubFollows = (await atPub((c) => feedMessages(c, pubId))).filter((m) => (m.value.content as { contact?: string }).contact === owner.id)
    expect(pubFollows).toHaveLength(1)
  })

  it('a post naming a 200 KB blob reaches the pub, and the pub fetches the blob, within seconds', async () => {
    // Only the gossip the invite set up connects the owner's sbot to its pub: no other step, just its schedule.
    await waitFor("the owner's sbot connected to its pub", async () => {
      const peers = await clientCall<Array<{ key: string; state?: string }>>(owner.client, 'gossip.peers')
      return peers.some((p) => p.key === pubId && p.state === 'connected') || undefined
    }, { timeoutMs: 60_000, intervalMs: 250 })
    blob = await addBlob(owner.client, picture)
    const started = Date.now()
    post = (await clientCall<SsbMsg>(owner.client, 'publish', {
      type: 'post',
      text: `A picture: ![sunset.jpg](${blob})`,
      mentions: [{ link: blob, name: 'sunset.jpg', type: 'image/jpeg', size: picture.length }],
    })).key
    await waitFor('the post at the pub', async () => ((await atPub((c) => feedMessages(c, owner.id))).some((m) => m.key === post) ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 })
    await waitFor('the blob at the pub', () => atPub((c) => clientCall<boolean>(c, 'blobs.has', blob)).then((has) => has || undefined), { timeoutMs: 30_000, intervalMs: 250 })
    expect(Date.now() - started).toBeLessThan(10_000)
    // What the provider reads to count blob bytes against the plan.
    expect(await blobUsage(provider!.sbot.config.keys, pubAddress as MultiserverAddress)).toEqual({ count: 1, bytes: picture.length, wanted: 0 })
  })

  it('a feed nobody in scope follows is not replicated, though offered over the same connection as one the owner follows', async () => {
    source = await startFeedSource({ feeds: 2, perFeed: 3 })
    const [followed, nobodys] = source.feeds.map((k) => k.id) as [FeedId, FeedId]
    await clientCall(owner.client, 'publish', { type: 'contact', contact: followed, following: true })
    await waitFor("the owner's follow in the pub's scope", async () => ((await atPub((c) => clientCall<FeedId[]>(c, 'buttcloudReplicationScope.scope'))).includes(followed) ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 })
    await new Promise<void>((resolve, reject) => source!.sbot.conn.connect(pubAddress, (err) => (err ? reject(err) : resolve())))
    await waitFor("the followed feed at the pub", async () => ((await atPub(vectorClock))[followed] === 3 ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 })
    const clock = await atPub(vectorClock)
    expect(clock[nobodys]).toBeUndefined()
    expect(await atPub((c) => feedMessages(c, nobodys))).toEqual([])
  })

  it("with the owner's sbot stopped, a guest who joins with an owner-made invite and follows the owner gets the post and the blob from the pub", async () => {
    const invite = await atPub((c) => clientCall<string>(c, 'invite.create', { uses: 1 }), owner.keys)
    await owner.stop()
    ownerStopped = true
    guest = await startClassicSbot()
    await clientCall(guest.client, 'invite.accept', invite)
    await clientCall(guest.client, 'publish', { type: 'contact', contact: owner.id, following: true })

    const got = await waitFor("the owner's post at the guest", async () => (await feedMessages(guest!.client, owner.id)).find((m) => m.key === post), { timeoutMs: 60_000, intervalMs: 250 })
    expect((got.value.content as Post).mentions).toEqual([expect.objectContaining({ link: blob })])
    // Patchwork asks for a post's pictures when it shows them: blobs.want fetches from the only peer that has it.
    await clientCall(guest.client, 'blobs.want', blob)
    expect((await readBlob(guest.client, blob)).equals(picture)).toBe(true)
  })
}
