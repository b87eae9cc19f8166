/**
 * Prometheus metrics, scraped for real over HTTP: a provider with the local runtime serves them on a port of their
 * own, and after a request goes "up" they show the pub by state, passes and their duration, the actions run, the
 * engine reachable and an empty queue; the payment site counts Stripe webhooks by outcome and, without a port of
 * their own, serves the same text at /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/log/metrics.js'
import { PUB_STATES } from '../../src/protocol/status.js'
import { publish } from '../../src/ssb/db2.js'
import { createPaymentSite } from '../../web/site.js'
import { serveSite, type RunningSite } from '../../web/server.js'
import { deliverWebhook, startFakeStripe, type FakeStripe } from '../../testkit/fake-stripe.js'
import { LINK_SECRET, MemoryDirectory, MemoryLedger, OFFER, WEBHOOK_SECRET, memoryLog } from '../../testkit/payment-fixtures.js'
import { PROVIDER } from '../../testkit/payment-ids.js'
import { freePort } from '../../testkit/ports.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import { joinWithInvite, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'
import { nextStatus } from '../drivers/helpers.js'

/** One sample's value from the exposition text, by its name and labels as written (`name{a="b"}`). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function scrape(url: string): Promise<{ type: string; text: string }> {
  const res = await fetch(`${url}/metrics`)
  expect(res.status).toBe(200)
  return { type: res.headers.get('content-type') ?? '', text: await res.text() }
}

describe('the provider serves Prometheus metrics on their own port', () => {
  let provider: Awaited<ReturnType<typeof startTestProvider>>
  let user: TestPeer
  let port: number

  beforeAll(async () => {
    assertPubBuilt()
    port = await freePort()
    const pubPort = await freePort()
    const settings = testProviderSettings({
      runtime: { kind: 'local', hubAddress: '127.0.0.1', ports: { first: pubPort, last: pubPort }, statsIntervalMs: 0 },
      buttcloud: { passIntervalMs: 500 },
      metrics: { enabled: true, host: '127.0.0.1', port },
    })
    provider = await startTestProvider(settings)
    user = startPeer()
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
  })

  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
  })

  it('counts pubs by state, passes, actions, the queue and the engine after a request goes up', async () => {
    expect(provider.metricsUrl).toBe(`http://127.0.0.1:${port}`)
    const msg = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', recps: [user.id, provider.id] })
    await nextStatus(user.sbot, msg.key, 0, (s) => s.state === 'up', '"up"')
    // The pass that posted "up" has reported by the time the owner reads it; a scrape may still race the next one.
    const { type, text } = await waitFor('metrics showing the pub up', async () => {
      const got = await scrape(provider.metricsUrl!)
      return sample(got.text, 'buttcloud_pubs{state="up"}') === 1 ? got : undefined
    })
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/)
    for (const state of PUB_STATES.filter((s) => s !== 'up')) expect(sample(text, `buttcloud_pubs{state="${state}"}`)).toBe(0)
    expect(sample(text, 'buttcloud_pass_duration_seconds_count')).toBeGreaterThanOrEqual(2)
    expect(sample(text, 'buttcloud_passes_total{outcome="ok"}')).toBeGreaterThanOrEqual(2)
    expect(sample(text, 'buttcloud_actions_total{kind="record-placement"}')).toBe(1)
    expect(sample(text, 'buttcloud_actions_total{kind="create-service"}')).toBe(1)
    expect(sample(text, 'buttcloud_action_failures_total{kind="create-service"}')).toBeUndefined()
    expect(sample(text, 'buttcloud_engine_up')).toBe(1)
    expect(sample(text, 'buttcloud_queue_length')).toBe(0)
  })

  it('does not serve them on the payment site when they have a port of their own', async () => {
    expect((await fetch(`${provider.siteUrl}/metrics`)).status).toBe(404)
  })
})

describe('the payment site counts webhooks by outcome', () => {
  let fake: FakeStripe
  let site: RunningSite

  beforeAll(async () => {
    fake = await startFakeStripe()
  })

  afterAll(async () => {
    await site?.close()
    await fake?.close()
  })

  it('and serves the metrics at /metrics when they have no port of their own', async () => {
    const metrics = createMetrics({ pubStates: PUB_STATES })
    const app = createPaymentSite({
      stripe: fake.client(),
      webhookSecret: WEBHOOK_SECRET,
      linkSecret: LINK_SECRET,
      baseUrl: 'http://127.0.0.1:1',
      provider: PROVIDER,
      offer: OFFER,
      directory: new MemoryDirectory(),
      ledger: new MemoryLedger(),
      log: memoryLog().log,
      metrics,
      metricsRoute: true,
    })
    site = await serveSite(app)
    const url = `${site.url}/webhooks/stripe`
    const event = (id: string) => JSON.stringify({ id, type: 'customer.created', created: Math.floor(Date.now() / 1000), data: { object: {} } })
    expect((await deliverWebhook({ url, payload: event('evt_one'), secret: WEBHOOK_SECRET })).status).toBe(200)
    expect((await deliverWebhook({ url, payload: event('evt_two'), secret: WEBHOOK_SECRET })).status).toBe(200)
    expect((await deliverWebhook({ url, payload: event('evt_bad'), secret: 'whsec_not_ours' })).status).toBe(400)
    const { text } = await scrape(site.url)
    expect(sample(text, 'buttcloud_webhooks_total{outcome="ignored"}')).toBe(2)
    expect(sample(text, 'buttcloud_webhooks_total{outcome="rejected"}')).toBe(1)
    expect(sample(text, 'buttcloud_webhooks_total{outcome="recorded"}')).toBeUndefined()
  })
})
