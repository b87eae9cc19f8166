/**
 * One pass of the control plane with a real ledger, a recording publisher and an in-memory runtime that throws
 * on anything it was not set up for: first invites, one-shot commands, an unreachable engine, daily stats and
 * payment holds.
 */
import { describe, expect, it } from 'vitest'
import { ControlLedger } from '../../src/control/ledger.js'
import type { Observation } from '../../src/control/observation.js'
import { RuntimePending, RuntimeRefusal, type PubRuntime, type RuntimePub } from '../../src/control/runtime.js'
import type { PubRecord } from '../../src/control/record.js'
import { newPassMemory, runPass, type PassDeps } from '../../plugins/buttcloud/pass.js'
import { pluginConfig, type ButtcloudPluginConfig } from '../../plugins/buttcloud/config.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { parseMessage, type Received, type StatsSummary } from '../../src/protocol/index.js'
import { envelope, msgId, owner, provider, samples } from '../support/samples.js'
import { paymentConfigFromEnv } from '../../src/payment/config.js'
import { paymentHooks } from '../../src/provider/payment.js'
import { startFakeStripe } from '../../testkit/fake-stripe.js'
import { REASON_TEXT } from '../../src/planner/index.js'

const ADDRESS = `net:127.0.0.1:20001~shs:${owner.slice(1, -8)}`
const INVITE = `127.0.0.1:20001:${owner}~${Buffer.alloc(32, 1).toString('base64')}`
const DAY = 24 * 3600_000

function received(content: Record<string, unknown>, sequence: number, author = owner, timestamp?: number): Received {
  const parsed = parseMessage(envelope(content, { author: author as any, sequence, timestamp }), Boolean(content.recps))
  if (!parsed.ok) throw new Error(parsed.reason)
  return parsed.message
}

/** A runtime that does exactly what a test scripted and throws on anything else. */
class ScriptedRuntime implements PubRuntime {
  readonly name = 'scripted'
  observations = new Map<string, Observation>()
  failing: Error | undefined
  seen: RuntimePub[][] = []
  invites: Array<{ request: string; uses: number }> = []
  stat: StatsSummary | undefined
  async reconcile(pubs: readonly RuntimePub[]) {
    this.seen.push([...pubs])
    if (this.failing) throw this.failing
    return this.observations
  }
  async invite(record: PubRecord, uses: number) {
    this.invites.push({ request: record.request, uses })
    return INVITE
  }
  async stats(record: PubRecord): Promise<StatsSummary> {
    if (!this.stat) throw new Error(`stats for ${record.request} not scripted`)
    return this.stat
  }
  /** What backup throws, in turn, per call (then "not scripted"). */
  backupErrors: Error[] = []
  async backup(): Promise<never> {
    throw this.backupErrors.shift() ?? new Error('backup not scripted')
  }
  async close() {}
}

function setup(opts: { now?: () => number; payment?: PassDeps['payment']; config?: Partial<ButtcloudPluginConfig> } = {}) {
  const ledger = new ControlLedger({ provider, plans: new Set(['free', 'paid']), versions: new Set(['1']), pubsPerOwner: 3 })
  const posted: Array<Record<string, any>> = []
  /** The private posts beside the typed messages (notifications, answers to command posts). */
  const posts: Array<Record<string, any>> = []
  const runtime = new ScriptedRuntime()
  let seq = 0
  const deps: PassDeps = {
    ledger,
    runtime,
    config: pluginConfig(opts.config ?? {}),
    now: opts.now ?? (() => 1_700_000_100_000),
    log: () => undefined,
    payment: opts.payment,
    publisher: {
      async publish(content) {
        const key = msgId(`posted-${++seq}`)
        // What the log would feed back: our own message, parsed as every reader parses it (a status post reads as the
        // typed status it carries, which tests find in `posted`; its post is in `posts`).
        const env = { ...envelope(content as any, { author: provider as any, sequence: seq, timestamp: deps.now() }), key, timestamp: deps.now() }
        const parsed = parseMessage(env, true)
        if (content.type === 'post') posts.push(content)
        if (parsed.ok) {
          if (content.type !== 'post' || parsed.message.viaPost) posted.push(parsed.message.content)
          ledger.add(parsed.message)
        }
        return { key, sequence: seq }
      },
    },
  }
  const memory = newPassMemory(deps.now() - DAY)
  const req = received({ type: 'buttcloud/request', version: 1, provider, plan: 'free', recps: [owner, provider] }, 1)
  ledger.add(req)
  return { ledger, posted, posts, runtime, deps, pass: () => runPass(deps, memory), req }
}

describe('a control-plane pass', () => {
  it('posts "up" once, with a first invite, and nothing on a pass that changes nothing', async () => {
    const { posted, runtime, pass, req } = setup()
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    await pass()
    await pass()
    expect(posted).toEqual([expect.objectContaining({ type: 'buttcloud/status', state: 'up', invite: INVITE, pub: { id: owner, address: ADDRESS } })])
    expect(runtime.invites).toEqual([{ request: req.key, uses: 1 }])
    expect(runtime.seen[0]).toEqual([expect.objectContaining({ intent: 'running', memoryMiB: 128 })])
  })

  it('answers an invite command with the runtime invite, once', async () => {
    const { posted, runtime, pass, req, ledger } = setup()
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    ledger.add(received({ type: 'buttcloud/command', version: 1, request: req.key, verb: 'invite', args: { uses: 7 }, recps: [owner, provider] }, 2))
    await pass()
    await pass()
    const replies = posted.filter((p) => p.type === 'buttcloud/reply')
    expect(replies).toEqual([expect.objectContaining({ ok: true, result: { invite: INVITE } })])
    expect(runtime.invites).toContainEqual({ request: req.key, uses: 7 })
  })

  it('says "down" while the engine is unreachable and "up" again, without a second invite', async () => {
    const { posted, runtime, pass, req } = setup()
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    await pass()
    runtime.failing = new Error('connect ENOENT /run/docker.sock')
    await pass()
    await pass()
    runtime.failing = undefined
    await pass()
    expect(posted.map((p) => [p.state, p.invite !== undefined])).toEqual([
      ['up', true],
      ['down', false],
      ['up', false],
    ])
    expect(posted[1]!.reason).toMatch(/engine is unreachable/)
  })

  it('moved to another hub: "moving" once, then "up" at the new address with a fresh invite (older codes name the old one)', async () => {
    const { posted, runtime, pass, req } = setup()
    const moved = `net:198.51.100.3:20001~shs:${owner.slice(1, -8)}`
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    await pass()
    runtime.observations.set(req.key, { state: 'down', reason: REASON_TEXT.moving, pub: { id: owner, address: moved } })
    await pass()
    await pass()
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: moved } })
    await pass()
    await pass()
    expect(posted.map((p) => [p.state, p.pub?.address, p.invite !== undefined])).toEqual([
      ['up', ADDRESS, true],
      ['down', moved, false],
      ['up', moved, true],
    ])
    expect(runtime.invites).toEqual([
      { request: req.key, uses: 1 },
      { request: req.key, uses: 1 },
    ])
  })

  it('keeps a failing one-shot pending until its deadline, then answers with the error', async () => {
    let now = 1_700_000_100_000
    const { posted, runtime, pass, req, ledger } = setup({ now: () => now })
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    const cmd = received({ type: 'buttcloud/command', version: 1, request: req.key, verb: 'backup', recps: [owner, provider] }, 2)
    ledger.add(cmd)
    await pass()
    expect(posted.filter((p) => p.type === 'buttcloud/reply')).toEqual([])
    now = cmd.timestamp + pluginConfig({}).oneShotDeadlineMs + 1
    await pass()
    expect(posted.filter((p) => p.type === 'buttcloud/reply')).toEqual([
      expect.objectContaining({ ok: false, error: { code: 'internal', reason: expect.stringMatching(/backup failed: backup not scripted/) } }),
    ])
  })

  it('leaves a backup under way unanswered, and answers a refusal at once without waiting for the deadline', async () => {
    const { posted, runtime, pass, req, ledger } = setup()
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    runtime.backupErrors = [new RuntimePending('this backup'), new RuntimeRefusal('a backup of this pub is being made right now')]
    const first = received({ type: 'buttcloud/command', version: 1, request: req.key, verb: 'backup', recps: [owner, provider] }, 2)
    const second = received({ type: 'buttcloud/command', version: 1, request: req.key, verb: 'backup', recps: [owner, provider] }, 3)
    ledger.add(first)
    ledger.add(second)
    await pass()
    expect(posted.filter((p) => p.type === 'buttcloud/reply')).toEqual([
      expect.objectContaining({ command: second.key, ok: false, error: { code: 'unavailable', reason: 'a backup of this pub is being made right now' } }),
    ])
    expect(ledger.isAnswered(first.key)).toBe(false)
  })

  it('posts no stats summary by default: owners ask with the stats command', async () => {
    let now = 1_700_000_100_000
    const { posted, runtime, pass, req } = setup({ now: () => now })
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    runtime.stat = samples['buttcloud/stats'].summary
    for (let day = 0; day < 10; day++) {
      await pass()
      now += DAY
    }
    expect(posted.map((p) => p.type)).toEqual(['buttcloud/status'])
  })

  it('posts one stats summary per interval per running pub, when the operator sets one', async () => {
    let now = 1_700_000_100_000
    const { posted, runtime, pass, req } = setup({ now: () => now, config: { statsIntervalMs: DAY } })
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    runtime.stat = samples['buttcloud/stats'].summary
    await pass()
    now += DAY - 1
    await pass()
    expect(posted.filter((p) => p.type === 'buttcloud/stats')).toHaveLength(0)
    now += 2
    await pass()
    await pass()
    expect(posted.filter((p) => p.type === 'buttcloud/stats')).toEqual([
      expect.objectContaining({ request: req.key, recps: [owner], summary: runtime.stat }),
    ])
  })

  it('holds an unpaid pub: nothing for the runtime to run, and a private pay link for the owner', async () => {
    const { posted, runtime, pass } = setup({
      payment: {
        standing: () => ({ state: 'unpaid', runAllowed: false, destroyDue: false }),
        paymentUrl: (r) => `https://pay.example.org/pay/${r.request.length}`,
        onDestroy: async () => {
          throw new Error('not scripted')
        },
      },
    })
    await pass()
    expect(runtime.seen[0]).toEqual([expect.objectContaining({ intent: 'hold' })])
    expect(posted).toEqual([
      expect.objectContaining({ state: 'awaiting-payment', paymentUrl: 'https://pay.example.org/pay/52', recps: [owner, provider] }),
    ])
  })
})

describe('status posts', () => {
  it('one per transition an owner must know of, boxed to owner and provider, mentioning the owner, the status inside', async () => {
    const { posts, runtime, pass, req } = setup()
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    await pass()
    runtime.failing = new Error('engine gone')
    await pass()
    runtime.failing = undefined
    await pass()
    expect(posts).toEqual([
      {
        type: 'post',
        text: expect.stringContaining(`Invite code: ${INVITE}`),
        mentions: [{ link: owner }],
        buttcloud: { type: 'buttcloud/status', version: 1, request: req.key, state: 'up', pub: { id: owner, address: ADDRESS }, invite: INVITE },
        recps: [owner, provider],
      },
      expect.objectContaining({ text: expect.stringMatching(/is down/) }),
      expect.objectContaining({ text: expect.stringMatching(/is back up/) }),
    ])
  })

  it('a whole life, request to destroyed, costs the provider\'s feed at most 6 messages beside the command replies', async () => {
    let now = 1_700_000_100_000
    const { posted, posts, runtime, pass, req, ledger } = setup({ now: () => now })
    runtime.observations.set(req.key, { state: 'provisioning' })
    await pass()
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    for (let day = 0; day < 30; day++) {
      await pass()
      now += DAY
    }
    ledger.add(received({ type: 'buttcloud/command', version: 1, request: req.key, verb: 'destroy', recps: [owner, provider] }, 2))
    runtime.observations.set(req.key, { state: 'destroyed', reason: 'destroyed by its owner' })
    await pass()
    await pass()
    const replies = posted.filter((p) => p.type === 'buttcloud/reply')
    expect(replies).toHaveLength(1)
    expect(posted.filter((p) => p.type === 'buttcloud/status').map((p) => p.state)).toEqual(['up', 'destroyed'])
    expect(posts).toHaveLength(2)
    expect(posted.length - replies.length).toBeLessThanOrEqual(6)
  })

  it('stop at the daily maximum per pub, counted by receive time, and resume the next day', async () => {
    let clock = 1_700_000_100_000
    const { posts, posted, runtime, pass, req } = setup({ now: () => clock, config: { noticesPerPubPerDay: 2 } })
    const flap = async () => {
      runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
      await pass()
      runtime.observations.set(req.key, { state: 'down', reason: 'crashed' })
      await pass()
      clock += 60_000
    }
    await flap()
    await flap()
    // One message per transition: the cap holds the statuses too (the change waits for the next day).
    expect(posted.filter((p) => p.type === 'buttcloud/status').map((p) => p.state)).toEqual(['up', 'down'])
    expect(posts).toHaveLength(2)
    clock += DAY
    await flap()
    expect(posted.filter((p) => p.type === 'buttcloud/status').map((p) => p.state)).toEqual(['up', 'down', 'up', 'down'])
    expect(posts).toHaveLength(4)
  })
})

describe('free pubs beyond the cap', () => {
  const paying: PassDeps['payment'] = {
    standing: (record) => (record.plan === 'paid' ? { state: 'active', runAllowed: true, destroyDue: false } : undefined),
    paymentUrl: () => undefined,
    onDestroy: async () => undefined,
  }

  it('wait with a queued status and their place, are never handed to the runtime, and a later paid pub passes them', async () => {
    const { ledger, posted, runtime, pass, req } = setup({ payment: paying, config: { freePubs: 1 } })
    const request = (plan: string, at: number) => {
      const author = generateKeys().id
      return received({ type: 'buttcloud/request', version: 1, provider, plan, recps: [author, provider] }, 1, author, at)
    }
    // The setup's request (the oldest) takes the one free place; two later free ones queue; a paid one comes last.
    const waiting = [request('free', 1_700_000_010_000), request('free', 1_700_000_020_000)]
    const paid = request('paid', 1_700_000_030_000)
    for (const m of [paid, ...waiting]) ledger.add(m)
    for (const r of [req, paid]) runtime.observations.set(r.key, { state: 'provisioning' })
    await pass()
    const intents = Object.fromEntries(runtime.seen[0]!.map((p) => [p.record.request, [p.intent, p.free ?? false]]))
    expect(intents).toEqual({
      [req.key]: ['running', true],
      [waiting[0]!.key]: ['hold', true],
      [waiting[1]!.key]: ['hold', true],
      [paid.key]: ['running', false],
    })
    const queued = posted.filter((p) => p.state === 'queued').map((p) => [p.request, p.reason])
    expect(queued).toEqual(
      expect.arrayContaining([
        [waiting[0]!.key, expect.stringMatching(/at most 1 free pubs; yours is number 1 in the queue/)],
        [waiting[1]!.key, expect.stringMatching(/number 2 in the queue/)],
      ]),
    )
    expect(queued).toHaveLength(2)
    // A second pass posts nothing new to the waiting owners.
    const before = posted.length
    await pass()
    expect(posted.filter((p) => p.state === 'queued')).toHaveLength(2)
    expect(posted.length).toBe(before)
  })
})

describe('the billing command', () => {
  const billing = (req: Received) => ({ type: 'buttcloud/command', version: 1, request: req.key, verb: 'billing', recps: [owner, provider] })

  it('answers the owner privately with a fresh Stripe Customer Portal link for the pub’s customer (real client, fake Stripe)', async () => {
    const fake = await startFakeStripe()
    try {
      // A paid subscription in the fake, so its customer exists there.
      const session = await fake.client().checkout.sessions.create({
        mode: 'subscription',
        line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: 500, recurring: { interval: 'month' }, product_data: { name: 'pub' } } }],
        success_url: 'http://127.0.0.1:1/ok',
        cancel_url: 'http://127.0.0.1:1/no',
      })
      expect((await fetch(`${session.url}/pay`, { method: 'POST', redirect: 'manual' })).status).toBe(303)
      const customer = fake.sessions.get(session.id)?.customer ?? ''
      const config = paymentConfigFromEnv({ STRIPE_SECRET_KEY: fake.apiKey, STRIPE_WEBHOOK_SECRET: 'whsec_test_pass', BUTTCLOUD_PAY_LINK_SECRET: 'x'.repeat(64) })
      const hooks = paymentHooks({ config, stripe: fake.client(), linkSecret: 'x'.repeat(64), baseUrl: 'https://pay.example.org' }, [], provider)
      const { posted, pass, req, ledger } = setup({
        payment: { ...hooks, standing: () => ({ state: 'active', runAllowed: true, destroyDue: false, customer }), paymentUrl: () => undefined },
      })
      ledger.add(received(billing(req), 2))
      await pass()
      await pass()
      const portal = [...fake.portalSessions.values()]
      expect(portal).toEqual([expect.objectContaining({ customer, return_url: expect.stringMatching(/^https:\/\/pay\.example\.org\/pay\//) })])
      expect(posted.filter((p) => p.type === 'buttcloud/reply')).toEqual([
        expect.objectContaining({ ok: true, request: req.key, result: expect.objectContaining({ billing: { url: portal[0]?.url } }), recps: [owner, provider] }),
      ])
      expect(fake.unhandled).toEqual([])
    } finally {
      await fake.close()
    }
  })

  it('says there is nothing to manage on a provider that takes no payments, or for a pub with no customer yet', async () => {
    const free = setup()
    free.ledger.add(received(billing(free.req), 2))
    await free.pass()
    expect(free.posted.filter((p) => p.type === 'buttcloud/reply')).toEqual([expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'unavailable' }) })])

    const unpaid = setup({
      payment: {
        standing: () => ({ state: 'unpaid', runAllowed: false, destroyDue: false }),
        paymentUrl: () => undefined,
        onDestroy: async () => undefined,
        billingPortalUrl: async (_record, standing) => (standing?.customer ? 'https://billing.example/never' : undefined),
      },
    })
    unpaid.ledger.add(received(billing(unpaid.req), 2))
    await unpaid.pass()
    expect(unpaid.posted.filter((p) => p.type === 'buttcloud/reply')).toEqual([
      expect.objectContaining({ ok: false, error: { code: 'invalid-state', reason: 'this pub has no subscription to manage yet' } }),
    ])
  })
})

describe('a subscription told to its owner, through the statuses and their notification posts', () => {
  it('cancel scheduled and undone, payment failed and back, ended, reminded before the data goes, and revived by paying again', async () => {
    let clock = 1_700_000_100_000
    const config = paymentConfigFromEnv({ STRIPE_SECRET_KEY: 'sk_test_passnotices', STRIPE_WEBHOOK_SECRET: 'whsec_test_pass', BUTTCLOUD_PAY_LINK_SECRET: 'x'.repeat(64) })
    const plans = [{ id: 'paid', name: 'Paid', memoryMiB: 128, price: 500, currency: 'eur', interval: 'month' as const }]
    const hooks = paymentHooks({ config, linkSecret: 'x'.repeat(64), baseUrl: 'https://pay.example.org' }, plans, provider)
    const { ledger, posted, posts, runtime, pass } = setup({ now: () => clock, payment: hooks })
    const req = received({ type: 'buttcloud/request', version: 1, provider, plan: 'paid', name: 'paid-pub', recps: [owner, provider] }, 2)
    ledger.add(req)
    let factSeq = 1000
    const fact = (kind: string, more: Record<string, unknown> = {}) =>
      ledger.add(
        received(
          { type: 'buttcloud/payment', version: 1, request: req.key, event: `evt_${++factSeq}`, kind, subscription: 'sub_first', customer: 'cus_one', created: clock, recps: [provider], ...more },
          factSeq,
          provider,
        ),
      )
    const statusesOf = () => posted.filter((p) => p.type === 'buttcloud/status' && p.request === req.key)
    const noticesOf = () => posts.filter((p) => (p.request ?? p.buttcloud?.request) === req.key).map((p) => p.text as string)
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
    const payLink = hooks.paymentUrl(ledger.record(req.key)!)!
    /** Passes until quiet: the notices the step caused. */
    const step = async () => {
      const before = noticesOf().length
      await pass()
      await pass()
      return noticesOf().slice(before)
    }

    fact('checkout-completed', { status: 'paid' })
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    expect(await step()).toEqual([expect.stringMatching(/is up\./)])

    // Cancelled in the portal at the end of the period: one notice, with both dates and the way to undo it.
    clock += DAY
    const cancelAt = clock + 20 * DAY
    fact('subscription-updated', { status: 'active', cancelAt, periodEnd: cancelAt })
    const scheduled = await step()
    expect(scheduled).toEqual([expect.stringContaining(`runs until ${day(cancelAt)}, then stops; its data is kept until ${day(cancelAt + config.timers.retentionMs)}`)])
    expect(scheduled[0]).toContain('send "billing paid-pub"')
    expect(statusesOf().at(-1)).toMatchObject({ state: 'up', reason: expect.stringMatching(/^the subscription is cancelled/) })
    // Stripe sends an update again (another field changed, the same cancellation): nothing new for the owner.
    fact('subscription-updated', { status: 'active', cancelAt, periodEnd: cancelAt })
    expect(await step()).toEqual([])

    clock += DAY
    fact('subscription-updated', { status: 'active', periodEnd: cancelAt })
    expect(await step()).toEqual([expect.stringMatching(/the cancellation is undone/)])
    expect(statusesOf().at(-1)!.reason).toBeUndefined()

    // A renewal fails (grace, with its end), then is paid: back in good standing, said once.
    clock += DAY
    fact('invoice-payment-failed')
    expect(await step()).toEqual([expect.stringContaining(`the last payment failed; pay before ${day(clock + config.timers.graceMs)}`)])
    clock += DAY
    fact('invoice-paid', { status: 'paid' })
    expect(await step()).toEqual([expect.stringMatching(/payment arrived, and the subscription is in good standing again/)])

    // Stripe deletes the subscription: stopped, data kept, and the pay link to come back.
    clock += DAY
    const endedAt = clock
    const dataGoes = endedAt + config.timers.retentionMs
    fact('subscription-deleted', { status: 'canceled' })
    runtime.observations.set(req.key, { state: 'stopped' })
    const ended = await step()
    expect(ended).toEqual([expect.stringContaining(`kept until ${day(dataGoes)}`)])
    expect(ended[0]).toContain(`Pay here: ${payLink}`)
    expect(runtime.seen.at(-1)!.find((p) => p.record.request === req.key)).toMatchObject({ intent: 'stopped' })
    expect(statusesOf().at(-1)).toMatchObject({ state: 'stopped', paymentUrl: payLink })

    // The billing command now answers with the pay link: the portal cannot start a new subscription.
    ledger.add(received({ type: 'buttcloud/command', version: 1, request: req.key, verb: 'billing', recps: [owner, provider] }, 3))
    await step()
    expect(posted.filter((p) => p.type === 'buttcloud/reply').at(-1)).toMatchObject({ ok: true, result: { billing: { url: payLink }, message: expect.stringContaining(`before ${day(dataGoes)}`) } })

    // Three days before the data goes: one reminder, however many passes run.
    clock = dataGoes - 3 * DAY - 1
    expect(await step()).toEqual([])
    clock = dataGoes - 3 * DAY
    const reminder = await step()
    expect(reminder).toEqual([expect.stringContaining(`the data of this pub is deleted on ${day(dataGoes)}`)])
    expect(reminder[0]).toContain(`Pay here: ${payLink}`)
    clock += DAY
    expect(await step()).toEqual([])

    // The owner pays again through the pay link: a new subscription revives the same pub.
    fact('checkout-completed', { status: 'paid', subscription: 'sub_second', customer: 'cus_two' })
    expect(runtime.seen.at(-1)!.find((p) => p.record.request === req.key)).toMatchObject({ intent: 'stopped' })
    await pass()
    expect(runtime.seen.at(-1)!.find((p) => p.record.request === req.key)).toMatchObject({ intent: 'running' })
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    expect(await step()).toEqual([expect.stringMatching(/is running again on its new subscription, with its data, identity and address as before\. Address: net:/)])
    expect(statusesOf().at(-1)).toMatchObject({ state: 'up', reason: expect.stringMatching(/^running again on a new subscription since/) })
    // No second first invite: it is the same pub.
    expect(statusesOf().filter((s) => s.invite)).toHaveLength(1)
  })
})

describe('the reminder before a destroyed pub is purged', () => {
  it('comes once, a few days before the purge, only for a pub that held a place', async () => {
    let clock = 1_700_000_100_000
    const { ledger, posts, runtime, pass, req } = setup({ now: () => clock, config: { purgeAfterMs: 10 * DAY } })
    const never = received({ type: 'buttcloud/request', version: 1, provider, plan: 'free', name: 'never-placed', recps: [owner, provider] }, 2)
    ledger.add(never)
    ledger.add(received({ type: 'buttcloud/placement', version: 1, request: req.key, hub: 'local', port: 8200, recps: [provider] }, 500, provider))
    runtime.observations.set(req.key, { state: 'up', pub: { id: owner, address: ADDRESS } })
    await pass()
    const destroyedAt = clock
    for (const [seq, request] of [[3, req.key], [4, never.key]] as const) {
      ledger.add(received({ type: 'buttcloud/command', version: 1, request, verb: 'destroy', recps: [owner, provider] }, seq, owner, destroyedAt))
    }
    runtime.observations.clear()
    await pass()
    const reminders = () => posts.filter((p) => /data is purged on/.test(p.text)).map((p) => [p.request, p.text])
    clock = destroyedAt + 7 * DAY - 1
    await pass()
    expect(reminders()).toEqual([])
    clock = destroyedAt + 7 * DAY
    await pass()
    await pass()
    clock += DAY
    await pass()
    expect(reminders()).toEqual([[req.key, `Your pub ${req.key.slice(0, 8)} was destroyed, and its data is purged on ${new Date(destroyedAt + 10 * DAY).toISOString().slice(0, 10)}. After that nothing of it can be recovered.`]])
  })
})
