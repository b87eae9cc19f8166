/**
 * The owner's path in a real browser: the pay link from their status message, the Pay form (no JavaScript), the
 * fake Stripe Checkout, back to the success page, while the signed webhook reaches the site and the ledger records
 * the payment. With BUTTCLOUD_SCREENSHOT=1 it also saves docs/pay-page.png, the screenshot the README shows (only
 * then: a normal run writes nothing into the repository).
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Hono } from 'hono'
import { chromium, type BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPaymentSite } from '../../web/site.js'
import { serveSite, type RunningSite } from '../../web/server.js'
import { checkOutgoing } from '../../src/protocol/parse.js'
import { payLinkUrl } from '../../src/payment/links.js'
import { paymentStanding } from '../../src/payment/lifecycle.js'
import { DEFAULT_TIMERS } from '../../src/payment/config.js'
import { deliverWebhook, startFakeStripe, type FakeStripe } from '../../testkit/fake-stripe.js'
import { LINK_SECRET, MemoryDirectory, MemoryLedger, OFFER, WEBHOOK_SECRET } from '../../testkit/payment-fixtures.js'
import { OWNER, PROVIDER, REQUEST } from '../../testkit/payment-ids.js'

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = join(dirname(fileURLToPath(import.meta.url)), '../../docs/pay-page.png')
// Playwright adds --headless itself for `headless: true`; these are the rest of the flags that work here.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** The one DOM call made inside the page. */
type InPage = { getComputedStyle(element: unknown): { backgroundColor: string } }

const inCI = process.env.CI === 'true'
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium && !inCI) console.warn(`browser test skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`)

describe.skipIf(!haveChromium && !inCI)('paying in a real browser', () => {
  let fake: FakeStripe
  let site: RunningSite
  let context: BrowserContext
  let profile: string
  const ledger = new MemoryLedger()
  const webhookAnswers: Array<{ type: string; status: number }> = []

  beforeAll(async () => {
    // In CI a missing browser is a broken machine, never a reason to pass.
    expect(haveChromium, `Chromium is required at ${CHROMIUM} when CI=true`).toBe(true)
    fake = await startFakeStripe({
      // Stripe's webhook delivery: each event, signed, to the site (before the browser is sent back).
      onEvents: async (events) => {
        for (const e of events) {
          const res = await deliverWebhook({ url: `${site.url}/webhooks/stripe`, payload: JSON.stringify(e), secret: WEBHOOK_SECRET })
          webhookAnswers.push({ type: e.type, status: res.status })
        }
      },
    })
    // The site needs its own URL for Checkout's return links: listen first, then mount the app.
    const outer = new Hono()
    site = await serveSite(outer)
    outer.route(
      '/',
      createPaymentSite({
        stripe: fake.client(),
        webhookSecret: WEBHOOK_SECRET,
        linkSecret: LINK_SECRET,
        baseUrl: site.url,
        provider: PROVIDER,
        offer: OFFER,
        directory: new MemoryDirectory(),
        ledger,
        log: () => {},
      }),
    )
    profile = await mkdtemp(join(tmpdir(), 'buttcloud-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      // A phone-sized window: the page must read well there.
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
    })
  })

  afterAll(async () => {
    await context?.close()
    if (profile) await rm(profile, { recursive: true, force: true })
    await site?.close()
    await fake?.close()
  })

  it('pays from the link in the status message, and the webhook records the payment', async () => {
    // The link as the provider sends it: inside a buttcloud/status, checked against the schema it is published with.
    const status = checkOutgoing('buttcloud/status', {
      type: 'buttcloud/status',
      version: 1,
      request: REQUEST,
      state: 'awaiting-payment',
      paymentUrl: payLinkUrl(site.url, LINK_SECRET, REQUEST),
      recps: [OWNER, PROVIDER],
    })
    const page = await context.newPage()
    const cspViolations: string[] = []
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/.test(m.text())) cspViolations.push(m.text())
    })

    await page.goto(status.paymentUrl ?? '')
    await expect(page.getByRole('heading', { name: 'Pay for your pub' }).isVisible()).resolves.toBe(true)
    expect(await page.textContent('main')).toContain(OWNER)
    expect(await page.textContent('main')).toContain('€5.00 per month')
    // The stylesheet applied (its CSP hash matched): the button wears the accent colour.
    const pay = page.getByRole('button', { name: /^Pay/ })
    // (The project compiles without the DOM library; this function runs in the page, where the DOM exists.)
    const background = await pay.evaluate((b) => (globalThis as unknown as InPage).getComputedStyle(b).backgroundColor)
    expect(background).toBe('rgb(59, 91, 219)')
    if (process.env.BUTTCLOUD_SCREENSHOT) {
      await mkdir(dirname(SCREENSHOT), { recursive: true })
      await page.screenshot({ path: SCREENSHOT, fullPage: true })
    }

    // Without ticking the terms the browser itself holds the form back: no JavaScript, no Stripe call.
    await pay.click()
    expect(page.url()).toBe(status.paymentUrl)
    expect(fake.sessions.size).toBe(0)

    await page.getByLabel(/I accept the terms/).check()
    await pay.click()
    await page.waitForURL(`${fake.url}/checkout/**`)
    await expect(page.getByRole('heading', { name: 'Fake Stripe Checkout' }).isVisible()).resolves.toBe(true)

    await page.getByRole('button', { name: 'Pay' }).click()
    await page.waitForURL(/\/success\?session_id=cs_test_/)
    expect(await page.textContent('main')).toContain('Stripe has confirmed your payment for Our Pub')

    // The owner manages the subscription from here: the button opens a fresh Customer Portal session at Stripe.
    await page.getByRole('button', { name: 'Manage billing' }).click()
    await page.waitForURL(`${fake.url}/billing/**`)
    await expect(page.getByRole('heading', { name: 'Fake Stripe customer portal' }).isVisible()).resolves.toBe(true)
    expect(await page.textContent('#customer')).toBe(fake.subscriptions.get([...fake.sessions.values()][0]?.subscription ?? '')?.customer)

    expect(webhookAnswers).toEqual([
      { type: 'customer.subscription.created', status: 200 },
      { type: 'invoice.paid', status: 200 },
      { type: 'checkout.session.completed', status: 200 },
    ])
    const session = [...fake.sessions.values()][0]
    expect(ledger.facts.find((f) => f.kind === 'checkout-completed')).toMatchObject({
      request: REQUEST,
      subscription: session?.subscription,
      status: 'paid',
      recps: [PROVIDER],
    })
    const standing = paymentStanding(REQUEST, ledger.facts, { requestedAt: Date.now() - 1000, now: Date.now(), timers: DEFAULT_TIMERS, free: false })
    expect(standing).toMatchObject({ state: 'active', runAllowed: true })
    expect(cspViolations).toEqual([])
    expect(fake.unhandled).toEqual([])
  })
})
