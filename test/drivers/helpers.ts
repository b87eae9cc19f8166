/** What the runtime tests share: the owner's view of statuses, and checks made on a running pub over SSB. */
import { execFileSync } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { expect } from 'vitest'
import type { FeedId, MsgId, MultiserverAddress } from '../../src/protocol/ids.js'
import { call, clientCall, connectClient } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import type { Sbot } from '../../src/ssb/server.js'
import { feedMessages } from '../../testkit/pub-process.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { runtimeFromSettings } from '../../src/provider/runtime-from-settings.js'
import type { ProviderSettings } from '../../src/provider/settings.js'
import { waitFor } from '../../testkit/wait.js'

export type Status = { request: string; state: string; reason?: string; pub?: { id: string; address: string }; invite?: string }

/** Every status about `request` the owner's sbot has, oldest first. */
export async function statuses(owner: Sbot, request: MsgId): Promise<Status[]> {
  return (await messagesOfType<Status>(owner, 'buttcloud/status')).filter((m) => m.value.content.request === request).map((m) => m.value.content)
}

/** Wait until the owner has a status, after the first `after` ones, that matches. */
export function nextStatus(owner: Sbot, request: MsgId, after: number, match: (s: Status) => boolean, what: string, ms = 30_000): Promise<Status> {
  return waitFor(what, async () => (await statuses(owner, request)).slice(after).find(match), { timeoutMs: ms })
}

/** A new peer joins the pub with `invite`, and the pub follows it back (read with the provider's master key). */
export async function expectInviteWorks(providerKeys: SsbKeys, pub: { id: string; address: string }, invite: string): Promise<void> {
  const friend = startPeer()
  try {
    await call(friend.sbot.invite.accept!, invite)
    const client = await connectClient(providerKeys, pub.address)
    try {
      expect(await clientCall<boolean>(client, 'friends.isFollowing', { source: pub.id, dest: friend.id })).toBe(true)
    } finally {
      client.close(() => undefined)
    }
  } finally {
    await friend.stop()
  }
}

/** The pub's own feed, read over muxrpc with the provider's master key. */
export async function pubFeed(providerKeys: SsbKeys, pub: { id: string; address: string }): Promise<Array<{ type: string }>> {
  const client = await connectClient(providerKeys, pub.address as MultiserverAddress)
  try {
    return (await feedMessages(client, pub.id as FeedId)).map((m) => m.value.content as { type: string })
  } finally {
    client.close(() => undefined)
  }
}

export type Reply = { command: string; ok: boolean; error?: { code: string; reason: string }; result?: Record<string, any> }

/** Post a command about `request` as its owner and wait for the provider's reply to it. */
export async function commandAndReply(owner: { sbot: Sbot; id: FeedId }, provider: FeedId, request: MsgId, verb: string, ms = 30_000): Promise<Reply> {
  const cmd = await publish(owner.sbot.db, { type: 'buttcloud/command', version: 1, request, verb, recps: [owner.id, provider] })
  return waitFor(`the reply to ${verb}`, async () => (await messagesOfType<Reply>(owner.sbot, 'buttcloud/reply')).find((m) => m.value.content.command === cmd.key)?.value.content, { timeoutMs: ms })
}

/** The names in a gzipped tar archive (GNU tar lists it). */
export function archiveNames(file: string): string[] {
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).split('\n').filter(Boolean)
}

export type TestProvider = Awaited<ReturnType<typeof startTestProvider>>

/** A test provider running pubs with `runtime` (passes every 500 ms), and a user who joined it with an invite. */
export async function startProviderAndUser(
  runtime: ProviderSettings['runtime'],
  buttcloud: Partial<ProviderSettings['buttcloud']> = {},
): Promise<{ provider: TestProvider; providerKeys: SsbKeys; user: TestPeer }> {
  const settings = testProviderSettings({ runtime, buttcloud: { passIntervalMs: 500, ...buttcloud } })
  const provider = await startTestProvider(settings, { runtime: runtimeFromSettings(settings) })
  const user = startPeer()
  await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
  return { provider, providerKeys: provider.sbot.config.keys, user }
}

/** A plain TCP listener on 127.0.0.1:`port` that drops every connection: any process holding a pub's port. */
export async function holdPort(port: number): Promise<Server> {
  const squatter = createServer((socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    squatter.once('error', reject)
    squatter.listen(port, '127.0.0.1', resolve)
  })
  return squatter
}
