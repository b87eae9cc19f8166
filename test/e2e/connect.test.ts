/**
 * The CLI makes the owner's sbot join its hosted pub: a classic ssb-server 16 as the user's sbot, the built CLI and
 * the real provider with the local runtime. When `request --watch` sees the pub up, the user's sbot uses the invite
 * (or, when the pub answers its own owner "already following", remembers and dials it): afterwards the pub is in the
 * sbot's gossip table and holds the user's new post. `connect` again finds it already known.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startClassicSbot, type ClassicSbot } from '../support/classic-sbot.js'
import { startTestProvider, testProviderSettings } from '../../testkit/sbots.js'
import { freePort } from '../../testkit/ports.js'
import { waitFor } from '../../testkit/wait.js'
import { assertPubBuilt, feedMessages } from '../../testkit/pub-process.js'
import { clientCall, connectClient, type SbotClient } from '../../src/ssb/client.js'
import { generateKeys } from '../../src/ssb/keys.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import type { PubView } from '../../src/cli/view.js'
import { json, jsonLines, requireBuild, runBin } from '../cli/support.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>

describe('the CLI joins the owner to its pub', () => {
  let user: ClassicSbot
  let provider: Provider
  let guest: SbotClient | undefined

  beforeAll(async () => {
    requireBuild()
    assertPubBuilt()
    const port = await freePort()
    user = await startClassicSbot()
    const second = await freePort()
    const ports = { first: Math.min(port, second), last: Math.max(port, second) }
    provider = await startTestProvider(testProviderSettings({ runtime: { kind: 'local', ports, statsIntervalMs: 0 } }))
    // The user joins the provider through the CLI too, as the README says.
    const joined = await cli('join', await provider.createInvite(1))
    expect(joined.code, joined.stderr).toBe(0)
  })
  afterAll(async () => {
    await new Promise<void>((resolve) => (guest ? guest.close(() => resolve()) : resolve()))
    await provider?.api.settled()
    await provider?.stop()
    await user?.stop()
  })

  const cli = (...args: string[]) => runBin([...args, '--ssb-dir', user.dir], { killAfterMs: 120_000 })

  it('request --watch: once the pub is up the sbot joins it, and the pub then holds the owner\'s new post', async () => {
    const watched = await cli('request', '--provider', provider.id, '--plan', 'free', '--name', 'my-pub', '--watch', '--timeout', '90')
    expect(watched.code, watched.stdout + watched.stderr).toBe(0)
    expect(watched.stdout).toContain('my-pub is up.')
    // Joined with the invite, or (a pub that answers its owner "already following") remembered through ssb-gossip.
    expect(watched.stderr).toMatch(/^(Joined "my-pub" with its invite|Your sbot now remembers "my-pub" \(gossip\)).*; connected\.$/m)

    const pub = json<PubView>(await cli('status', 'my-pub', '--json'))
    expect(pub).toMatchObject({ state: 'up', private: true, pub: { id: expect.any(String), address: expect.any(String) } })
    const peers = await clientCall<Array<{ key: string }>>(user.client, 'gossip.peers')
    expect(peers.map((p) => p.key)).toContain(pub.pub!.id)

    const post = await clientCall<SsbMsg>(user.client, 'publish', { type: 'post', text: 'held by my pub while I am away' })
    // A guest with a key of its own asks the pub for the owner's feed (createHistoryStream is open to anyone).
    guest = await connectClient(generateKeys(), pub.pub!.address)
    const held = await waitFor(
      "the owner's post at the pub",
      async () => (await feedMessages(guest!, user.id)).find((m) => m.key === post.key),
      { timeoutMs: 30_000 },
    )
    expect(held.value.content).toEqual({ type: 'post', text: 'held by my pub while I am away' })
  })

  it('connect says the sbot knows the pub already, and dials it', async () => {
    const again = await cli('connect', 'my-pub', '--json')
    expect(again.code, again.stderr).toBe(0)
    expect(json<{ outcome: string; table: string; connected: boolean }>(again)).toMatchObject({ outcome: 'known', table: 'gossip', connected: true })
    expect(jsonLines(again.stderr)).toEqual([])
    const human = await cli('connect', 'my-pub')
    expect(human.stdout).toMatch(/^Your sbot already knows "my-pub"; connected\.$/m)
  })

  it('pubs joins a pub it sees up that the sbot does not know yet, and stays quiet about known ones', async () => {
    const watched = await cli('request', '--provider', provider.id, '--plan', 'free', '--name', 'second', '--watch', '--no-connect', '--timeout', '90')
    expect(watched.code, watched.stdout + watched.stderr).toBe(0)
    expect(watched.stderr).not.toMatch(/remembers|Joined/)
    const second = json<PubView>(await cli('status', 'second', '--json'))
    const known = async () => (await clientCall<Array<{ key: string }>>(user.client, 'gossip.peers')).map((p) => p.key)
    expect(await known()).not.toContain(second.pub!.id)

    const listed = await cli('pubs')
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toMatch(/second\s+free\s+up/)
    expect(listed.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^(Joined "second" with its invite|Your sbot now remembers "second" \(gossip\))/)])
    expect(await known()).toContain(second.pub!.id)
    expect((await cli('pubs')).stderr).toBe('')
  })
})
