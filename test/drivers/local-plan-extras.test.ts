/**
 * A plan's disk allowance and web view under the local runtime, end to end with a real provider, pub process and
 * owner sbot: the "up" status names the web view, whose page (fetched over HTTP) shows the pub and how to join but
 * no invite; the owner fills the 1 MiB allowance with posts and hears each crossing (90%, then 100%) once, as a
 * status and a private post, and `stats` shows used/allowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runtimeFromSettings } from '../../src/provider/runtime-from-settings.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { commandAndReply, nextStatus, statuses, type Status } from './helpers.js'
import { waitFor } from '../../testkit/wait.js'
import { freePort } from '../../testkit/ports.js'

// Web views on 28710-28719: clear of every other test's and benchmark's pool and web block.
const PORTS = { first: 28700, last: 28709 }
const TEXT = 'x'.repeat(4000)

describe('a plan with a disk allowance and a web view, under the local runtime', () => {
  let provider: Awaited<ReturnType<typeof startTestProvider>>
  let settings: ReturnType<typeof testProviderSettings>
  let user: TestPeer
  let request: MsgId
  let up: Status & { pub: { id: string; address: string; web?: string } }

  const diskStatuses = async (words: RegExp) => (await statuses(user.sbot, request)).filter((s) => words.test(s.reason ?? ''))
  const diskPosts = async (words: RegExp) =>
    (await messagesOfType<{ text?: string }>(user.sbot, 'post')).filter((m) => words.test(m.value.content.text ?? ''))
  /** The owner posts until the provider's status says `words`. */
  const postUntil = async (words: RegExp): Promise<Status> => {
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i < 8; i++) await publish(user.sbot.db, { type: 'post', text: `${round}.${i} ${TEXT}` })
      const seen = await waitFor('the disk status', async () => (await diskStatuses(words))[0], { timeoutMs: 1500, intervalMs: 100 }).catch(() => undefined)
      if (seen) return seen
    }
    throw new Error(`no status matching ${words}`)
  }

  beforeAll(async () => {
    assertPubBuilt()
    settings = testProviderSettings({
      // Fixed: the owner finds the restarted provider where it left it.
      port: await freePort(),
      runtime: { kind: 'local', hubAddress: '127.0.0.1', ports: PORTS, settleMs: 20_000, statsIntervalMs: 0, diskIntervalMs: 200, env: { PUB_DISK_CHECK_MS: '100' } },
      buttcloud: {
        passIntervalMs: 500,
        plans: [{ id: 'tiny', name: 'Tiny', memoryMiB: 128, price: 0, currency: 'usd', interval: 'month', diskMiB: 1, webView: true }],
      },
    })
    provider = await startTestProvider(settings, { runtime: runtimeFromSettings(settings) })
    user = startPeer()
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
  })

  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
  })

  it('names the web view in "up"; its page shows the pub and how to join, never an invite', async () => {
    const msg = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'tiny', name: 'disk pub', recps: [user.id, provider.id] })
    request = msg.key
    up = (await nextStatus(user.sbot, request, 0, (s) => s.state === 'up', '"up"')) as typeof up
    const port = Number(/^net:127\.0\.0\.1:(\d+)~shs:/.exec(up.pub.address)![1])
    // The web port is the SSB port's place in the block just above the pool.
    expect(up.pub.web).toBe(`http://127.0.0.1:${port + (PORTS.last - PORTS.first + 1)}/`)

    // "Up" means the pub serves SSB; its web view opens just after (pub/README.md), so the page is waited for briefly.
    const page = await waitFor('the web view to answer', () => fetch(up.pub.web!).catch(() => undefined), { timeoutMs: 10_000, intervalMs: 50 })
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('<h1>disk pub</h1>')
    expect(html).toContain(up.pub.id)
    expect(html).toContain(up.pub.address)
    expect(html).toContain('How to join')
    expect(up.invite).toBeDefined()
    expect(html).not.toContain(up.invite!)
    expect(html).not.toMatch(/~[A-Za-z0-9+/]{43}=/) // no invite seed of any kind
    const facts = (await (await fetch(`${up.pub.web}json`)).json()) as Record<string, string>
    expect(facts).toEqual({ name: 'disk pub', id: up.pub.id, address: up.pub.address, owner: user.id })
  })

  it('tells the owner once past 90% and once at 100%, and stats shows used/allowed', { timeout: 240_000 }, async () => {
    // Remembered, so ssb-conn redials it if the connection drops on a loaded machine.
    user.sbot.conn.remember(up.pub.address, { type: 'pub', autoconnect: true })
    await call(user.sbot.conn.connect, up.pub.address)
    // Most of the way at once (~750 KB of log, under 90% of 1 MiB), then a few posts at a time.
    for (let i = 0; i < 175; i++) await publish(user.sbot.db, { type: 'post', text: `bulk ${i} ${TEXT}` })
    expect(await diskStatuses(/disk allowance/)).toEqual([])
    const warn = await postUntil(/passed 90%/)
    expect(warn.state).toBe('up')
    const stats = await commandAndReply(user, provider.id, request, 'stats')
    expect(stats.ok).toBe(true)
    const disk = stats.result!.stats.disk as { usedBytes: number; allowedBytes: number }
    expect(disk.allowedBytes).toBe(1024 * 1024)
    expect(disk.usedBytes).toBeGreaterThanOrEqual(0.9 * disk.allowedBytes)

    const full = await postUntil(/fill its 1 MiB/)
    expect(full.state).toBe('up')
    // A later reply means later passes ran: each crossing is still said once, in a status and in a post.
    const again = await commandAndReply(user, provider.id, request, 'stats')
    expect(again.result!.stats.disk.usedBytes).toBeGreaterThanOrEqual(1024 * 1024)
    expect(await diskStatuses(/passed 90%/)).toHaveLength(1)
    expect(await diskStatuses(/fill its 1 MiB/)).toHaveLength(1)
    expect(await diskPosts(/passed 90%/)).toHaveLength(1)
    expect(await diskPosts(/fill its 1 MiB/)).toHaveLength(1)
  })

  it('says nothing again after a provider restart: the first pass waits for the disks', async () => {
    await provider.stop({ keepData: true })
    provider = await startTestProvider(settings, { runtime: runtimeFromSettings(settings) })
    await call(user.sbot.conn.connect, provider.address)
    // A reply from the new provider means its first passes ran (the local pub was adopted, up all along).
    const stats = await commandAndReply(user, provider.id, request, 'stats')
    expect(stats.result!.stats.disk.usedBytes).toBeGreaterThanOrEqual(1024 * 1024)
    await provider.api.settled()
    // Read from the provider's own log (statuses are boxed to it too): nothing new was posted about this pub.
    const posted = await statuses(provider.sbot, request)
    expect(posted.filter((s) => /fill its 1 MiB/.test(s.reason ?? ''))).toHaveLength(1)
    expect(posted.at(-1)!.reason).toMatch(/fill its 1 MiB/)
    expect(posted).toHaveLength((await statuses(user.sbot, request)).length)
  })
})
