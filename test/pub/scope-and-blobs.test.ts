/**
 * The built pub as a process, with db2-stack users (ssb-invite 3): an invite used by someone the pub already follows
 * (its owner) succeeds and spends a use; the pub replicates its owner, the owner's follows and its guests, not a
 * guest's follows nor a feed nobody follows; it fetches the blobs its owner's posts name up to PUB_BLOBS_MAX, keeps
 * them private on disk, counts their bytes, and serves them to any peer.
 */
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { multiserverAddress, type FeedId } from '../../src/protocol/ids.js'
import { call, clientCall, connectClient, type SbotClient } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { closeSbot, type Sbot } from '../../src/ssb/server.js'
import { ssbBlobsPlugin } from '../../pub/blobs.js'
import { addBlob, readBlob } from '../../testkit/blobs.js'
import { freePort } from '../../testkit/ports.js'
import { assertPubBuilt, feedMessages, spawnPub, startFeedSource, tempDir, writeKeyFile, type FeedSource, type PubProcess, vectorClock } from '../../testkit/pub-process.js'
import { removeAfterLateWrites, startSbot, type StartedSbot } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

const BLOB_MAX = 256 * 1024

describe('the pub: joining, replication scope and blobs', () => {
  const pubKeys = generateKeys()
  // The test looks at the pub as its provider (a master): a client with the owner's key would stand in for the
  // owner's sbot in ssb-blobs' table of peers (keyed by feed id) and, on closing, make the pub forget the owner's blobs.
  const providerKeys = generateKeys()
  const dir = tempDir('bc-scope-')
  const dataDir = join(dir, 'data')
  let pub: PubProcess
  let address: string
  let owner: StartedSbot
  let guest: StartedSbot
  let source: FeedSource

  beforeAll(async () => {
    assertPubBuilt()
    owner = startSbot({ prefix: 'bc-owner-', allowPrivate: true, plugins: [ssbBlobsPlugin()] })
    guest = startSbot({ prefix: 'bc-guest-', allowPrivate: true })
    const port = await freePort()
    address = multiserverAddress('127.0.0.1', port, pubKeys.id)
    pub = spawnPub({
      PUB_DATA: dataDir,
      PUB_HOST: '127.0.0.1',
      PUB_PORT: String(port),
      PUB_OWNER: owner.sbot.id,
      PUB_NAME: 'Scope pub',
      PUB_PROVIDER: providerKeys.id,
      PUB_KEY_FILE: writeKeyFile(join(dir, 'key'), pubKeys),
      PUB_BLOBS_MAX: String(BLOB_MAX),
    })
    await pub.ready
  })
  afterAll(async () => {
    await pub?.stop('SIGKILL')
    for (const s of [owner, guest]) if (s) await closeSbot(s.sbot)
    await source?.close()
    await removeAfterLateWrites([dir, owner?.dir, guest?.dir].filter((d): d is string => !!d))
  })

  /** A master client of the pub: the provider's key, or the owner's for what the owner does itself. */
  const atPub = async <T>(fn: (client: SbotClient) => Promise<T>, keys = providerKeys): Promise<T> => {
    const client = await connectClient(keys, address)
    try {
      return await fn(client)
    } finally {
      client.close(() => undefined)
    }
  }
  const contactsAbout = async (author: FeedId, contact: FeedId) =>
    (await atPub((c) => feedMessages(c, author))).filter((m) => (m.value.content as { contact?: string }).contact === contact)

  it('the owner, whom the pub already follows, joins with a two-use invite twice; a third use is refused', async () => {
    const code = await atPub((c) => clientCall<string>(c, 'invite.create', { uses: 2 }), owner.keys)
    await call(owner.sbot.invite.accept!, code)
    // ssb-invite 3 follows the pub only when the use succeeded (on "already following" it skips the follow).
    const followsOfPub = async () => (await feedMessages(await selfClient(owner.sbot), owner.sbot.id)).filter((m) => (m.value.content as { contact?: string }).contact === pubKeys.id)
    expect(await followsOfPub()).toHaveLength(1)
    await call(owner.sbot.invite.accept!, code)
    expect(await followsOfPub()).toHaveLength(2)
    await expect(call(owner.sbot.invite.accept!, code)).rejects.toThrow(/invite not accepted|could not connect/)
    // The pub's own follow of its owner stands alone: rejoining published no second one.
    expect(await contactsAbout(pubKeys.id, owner.sbot.id)).toHaveLength(1)
    owner.sbot.conn.remember(address, { type: 'pub', autoconnect: true })
    await call(owner.sbot.conn.connect, address)
  })

  it("replicates the owner's follows and its guests, not a guest's follows nor a feed nobody follows", async () => {
    source = await startFeedSource({ feeds: 3, perFeed: 3 })
    const [ownersFollow, guestsFollow, nobodys] = source.feeds.map((k) => k.id) as [FeedId, FeedId, FeedId]
    await call(guest.sbot.invite.accept!, await atPub((c) => clientCall<string>(c, 'invite.create', { uses: 1 })))
    await call(guest.sbot.conn.connect, address)
    await publish(owner.sbot.db, { type: 'contact', contact: ownersFollow, following: true })
    await publish(guest.sbot.db, { type: 'contact', contact: guestsFollow, following: true })
    await waitFor('the new scope at the pub', async () => {
      const scope = await atPub((c) => clientCall<FeedId[]>(c, 'buttcloudReplicationScope.scope'))
      return scope.includes(ownersFollow) && scope.includes(guest.sbot.id) ? scope : undefined
    }, { timeoutMs: 20_000, intervalMs: 200 })
    const guestsContact = await waitFor("the guest's follow at the pub", async () => ((await contactsAbout(guest.sbot.id, guestsFollow)).length ? true : undefined), { timeoutMs: 20_000 })
    expect(guestsContact).toBe(true)

    await call(source.sbot.conn.connect, address)
    await waitFor("the owner's follow's feed at the pub", async () => ((await atPub(vectorClock))[ownersFollow] === 3 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 })
    // The source offered all three feeds over the same connection; the pub asked for the one in scope only.
    const clock = await atPub(vectorClock)
    expect(clock[guestsFollow]).toBeUndefined()
    expect(clock[nobodys]).toBeUndefined()
    const scope = await atPub((c) => clientCall<FeedId[]>(c, 'buttcloudReplicationScope.scope'))
    expect(scope).toEqual([pubKeys.id, owner.sbot.id, guest.sbot.id, ownersFollow].sort())
  })

  it('fetches the blobs its owner mentions up to PUB_BLOBS_MAX, keeps them private, counts them, and serves them to anyone', async () => {
    const small = randomBytes(100 * 1024)
    const big = randomBytes(BLOB_MAX + 1024)
    const ownerClient = owner.sbot as unknown as SbotClient
    const bigId = await addBlob(ownerClient, big)
    const smallId = await addBlob(ownerClient, small)
    await publish(owner.sbot.db, { type: 'post', text: 'too big', mentions: [{ link: bigId, size: big.length }] })
    await publish(owner.sbot.db, { type: 'post', text: `small: ![small.png](${smallId})` })
    await waitFor('the small blob at the pub', () => atPub((c) => clientCall<boolean>(c, 'blobs.has', smallId)).then((has) => has || undefined), { timeoutMs: 20_000, intervalMs: 200 })
    // Both were asked for in one pass (the big one first); only the small one came.
    expect(await atPub((c) => clientCall<boolean>(c, 'blobs.has', bigId))).toBe(false)
    expect(await atPub((c) => clientCall(c, 'buttcloudBlobs.usage'))).toEqual({ count: 1, bytes: small.length, wanted: 1 })

    const blobsDir = join(dataDir, 'blobs')
    expect(statSync(blobsDir).mode & 0o777).toBe(0o700)
    const hex = Buffer.from(smallId.slice(1, -'.sha256'.length), 'base64').toString('hex')
    expect(statSync(join(blobsDir, 'sha256', hex.slice(0, 2), hex.slice(2))).mode & 0o777).toBe(0o600)

    // Any peer, with no rights on the pub, reads it.
    const stranger = await connectClient(generateKeys(), address)
    try {
      expect((await readBlob(stranger, smallId)).equals(small)).toBe(true)
    } finally {
      stranger.close()
    }
  })
})

/** A muxrpc-shaped view of an in-process sbot, for helpers that read feeds through a client. */
async function selfClient(sbot: Sbot): Promise<SbotClient> {
  return sbot as unknown as SbotClient
}
