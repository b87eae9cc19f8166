/**
 * Payment facts regained after a restore, with a real provider, the real `stripe` client against the fake and
 * signed webhooks: an owner pays; the provider is backed up; the owner cancels at period end in the portal, and the
 * old provider answers that webhook (so Stripe never sends it again) and dies. A provider restored from the backup
 * (caught up from the owner's sbot) starts, reads Stripe's events back once the owner's request has arrived, and
 * knows the same standing as the old one: the cancellation and its date. The runtime is the in-memory engine: what
 * matters here is the payment record.
 */
import { mkdtempSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { makeBackup, restoreBackup } from '../../src/provider/identity-store.js'
import { catchUp } from '../../src/provider/catch-up.js'
import { paymentStanding } from '../../src/payment/lifecycle.js'
import { DEFAULT_TIMERS } from '../../src/payment/config.js'
import { publish } from '../../src/ssb/db2.js'
import { call } from '../../src/ssb/client.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { deliverWebhook, startFakeStripe, type FakeStripe } from '../../testkit/fake-stripe.js'
import { freePort } from '../../testkit/ports.js'
import { joinWithInvite, messagesOfType, removeLater, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'
import { inMemoryRuntime } from '../orchestrator/fakes.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>
const WEBHOOK_SECRET = `whsec_test${randomBytes(16).toString('hex')}`
const PLANS = [{ id: 'basic', name: 'Basic', memoryMiB: 128, price: 500, currency: 'eur', interval: 'month' as const }]

describe('a provider restored from a backup made before a payment event', () => {
  const cleanup: Array<() => Promise<unknown>> = []
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined)
  })

  it('reads the events the old provider answered back from Stripe and knows the same standing', async () => {
    /** Where Stripe delivers webhooks: the running provider's site. */
    let site = ''
    let days = 0
    const fake: FakeStripe = await startFakeStripe({
      nowSeconds: () => Math.floor(Date.now() / 1000) + days * 86_400,
      onEvents: async (events) => {
        for (const e of events) await deliverWebhook({ url: `${site}/webhooks/stripe`, payload: JSON.stringify(e), secret: WEBHOOK_SECRET })
      },
    })
    cleanup.push(() => fake.close())
    const env = { STRIPE_SECRET_KEY: fake.apiKey, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: fake.url }
    const withSite = async () => {
      const port = await freePort()
      const settings = testProviderSettings({ buttcloud: { plans: PLANS } })
      return { ...settings, web: { ...settings.web, port, publicUrl: `http://127.0.0.1:${port}` } }
    }

    const settings1 = await withSite()
    const p1: Provider = await startTestProvider(settings1, { runtime: inMemoryRuntime() }, env)
    cleanup.push(() => p1.stop())
    site = p1.siteUrl!
    const user: TestPeer = startPeer()
    cleanup.push(() => user.stop())
    await joinWithInvite(user.sbot, await p1.createInvite(1), p1.address)

    // The owner asks for a paid pub and pays at Checkout (the site's Pay form, then the hosted page's Pay button).
    const request: MsgId = (await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: p1.id, plan: 'basic', recps: [user.id, p1.id] })).key
    const payUrl = await waitFor('the pay link', async () => {
      const s = (await messagesOfType<{ request: MsgId; paymentUrl?: string }>(user.sbot, 'buttcloud/status')).find((m) => m.value.content.request === request)
      return s?.value.content.paymentUrl
    }, { timeoutMs: 30_000 })
    const checkout = await fetch(payUrl, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: new URL(site).origin }, body: 'accept=yes' })
    expect(checkout.status).toBe(303)
    const paid = await fetch(`${checkout.headers.get('location')}/pay`, { method: 'POST', redirect: 'manual' })
    expect(paid.status).toBe(303)
    await waitFor('the payment recorded', async () => (p1.api.ledger().paymentsOf(request).some((f) => f.kind === 'checkout-completed') ? true : undefined), { timeoutMs: 20_000 })
    await p1.api.settled()

    const backup = await makeBackup(settings1, undefined)

    // After the backup: the owner cancels at period end; the old provider answers the webhook and tells the owner.
    days++
    const subscription = [...fake.subscriptions.values()][0]!.id
    await fake.cancelAtPeriodEnd(subscription, true)
    await waitFor('the cancellation recorded', async () => (p1.api.ledger().paymentsOf(request).some((f) => f.cancelAt !== undefined) ? true : undefined), { timeoutMs: 20_000 })
    await p1.api.settled()
    const now = Date.now()
    const standing = (p: Provider) => paymentStanding(request, p.api.ledger().paymentsOf(request), { requestedAt: p.api.ledger().record(request)!.requestedAt, now, timers: DEFAULT_TIMERS, free: false })
    const truth = standing(p1)
    expect(truth.cancelAt).toBeDefined()
    const oldLatest = (await call<{ sequence: number }>(p1.sbot.getFeedState as never, p1.id)).sequence
    await waitFor("the owner's sbot to hold the provider's latest", async () => ((await call<{ sequence: number }>(user.sbot.getFeedState as never, p1.id)).sequence === oldLatest ? true : undefined), { timeoutMs: 20_000 })
    await p1.stop({ keepData: true })

    // Restored on a fresh folder and caught up from the owner's sbot: the journal is the backup's, without the cancellation.
    const settings2 = { ...(await withSite()), path: mkdtempSync(join(tmpdir(), 'bc-restored-')) }
    removeLater(settings2.path)
    await restoreBackup(backup, settings2)
    const caught = await catchUp(settings2, [user.sbot.getAddress()!.split(';')[0]!], { timeoutMs: 30_000 })
    expect(caught.caughtUp).toBe(true)
    const p2: Provider = await startTestProvider(settings2, { runtime: inMemoryRuntime(), stripeSyncRetryMs: 200 }, env)
    cleanup.push(() => p2.stop())
    site = p2.siteUrl!
    // At its start the owner's request has not arrived yet: its events wait to be read again.
    expect((await p2.stripeSync!.first).outcomes['retry-later']).toBeGreaterThan(0)
    await call(user.sbot.conn.connect, p2.address)
    await waitFor('the owner\'s request at the restored provider', async () => (p2.api.ledger().record(request) ? true : undefined), { timeoutMs: 30_000 })
    await waitFor('the cancellation read back from Stripe', async () => (p2.api.ledger().paymentsOf(request).some((f) => f.cancelAt !== undefined) ? true : undefined), { timeoutMs: 20_000 })
    expect(standing(p2)).toEqual(truth)
    expect(new Set(p2.api.ledger().paymentsOf(request).map((f) => f.event))).toEqual(new Set(p1.api.ledger().paymentsOf(request).map((f) => f.event)))
    expect(fake.unhandled).toEqual([])
  })
})
