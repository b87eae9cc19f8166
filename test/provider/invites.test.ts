/**
 * Invite caps on a real provider sbot: the start invite expires (ssb-invite alone never expires one), and an
 * owner's invite command over the configured cap gets a reply that says so.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { Sbot } from '../../src/ssb/server.js'
import { INVITE_EXPIRY_FILE, inviteKeyId } from '../../src/ssb/invite-expiry.js'
import type { PrivateMembersApi } from '../../src/ssb/private-members.js'
import type { FeedId } from '../../src/protocol/ids.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

const HOUR = 3600_000
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function peer(): TestPeer {
  const u = startPeer()
  cleanups.push(() => u.stop())
  return u
}

const follows = (provider: Sbot, user: string) => call<boolean>(provider.friends.isFollowing, { source: provider.id, dest: user })
/** Did the invite admit `user`: a member in the provider's private record (never a public follow)? */
const admitted = (provider: Sbot, user: FeedId) => (provider.privateMembers as PrivateMembersApi).list().includes(user)

describe('invite caps', () => {
  it('refuses the start invite once it has expired, before a use is counted or anyone is admitted; an invite admits without a public follow', async () => {
    let clock = Date.now()
    const settings = testProviderSettings()
    const p = await startTestProvider(settings, { now: () => clock })
    cleanups.push(() => p.stop())
    expect(settings.inviteUses).toBe(10)
    expect(settings.inviteTtlMs).toBe(24 * HOUR)
    const invite = await p.createInvite()
    expect(statSync(join(settings.path, INVITE_EXPIRY_FILE)).mode & 0o777).toBe(0o600)

    const early = peer()
    await call(early.sbot.invite.accept!, invite)
    expect(admitted(p.sbot, early.id)).toBe(true)
    expect(await follows(p.sbot, early.id)).toBe(false)

    clock += 24 * HOUR
    const late = peer()
    await expect(call(late.sbot.invite.accept!, invite)).rejects.toThrow(/invite not accepted/)
    expect(admitted(p.sbot, late.id)).toBe(false)
    // The refusal names its reason (the client above sees it wrapped): called as muxrpc calls it, as the invite's key.
    await expect(call(p.sbot.invite.use!.bind({ id: inviteKeyId(invite) }), { feed: late.id })).rejects.toThrow('invite has expired')

    // A fresh invite made now works: expiry counts from each invite's making.
    await joinWithInvite(late.sbot, await p.createInvite(1), p.address)
    expect(admitted(p.sbot, late.id)).toBe(true)
    expect(await follows(p.sbot, late.id)).toBe(false)
  })

  it("answers an owner's invite command over the cap with a reply that gives the cap", async () => {
    const p = await startTestProvider(testProviderSettings({ buttcloud: { inviteMaxUses: 5 } }))
    cleanups.push(() => p.stop())
    const u = peer()
    await joinWithInvite(u.sbot, await p.createInvite(1), p.address)
    const req = await publish(u.sbot.db, { type: 'buttcloud/request', version: 1, provider: p.id, plan: 'free', name: 'capped', recps: [u.id, p.id] })
    const cmd = await publish(u.sbot.db, {
      type: 'buttcloud/command',
      version: 1,
      request: req.key,
      verb: 'invite',
      args: { uses: 6 },
      recps: [u.id, p.id],
    })
    const reply = await waitFor('the reply to the invite command', async () => (await messagesOfType<Record<string, any>>(u.sbot, 'buttcloud/reply')).find((m) => m.value.content.command === cmd.key), { timeoutMs: 20_000 })
    expect(reply.value.content).toMatchObject({
      ok: false,
      request: req.key,
      error: { code: 'unavailable', reason: 'an invite here may have at most 5 uses (asked for 6); ask for fewer' },
    })
  })
})
