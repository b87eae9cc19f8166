/**
 * joinPub on the db2 stack (ssb-conn, ssb-invite 3) as the owner's sbot, against the built hosted pub as a process:
 * the owner's sbot ends up with the pub in ssb-conn's table and connected, whether the pub takes its owner's invite
 * or answers "already following"; the pub then holds the owner's new post; a second call finds the pub known.
 * (The classic ssb-server 16 path, through ssb-gossip, is test/e2e/connect.test.ts.)
 */
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { joinPub } from '../../src/cli/join-pub.js'
import { clientCall, connectClient, type SbotClient } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import { generateKeys } from '../../src/ssb/keys.js'
import type { FeedId, MultiserverAddress } from '../../src/protocol/ids.js'
import { assertPubBuilt, feedMessages, spawnPub, tempDir, type PubProcess } from '../../testkit/pub-process.js'
import { freePort } from '../../testkit/ports.js'
import { waitFor } from '../../testkit/wait.js'
import { startDb2Node, type Db2Node } from './support.js'

describe('joinPub with a db2 sbot (ssb-conn)', () => {
  let owner: Db2Node
  let pub: PubProcess
  let pubId: FeedId
  let address: MultiserverAddress
  let invite: string
  let client: SbotClient
  const dataDir = tempDir('bc-join-pub-')
  const closers: SbotClient[] = []

  beforeAll(async () => {
    assertPubBuilt()
    owner = await startDb2Node('owner')
    pub = spawnPub({ PUB_DATA: dataDir, PUB_HOST: '127.0.0.1', PUB_PORT: String(await freePort()), PUB_OWNER: owner.id, PUB_NAME: 'Join test pub' })
    const ready = await pub.ready
    pubId = ready.id
    address = ready.address as MultiserverAddress
    // The owner is the pub's master: it may make the invite the provider would hand out with "up".
    const asOwner = await connectClient(owner.keys, address)
    invite = await clientCall<string>(asOwner, 'invite.create', { uses: 1 })
    await new Promise<void>((resolve) => asOwner.close(() => resolve()))
    // What the CLI holds: a muxrpc client of the owner's own sbot.
    client = await connectClient(owner.keys, `unix:${owner.dir}/socket~noauth`)
  })
  afterAll(async () => {
    for (const c of [client, ...closers]) if (c) await new Promise<void>((resolve) => c.close(() => resolve()))
    await pub?.stop('SIGKILL')
    await owner?.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('joins or remembers the pub through ssb-conn, connects, and the pub then holds the owner\'s post', async () => {
    const result = await joinPub(client, { id: pubId, address, invite }, { dialKnown: true })
    expect(result).toMatchObject({ table: 'conn', connected: true })
    expect(['joined', 'remembered']).toContain(result.outcome)
    if (result.outcome === 'remembered') expect(result.inviteError).toMatch(/already following|not accepted/)

    const peers = await clientCall<Array<[string, { key?: string; type?: string }]>>(client, 'conn.dbPeers')
    expect(peers).toContainEqual([address, expect.objectContaining({ key: pubId, type: 'pub' })])

    const post = await publish(owner.sbot.db, { type: 'post', text: 'kept by my pub' })
    const guest = await connectClient(generateKeys(), address)
    closers.push(guest)
    const held = await waitFor("the owner's post at the pub", async () => (await feedMessages(guest, owner.id)).find((m) => m.key === post.key), {
      timeoutMs: 30_000,
    })
    expect(held.value.content).toEqual({ type: 'post', text: 'kept by my pub' })
  })

  it('a second call finds the pub known, uses no invite, and dials only when asked', async () => {
    expect(await joinPub(client, { id: pubId, address, invite }, { dialKnown: false })).toEqual({ outcome: 'known', table: 'conn' })
    expect(await joinPub(client, { id: pubId, address }, { dialKnown: true })).toEqual({ outcome: 'known', table: 'conn', connected: true })
  })
})
