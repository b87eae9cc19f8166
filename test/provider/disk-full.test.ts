/**
 * Fault injection: the built provider (a real process, local runtime, Stripe webhooks) with its data on a small
 * tmpfs made for this test, filled to the last byte. It writes nothing it would acknowledge while the disk is full
 * (a webhook is asked to retry, a command waits) and stays up; when peers' messages need space it does not have,
 * it stops with one clear line. Its local pub runs on either way. Once space is freed and it is started again, it adopts the pub, and nothing it acknowledged is lost: a
 * webhook answered 200 before has its payment on disk, a command answered before is not answered again, and what
 * waited is done once.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectName } from '../../src/planner/index.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import { nextStatus, statuses, type Reply } from '../drivers/helpers.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import { deliverWebhook } from '../../testkit/fake-stripe.js'
import { freePort } from '../../testkit/ports.js'
import { startNode, type Child } from '../support/processes.js'
import { endLocalPubs, joinWithInvite, messagesOfType, startPeer, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

const MAIN = resolve('dist/src/provider/main.js')
const WEBHOOK_SECRET = `whsec_test${randomBytes(16).toString('hex')}`
const PLANS = [
  { id: 'free', name: 'Free', memoryMiB: 128, price: 0, currency: 'usd', interval: 'month' },
  { id: 'basic', name: 'Basic', memoryMiB: 128, price: 500, currency: 'usd', interval: 'month' },
]

describe('a full disk', () => {
  const root = mkdtempSync(join(tmpdir(), 'bc-full-'))
  const mount = join(root, 'disk')
  const data = join(mount, 'provider')
  const configFile = join(root, 'provider.json')
  const filler = join(mount, 'filler')
  let mounted = false
  let provider: Child | undefined
  let user: TestPeer | undefined
  let id: FeedId
  let address: string
  let site: string
  const env = { STRIPE_SECRET_KEY: 'sk_test_disk_full', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: 'http://127.0.0.1:9' }

  async function startProvider(): Promise<Child> {
    const child = startNode(MAIN, ['--config', configFile], env)
    const [, feed] = await child.waitForOutput(/id:\s+(@\S+)/, 60_000)
    const [, addr] = await child.waitForOutput(/address:\s+(net:\S+)/)
    id = feed as FeedId
    address = addr!
    return child
  }

  /** A signed checkout.session.completed for `request`, as Stripe sends it. */
  function paid(request: MsgId, event: string) {
    const object = {
      object: 'checkout.session',
      id: `cs_test_${event}`,
      mode: 'subscription',
      subscription: `sub_${event}`,
      customer: `cus_${event}`,
      payment_status: 'paid',
      metadata: { buttcloud_request: request, buttcloud_owner: user!.id },
    }
    const payload = JSON.stringify({ id: `evt_${event}`, object: 'event', created: Math.floor(Date.now() / 1000), type: 'checkout.session.completed', data: { object } })
    return deliverWebhook({ url: `${site}/webhooks/stripe`, payload, secret: WEBHOOK_SECRET })
  }

  const repliesTo = async (command: MsgId) =>
    (await messagesOfType<Reply>(user!.sbot, 'buttcloud/reply')).filter((m) => m.value.content.command === command)
  const command = (request: MsgId, verb: string) =>
    publish(user!.sbot.db, { type: 'buttcloud/command', version: 1, request, verb, recps: [user!.id, id] })

  /** Fill the disk to the last byte. */
  function fill(): number {
    const fd = openSync(filler, 'w')
    const chunk = Buffer.alloc(256 * 1024, 7)
    let written = 0
    try {
      for (;;) written += writeSync(fd, chunk)
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC')
    } finally {
      closeSync(fd)
    }
    return written
  }

  beforeAll(async () => {
    assertPubBuilt()
    execFileSync('mkdir', ['-p', mount])
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'tmpfs', mount])
    mounted = true
    const [port, web, pubPort] = [await freePort(), await freePort(), await freePort()]
    site = `http://127.0.0.1:${web}`
    writeFileSync(
      configFile,
      JSON.stringify({
        path: data,
        host: '127.0.0.1',
        port,
        externalHost: '127.0.0.1',
        allowPrivate: true,
        minFreeMiB: 4,
        buttcloud: { name: 'Disk test', plans: PLANS, passIntervalMs: 300 },
        web: { host: '127.0.0.1', port: web, publicUrl: site },
        runtime: { kind: 'local', hubAddress: '127.0.0.1', ports: { first: pubPort, last: pubPort }, settleMs: 20_000, statsIntervalMs: 0 },
      }),
    )
  })

  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
    await endLocalPubs(data)
    if (mounted) execFileSync('umount', ['-l', mount])
    rmSync(root, { recursive: true, force: true })
  })

  it('acknowledges nothing it cannot keep, stays up or stops with one clear line, and loses nothing across a restart', async () => {
    provider = await startProvider()
    user = startPeer()
    const invite = (await provider.waitForOutput(/^\s+(\S+:\d+:@\S+~\S+)$/m))[1]!
    await joinWithInvite(user.sbot, invite, address)

    // Before the disk fills: a free pub runs, a paid one is paid for (webhook answered 200), a command is answered.
    const free = (await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: id, plan: 'free', name: 'Free pub', recps: [user.id, id] })).key
    await nextStatus(user.sbot, free, 0, (s) => s.state === 'up', 'the free pub to be up', 60_000)
    const pubPid = Number(readFileSync(join(data, 'pubs', objectName(free), 'pid'), 'utf8'))
    const paidEarly = (await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: id, plan: 'basic', name: 'Paid early', recps: [user.id, id] })).key
    await nextStatus(user.sbot, paidEarly, 0, (s) => s.state === 'awaiting-payment', 'awaiting payment')
    const paidLate = (await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: id, plan: 'basic', name: 'Paid late', recps: [user.id, id] })).key
    await nextStatus(user.sbot, paidLate, 0, (s) => s.state === 'awaiting-payment', 'awaiting payment')
    const early = await paid(paidEarly, 'early')
    expect(early.status).toBe(200)
    expect(await early.json()).toMatchObject({ outcome: 'recorded' })
    const answered = await command(free, 'invite')
    await waitFor('the reply to invite', async () => ((await repliesTo(answered.key)).length === 1 ? true : undefined), { timeoutMs: 30_000 })

    // The disk fills up.
    const filled = fill()
    expect(filled).toBeGreaterThan(0)
    // A webhook now is not acknowledged: Stripe is asked to retry (or the provider has stopped).
    const late = await paid(paidLate, 'late').catch(() => undefined)
    if (late) expect(late.status).toBe(500)
    // A command now waits: the provider replicates it (which may need the disk it does not have) but answers nothing.
    const waiting = await command(free, 'stats')
    await waitFor('the provider to notice', async () => (/disk nearly full, writing nothing/.test(provider!.output()) ? true : undefined), { timeoutMs: 30_000 })
    // It stays up, writing nothing of its own: the command is not answered.
    expect(provider.child.exitCode).toBe(null)
    expect(await repliesTo(waiting.key)).toEqual([])
    // Peers' messages are not the provider's to refuse: replicating 300 KB of them needs log blocks the disk does
    // not have, and the provider stops cleanly, with its own exit code and one line that says why.
    for (let i = 0; i < 150; i++) await publish(user.sbot.db, { type: 'post', text: `${i} ${'x'.repeat(2000)}` })
    await waitFor('the provider to stop', async () => (provider!.child.exitCode !== null ? true : undefined), { timeoutMs: 30_000 })
    expect(provider.child.exitCode).toBe(75)
    expect(provider.output()).toMatch(/buttcloud-provider: the disk is full \(.*\); stopping now .* Free some space and start it again/)
    // No stack trace on the way out (the output before the disk filled has ssb-ref's deprecation trace).
    const end = provider.output().slice(provider.output().indexOf('disk nearly full'))
    expect(end).not.toMatch(/^\s+at /m)
    // Either way the local pub runs on.
    expect(existsSync(`/proc/${pubPid}`)).toBe(true)

    // Space is freed; the provider is stopped (if it is still up) and started again on the same data.
    rmSync(filler)
    await provider.stop()
    provider = await startProvider()
    await call(user.sbot.conn.connect, address)
    // It adopted the pub that ran on: the same process, still up, no second one started.
    await provider.waitForOutput(new RegExp(`pub ${objectName(free)} is still running \\(pid ${pubPid}\\): adopted`))
    expect(Number(readFileSync(join(data, 'pubs', objectName(free), 'pid'), 'utf8'))).toBe(pubPid)

    // What waited is done once: the command answered, the webhook Stripe retries recorded.
    await waitFor('the reply to stats', async () => ((await repliesTo(waiting.key)).length === 1 ? true : undefined), { timeoutMs: 30_000 })
    const retried = await paid(paidLate, 'late')
    expect(retried.status).toBe(200)
    expect((await retried.json()) as { outcome: string }).toMatchObject({ outcome: expect.stringMatching(/^(recorded|duplicate)$/) })
    // What was acknowledged before is still there: the early payment (a replay is a duplicate), the early answer.
    const replay = await paid(paidEarly, 'early')
    expect(await replay.json()).toMatchObject({ outcome: 'duplicate' })
    expect(await repliesTo(answered.key)).toHaveLength(1)
    for (const request of [paidEarly, paidLate]) {
      await waitFor('the paid pub to move on', async () => ((await statuses(user!.sbot, request)).some((s) => s.state === 'provisioning' || s.state === 'up' || s.state === 'queued') ? true : undefined), { timeoutMs: 30_000 })
    }
    expect((await statuses(user.sbot, free)).at(-1)?.state).toBe('up')
  })
})
