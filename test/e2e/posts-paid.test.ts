/**
 * A Patchwork-like user on a provider that takes payments, by private posts alone: a classic ssb-server 16 posts
 * `request my-pub`, gets a private post with its pay link, pays through the fake Stripe (the real `stripe` client in
 * the provider, signed webhooks to its site), and gets a private post with the pub's invite once it is up. Then the
 * subscription as a subscriber lives it: a cancellation scheduled in the portal and undone is told once each; a
 * failed renewal and its payment are told; the period runs out and the pub stops with its data kept; paying again
 * through the same link brings back the same pub (same identity, same port), and the owner hears so.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startClassicSbot, type ClassicSbot } from '../support/classic-sbot.js'
import { startTestProvider, testProviderSettings } from '../../testkit/sbots.js'
import { deliverWebhook, startFakeStripe, type FakeStripe } from '../../testkit/fake-stripe.js'
import { freePort } from '../../testkit/ports.js'
import { waitFor } from '../../testkit/wait.js'
import { clientCall } from '../../src/ssb/client.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import { privatePosts } from '../support/private-posts.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>
type Status = { request: string; state: string; pub?: { id: string; address: string }; reason?: string }
const WEBHOOK_SECRET = `whsec_test${randomBytes(16).toString('hex')}`
const PLANS = [{ id: 'basic', name: 'Basic', memoryMiB: 128, price: 500, currency: 'eur', interval: 'month' as const }]
const PAY_LINK_RE = /(http:\/\/127\.0\.0\.1:\d+\/pay\/[A-Za-z0-9_.-]+)/
const INVITE_RE = /invite code:\s+(\S+)/i
/** Room for two or three waits on a loaded machine (the whole suite runs beside it). */
const STEP_MS = 150_000

describe('a Patchwork user pays for a pub by private posts and a pay link (Stripe configured)', () => {
  let user: ClassicSbot
  let provider: Provider
  let fake: FakeStripe
  let pubPort: number
  let request: MsgId
  let payLink: string
  let firstUp: Status
  let stripeDays = 0
  /** A day passes at Stripe before the next thing the subscriber (or Stripe) does. */
  const later = () => {
    stripeDays++
  }

  beforeAll(async () => {
    assertPubBuilt()
    fake = await startFakeStripe({
      // Stripe's clock moves a day per step (`later`): facts are ordered by Stripe's time, whole seconds, and a
      // subscriber's steps (pay, cancel, renew, the period's end) are never within one second of each other.
      nowSeconds: () => Math.floor(Date.now() / 1000) + stripeDays * 86_400,
      onEvents: async (events) => {
        // Stripe signs each delivery; these are signed with the stripe library's own test helper.
        for (const e of events) await deliverWebhook({ url: `${provider.siteUrl}/webhooks/stripe`, payload: JSON.stringify(e), secret: WEBHOOK_SECRET })
      },
    })
    const sitePort = await freePort()
    pubPort = await freePort()
    // A whole subscription story in one day: more notices than the daily cap (8) allows a pub.
    const settings = testProviderSettings({ buttcloud: { plans: PLANS, noticesPerPubPerDay: 20 }, runtime: { kind: 'local', ports: { first: pubPort, last: pubPort }, statsIntervalMs: 0 } })
    ;[user, provider] = await Promise.all([
      startClassicSbot(),
      startTestProvider({ ...settings, web: { ...settings.web, port: sitePort, publicUrl: `http://127.0.0.1:${sitePort}` } }, {}, {
        STRIPE_SECRET_KEY: fake.apiKey,
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        STRIPE_API_BASE: fake.url,
      }),
    ])
    await clientCall(user.client, 'invite.accept', await provider.createInvite(1))
  })
  afterAll(async () => {
    await provider?.api.settled()
    await provider?.stop()
    await user?.stop()
    await fake?.close()
  })

  // Each wait ends (with the provider's view of things) well before its test's own timeout (STEP_MS).
  const posts = privatePosts(() => user, () => provider, 45_000)
  const { say, postsToUser } = posts
  const lastSeq = async () => Math.max(0, ...(await postsToUser()).map((m) => m.value.sequence))
  const postMatching = (what: string, re: RegExp, after = 0) =>
    posts.postMatching(what, re, after).catch(
      async (err: Error) => {
        // Say what the provider saw and said, so a failure explains itself.
        const ledger = provider.api.ledger()
        const said = (await postsToUser()).map((m) => `${m.value.sequence}: ${m.value.content.text.slice(0, 100)}`)
        const own = ledger.records().length
        throw new Error(
          `${err.message}\nlast status: ${JSON.stringify(latestStatus())}\nfacts: ${JSON.stringify(ledger.paymentsOf(request).map((f) => [f.kind, f.status, f.subscription, f.cancelAt]))}` +
            `\nnotices in the last day: ${ledger.noticesSince(request, Date.now() - 86_400_000)}; records: ${own}\nposts the user holds:\n${said.join('\n')}`,
        )
      },
    )
  const postsMatching = async (re: RegExp) => (await postsToUser()).filter((m) => re.test(m.value.content.text))
  /** The latest typed status of the pub as the provider posted it. */
  const latestStatus = () => provider.api.ledger().lastPostedStatus(request) as Status | undefined
  /** Press Pay on the pay page, then Pay on the fake Checkout page: the fake then sends its signed webhooks. */
  const pay = async () => {
    const started = await fetch(payLink, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'accept=yes', redirect: 'manual' })
    expect(started.status).toBe(303)
    const checkout = started.headers.get('location') ?? ''
    expect(checkout.startsWith(`${fake.url}/checkout/`)).toBe(true)
    expect((await fetch(`${checkout}/pay`, { method: 'POST', redirect: 'manual' })).status).toBe(303)
    return fake.sessions.get(checkout.split('/').at(-1) ?? '')?.subscription ?? ''
  }

  it('request my-pub: a private post with the pay link; paying brings the pub up and its invite arrives as a post', async () => {
    const asked = await say('request my-pub')
    const waiting = await postMatching('the pay-link post', /waiting for its first payment\. Pay here: /)
    expect(waiting.value.content).toMatchObject({ mentions: [{ link: user.id }], recps: [user.id, provider.id] })
    payLink = PAY_LINK_RE.exec(waiting.value.content.text)![1]!
    request = asked
    expect(provider.api.ledger().record(request)).toMatchObject({ name: 'my-pub', plan: 'basic' })

    await pay()
    const up = await postMatching('the "up" post with the invite', /is up\..*Invite code/s, waiting.value.sequence)
    // The invite names the pub's host and port; the typed status inside the post carries the address.
    const code = INVITE_RE.exec(up.value.content.text)![1]
    expect(code).toContain(`:${pubPort}:`)
    firstUp = latestStatus()!
    expect(firstUp).toMatchObject({ state: 'up', pub: { address: expect.stringContaining(`:${pubPort}~shs:`) } })
    expect(fake.unhandled).toEqual([])
  }, STEP_MS)

  it('a cancellation scheduled in the portal is told once, with its dates and the way back; undoing it is told too', async () => {
    const subscription = [...fake.subscriptions.values()].find((s) => s.status === 'active')!.id
    const before = await lastSeq()
    later()
    await fake.cancelAtPeriodEnd(subscription, true)
    const told = await postMatching('the cancellation notice', /the subscription is cancelled: the pub runs until/, before)
    expect(told.value.content.text).toContain('send "billing my-pub"')
    // Stripe sends the same update again (a retry with a new event id, or another field changed): nothing new is said.
    later()
    await fake.cancelAtPeriodEnd(subscription, true)
    await provider.api.settled()
    expect(await postsMatching(/the subscription is cancelled/)).toHaveLength(1)
    later()
    await fake.cancelAtPeriodEnd(subscription, false)
    await postMatching('the notice that the cancellation is undone', /the cancellation is undone/, told.value.sequence)
  }, STEP_MS)

  it('a failed renewal is told with the grace end and the pay link; the payment made good is told too', async () => {
    const subscription = [...fake.subscriptions.values()].find((s) => s.status === 'active')!.id
    const before = await lastSeq()
    later()
    await fake.renew(subscription, 'failed')
    const failed = await postMatching('the payment-failed notice', /still running, but the last payment failed; pay before \d{4}-\d\d-\d\d/, before)
    expect(failed.value.content.text).toContain(`Pay here: ${payLink}`)
    later()
    await fake.renew(subscription, 'paid')
    await postMatching('the notice that the payment arrived', /the payment arrived, and the subscription is in good standing again/, failed.value.sequence)
    expect(latestStatus()).toMatchObject({ state: 'up', pub: firstUp.pub })
  }, STEP_MS)

  it('when the period runs out the pub stops with its data kept; paying again through the same link brings back the same pub', async () => {
    const subscription = [...fake.subscriptions.values()].find((s) => s.status === 'active')!.id
    later()
    await fake.cancelAtPeriodEnd(subscription, true)
    const before = await lastSeq()
    later()
    await fake.endPeriod(subscription)
    const stopped = await postMatching('the stopped notice with the pay link', /is stopped: the subscription ended.*kept until.*Pay here: /s, before)
    expect(stopped.value.content.text).toContain(payLink)
    await waitFor('the stopped status', async () => (latestStatus()?.state === 'stopped' ? true : undefined), { timeoutMs: 45_000 })

    later()
    const again = await pay()
    expect(again).not.toBe(subscription)
    const back = await postMatching('the notice that the pub runs again', /is running again on its new subscription/, stopped.value.sequence)
    expect(back.value.content.text).toContain(`:${pubPort}~shs:`)
    const status = await waitFor('the "up" status after paying again', async () => (latestStatus()?.state === 'up' ? latestStatus() : undefined), { timeoutMs: 45_000 })
    // The same pub: the same identity and address (port) as before it stopped.
    expect(status.pub).toEqual(firstUp.pub)
    expect(status.reason).toMatch(/^running again on a new subscription/)
    expect(provider.api.ledger().records().filter((r) => r.owner === user.id)).toHaveLength(1)
    expect(fake.unhandled).toEqual([])
  }, STEP_MS)
})
