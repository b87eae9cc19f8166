/**
 * Payment end to end with the real provider: a request on a paid plan gets a private status with a pay link;
 * headless Chromium opens it, pays at the (fake) Stripe Checkout, the signed webhooks reach the provider's site,
 * the payment becomes a fact in the provider's log and the owner's sbot sees the pub move on. A replayed webhook
 * changes nothing; the owner's destroy cancels the subscription.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { publish } from '../../src/ssb/db2.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { deliverWebhook, startFakeStripe, type FakeEvent, type FakeStripe } from '../../testkit/fake-stripe.js'
import { haveChromium, launchChromium } from '../support/chromium.js'
import { freePort } from '../../testkit/ports.js'
import { readPrivateRecords } from '../../plugins/buttcloud/private-records.js'
import type { PaymentFact } from '../../src/protocol/payment.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

type Status = { request: string; state: string; paymentUrl?: string; reason?: string; pub?: { address: string }; invite?: string }
const WEBHOOK_SECRET = `whsec_test${randomBytes(16).toString('hex')}`
const PLANS = [{ id: 'basic', name: 'Basic', memoryMiB: 128, price: 500, currency: 'eur', interval: 'month' as const }]

describe.skipIf(!haveChromium())('paying for a pub', () => {
  let fake: FakeStripe
  let provider: Awaited<ReturnType<typeof startTestProvider>>
  let user: TestPeer
  const delivered: FakeEvent[] = []
  const logs: string[] = []
  let pubPort: number

  beforeAll(async () => {
    fake = await startFakeStripe({
      onEvents: async (events) => {
        for (const e of events) {
          delivered.push(e)
          await deliverWebhook({ url: `${provider.siteUrl}/webhooks/stripe`, payload: JSON.stringify(e), secret: WEBHOOK_SECRET })
        }
      },
    })
    const port = await freePort()
    pubPort = await freePort()
    // The local runtime: once paid, the pub really runs (a child process on its own port).
    const settings = testProviderSettings({ buttcloud: { plans: PLANS }, runtime: { kind: 'local', ports: { first: pubPort, last: pubPort } } })
    provider = await startTestProvider({ ...settings, web: { ...settings.web, port, publicUrl: `http://127.0.0.1:${port}` } }, { log: (l) => logs.push(l) }, {
      STRIPE_SECRET_KEY: fake.apiKey,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_BASE: fake.url,
    })
    user = startPeer()
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
  })
  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
    await fake?.close()
  })

  /** The payment facts the provider recorded, from its private records journal. */
  const paymentFacts = () =>
    readPrivateRecords(provider.settings.path)
      .map((r) => r.content)
      .filter((c): c is PaymentFact => c.type === 'buttcloud/payment')
  const statuses = async (request: MsgId) =>
    (await messagesOfType<Status>(user.sbot, 'buttcloud/status')).filter((m) => m.value.content.request === request)
  const latest = async (request: MsgId) => (await statuses(request)).sort((a, b) => a.value.sequence - b.value.sequence).at(-1)

  it('sends a pay link privately, takes the payment in a browser, and moves the pub on', async () => {
    const req = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'basic', name: 'Paid pub', recps: [user.id, provider.id] })
    const waiting = await waitFor('the awaiting-payment status', async () => (await statuses(req.key))[0], { timeoutMs: 20_000 })
    expect(waiting.value.content).toMatchObject({ state: 'awaiting-payment', paymentUrl: expect.stringContaining(`${provider.siteUrl}/pay/`) })
    expect(provider.api.ledger().record(req.key)).toMatchObject({ intent: 'running' })

    const browser = await launchChromium()
    try {
      const page = await browser.context.newPage()
      await page.goto(waiting.value.content.paymentUrl!)
      expect(await page.textContent('main')).toContain('Paid pub')
      expect(await page.textContent('main')).toContain(user.id)
      await page.getByLabel(/I accept the terms/).check()
      await page.getByRole('button', { name: /^Pay/ }).click()
      await page.waitForURL(`${fake.url}/checkout/**`)
      await page.getByRole('button', { name: 'Pay' }).click()
      await page.waitForURL(/\/success\?session_id=cs_test_/)
    } finally {
      await browser.close()
    }

    // The webhooks became payment facts in the provider's private records, none on the feed its customers replicate.
    const facts = paymentFacts()
    expect(facts.map((f) => f.kind)).toEqual(expect.arrayContaining(['checkout-completed', 'invoice-paid']))
    expect(await messagesOfType(provider.sbot, 'buttcloud/payment')).toEqual([])

    // Paid: the pub is created and the owner's sbot hears it is up, with its address and a first invite.
    const moved = await waitFor('the "up" status after payment', async () => {
      const s = await latest(req.key)
      return s && s.value.content.state === 'up' ? s : undefined
    }, { timeoutMs: 30_000 }).catch((err: Error) => {
      // Say what the provider saw: its log, its payment facts and the statuses it posted.
      const ledger = provider.api.ledger()
      throw new Error(
        `${err.message}\nprovider log:\n${logs.join('\n')}\nfacts: ${JSON.stringify(ledger.paymentsOf(req.key).map((f) => [f.kind, f.status, f.created]))}` +
          `\nlast status posted: ${JSON.stringify(ledger.lastPostedStatus(req.key)?.state)}`,
      )
    })
    expect(moved.value.content).toMatchObject({ state: 'up', pub: { address: expect.stringContaining(`:${pubPort}~shs:`) }, invite: expect.any(String) })
    expect(moved.value.content.paymentUrl).toBeUndefined()
    // One status post per transition the owner should hear of: provisioning is not posted.
    expect((await statuses(req.key)).map((m) => m.value.content.state)).toEqual(['awaiting-payment', 'up'])

    // Stripe retries: the same events again change nothing.
    const before = paymentFacts().length
    for (const e of delivered) {
      const res = await deliverWebhook({ url: `${provider.siteUrl}/webhooks/stripe`, payload: JSON.stringify(e), secret: WEBHOOK_SECRET })
      expect(res.status).toBe(200)
    }
    // A forged one (wrong secret) is refused.
    const forged = await deliverWebhook({ url: `${provider.siteUrl}/webhooks/stripe`, payload: JSON.stringify(delivered[0]), secret: `whsec_${randomBytes(16).toString('hex')}` })
    expect(forged.status).toBe(400)
    await provider.api.settled()
    expect(paymentFacts().length).toBe(before)

    // The owner destroys the pub: the subscription is cancelled once, and the cancellation is a fact too.
    const destroy = await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request: req.key, verb: 'destroy', recps: [user.id, provider.id] })
    const reply = await waitFor('the reply to destroy', async () => (await messagesOfType<{ command: string; ok: boolean }>(user.sbot, 'buttcloud/reply')).find((m) => m.value.content.command === destroy.key), { timeoutMs: 20_000 })
    expect(reply.value.content.ok).toBe(true)
    const subscription = [...fake.subscriptions.values()][0]!
    expect(subscription.status).toBe('canceled')
    const cancels = paymentFacts().filter((f) => f.kind === 'cancel-requested')
    expect(cancels.map((f) => f.event)).toEqual([destroy.key])
    await waitFor('destroyed', async () => ((await latest(req.key))?.value.content.state === 'destroyed' ? true : undefined), { timeoutMs: 20_000 })
    expect(fake.unhandled).toEqual([])
  })
})

