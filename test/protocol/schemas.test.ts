import { describe, expect, it } from 'vitest'
import { DEFAULT_DISK_MIB, DiskUsage, Offer, SCHEMAS, checkOutgoing, diskLevel, parseContent, parseMessage, planDiskMiB, planWebView } from '../../src/protocol/index.js'
import { envelope, owner, provider, samples } from '../support/samples.js'

type Sample = Record<string, unknown>
const clone = (x: unknown): Sample => JSON.parse(JSON.stringify(x))

describe('every message type has a valid sample', () => {
  for (const [type, sample] of Object.entries(samples)) {
    it(`${type} parses`, () => {
      const result = parseContent(sample)
      expect(result).toEqual({ ok: true, content: sample })
    })
  }
  it('covers every schema', () => {
    for (const type of Object.keys(samples)) expect(SCHEMAS).toHaveProperty([type])
    for (const core of ['buttcloud/offer', 'buttcloud/request', 'buttcloud/command', 'buttcloud/status', 'buttcloud/reply', 'buttcloud/stats']) {
      expect(Object.keys(samples)).toContain(core)
    }
  })
})

/** [type, description, mutate, expected fragment of the reason] */
const invalid: Array<[keyof typeof samples, string, (m: Sample) => void, RegExp]> = [
  ['buttcloud/offer', 'no plans', (m) => (m.plans = []), /plans/],
  ['buttcloud/offer', 'plan memory too small', (m) => ((m.plans as Sample[])[0]!.memoryMiB = 1), /plans\.0\.memoryMiB/],
  ['buttcloud/offer', 'negative price', (m) => ((m.plans as Sample[])[0]!.price = -1), /price/],
  ['buttcloud/offer', 'plan hops out of range', (m) => ((m.plans as Sample[])[0]!.hops = 4), /plans\.0\.hops/],
  ['buttcloud/offer', 'currency in capitals', (m) => ((m.plans as Sample[])[0]!.currency = 'USD'), /currency/],
  ['buttcloud/offer', 'interval', (m) => ((m.plans as Sample[])[0]!.interval = 'week'), /interval/],
  ['buttcloud/offer', 'payment site not a URL', (m) => (m.paymentSite = 'javascript:alert(1)'), /paymentSite/],
  ['buttcloud/offer', 'missing terms', (m) => delete m.terms, /terms/],
  ['buttcloud/offer', 'oversized name', (m) => (m.name = 'x'.repeat(81)), /name/],
  ['buttcloud/offer', 'operator without a contact', (m) => delete (m.operator as Sample).contact, /operator\.contact/],
  ['buttcloud/offer', 'operator name with a newline', (m) => ((m.operator as Sample).name = 'A\nB'), /operator\.name/],
  ['buttcloud/offer', 'unknown operator field', (m) => ((m.operator as Sample).vat = 'x'), /operator/],
  ['buttcloud/request', 'provider not a feed id', (m) => (m.provider = '@nope.ed25519'), /provider/],
  ['buttcloud/request', 'plan with spaces', (m) => (m.plan = 'big plan'), /plan/],
  ['buttcloud/request', 'name with a newline', (m) => (m.name = 'a\nb'), /name/],
  ['buttcloud/request', 'oversized name', (m) => (m.name = 'n'.repeat(65)), /name/],
  ['buttcloud/request', 'eight recipients', (m) => (m.recps = Array(8).fill(owner)), /recps/],
  ['buttcloud/request', 'unknown field', (m) => (m.extra = 1), /extra|unrecognized/i],
  ['buttcloud/command', 'request not a message id', (m) => (m.request = '%abc.sha256'), /request/],
  ['buttcloud/command', 'unknown verb', (m) => (m.verb = 'format-disk'), /verb/],
  ['buttcloud/command', 'uses too many', (m) => (m.args = { uses: 101 }), /args\.uses/],
  ['buttcloud/command', 'args on a verb without any', (m) => ((m.verb = 'stop'), (m.args = { force: true })), /args/],
  ['buttcloud/command', 'missing recps', (m) => delete m.recps, /recps/],
  ['buttcloud/command', 'no recipients', (m) => (m.recps = []), /recps/],
  ['buttcloud/status', 'unknown state', (m) => (m.state = 'exploded'), /state/],
  ['buttcloud/status', 'bad address', (m) => ((m.pub as Sample).address = 'tcp://x'), /pub\.address/],
  ['buttcloud/status', 'bad invite', (m) => (m.invite = 'not an invite'), /invite/],
  ['buttcloud/status', 'oversized reason', (m) => (m.reason = 'r'.repeat(301)), /reason/],
  ['buttcloud/reply', 'failure without error', (m) => delete m.error, /error/],
  ['buttcloud/reply', 'ok with an error', (m) => (m.ok = true), /error/],
  ['buttcloud/reply', 'unknown error code', (m) => ((m.error as Sample).code = 'oops'), /error\.code/],
  ['buttcloud/reply', 'command not a message id', (m) => (m.command = 'x'), /command/],
  ['buttcloud/stats', 'negative bytes', (m) => ((m.summary as any).memory.maxBytes = -1), /summary\.memory\.maxBytes/],
  ['buttcloud/stats', 'fractional restarts', (m) => ((m.summary as any).restarts = 0.5), /summary\.restarts/],
  ['buttcloud/stats', 'missing window', (m) => delete (m.summary as any).window, /summary\.window/],
  ['buttcloud/stats', 'a disk reading without its allowance', (m) => ((m.summary as any).disk = { usedBytes: 1 }), /summary\.disk\.allowedBytes/],
  ['buttcloud/offer', 'a disk allowance of 0', (m) => ((m.plans as any)[0].diskMiB = 0), /plans\.0\.diskMiB/],
  ['buttcloud/offer', 'a web view that is not a boolean', (m) => ((m.plans as any)[0].webView = 'yes'), /plans\.0\.webView/],
  ['buttcloud/status', 'a web view that is not a web URL', (m) => ((m.pub as any).web = 'ftp://pub.example.org/'), /pub\.web/],
]

describe('every field is checked', () => {
  for (const [type, what, mutate, reason] of invalid) {
    it(`${type}: ${what}`, () => {
      const msg = clone(samples[type])
      mutate(msg)
      const result = parseContent(msg)
      expect(result.ok).toBe(false)
      if (!result.ok) {
        expect(result.type).toBe(type)
        expect(result.reason).toMatch(reason)
      }
    })
  }
})

describe('offers from before the operator field', () => {
  it('still parse without it', () => {
    const old = clone(samples['buttcloud/offer'])
    delete old.operator
    expect(parseContent(old)).toEqual({ ok: true, content: old })
  })
})

describe('plans from before diskMiB and webView', () => {
  it('still parse without them, and read as 1 GiB with a web view', () => {
    const old = clone(samples['buttcloud/offer'])
    const plan = (old.plans as Array<Record<string, unknown>>)[0]!
    delete plan.diskMiB
    delete plan.webView
    const parsed = Offer.parse(old)
    expect(planDiskMiB(parsed.plans[0]!)).toBe(DEFAULT_DISK_MIB)
    expect(DEFAULT_DISK_MIB).toBe(1024)
    expect(planWebView(parsed.plans[0]!)).toBe(true)
    expect(planWebView({ webView: false })).toBe(false)
    expect(planDiskMiB({ diskMiB: 2 })).toBe(2)
  })
})

describe("a pub's disk answer", () => {
  it('parses a reading and refuses a level it does not know', () => {
    expect(DiskUsage.parse({ usedBytes: 10, allowedBytes: 100, level: 'ok' })).toEqual({ usedBytes: 10, allowedBytes: 100, level: 'ok' })
    expect(DiskUsage.safeParse({ usedBytes: 10, allowedBytes: 100, level: 'fine' }).success).toBe(false)
    expect(DiskUsage.safeParse({ usedBytes: 10, allowedBytes: 0, level: 'ok' }).success).toBe(false)
  })
  it('is warn from 90% and full from 100%', () => {
    expect([0, 899, 900, 999, 1000, 5000].map((used) => diskLevel(used, 1000))).toEqual(['ok', 'ok', 'warn', 'warn', 'full', 'full'])
  })
})

describe('versions and types', () => {
  it('refuses a future version with a reason that says so', () => {
    const result = parseContent({ ...samples['buttcloud/request'], version: 2 })
    expect(result).toMatchObject({ ok: false, type: 'buttcloud/request', reason: expect.stringMatching(/unsupported version 2/) })
  })
  it('refuses an unknown buttcloud type and ignores other namespaces', () => {
    expect(parseContent({ type: 'buttcloud/teleport', version: 1 })).toMatchObject({ ok: false, reason: /unknown message type/ })
    expect(parseContent({ type: 'post', text: 'hi' })).toMatchObject({ ok: false, type: undefined })
    expect(parseContent('c2VjcmV0.box')).toMatchObject({ ok: false, type: undefined })
    expect(parseContent(null)).toMatchObject({ ok: false, type: undefined })
  })
  it('bounds the reason even for huge garbage', () => {
    const result = parseContent({ type: 'buttcloud/request', version: 1, provider: 'x'.repeat(100_000), plan: 'y'.repeat(100_000) })
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.reason.length).toBeLessThanOrEqual(280)
  })
})

describe('envelopes', () => {
  it('parses a whole message and keeps who sent it', () => {
    const parsed = parseMessage(envelope(samples['buttcloud/request'], { author: owner, sequence: 3 }), true)
    expect(parsed).toMatchObject({ ok: true, message: { author: owner, sequence: 3, private: true } })
  })
  it('rejects a bad envelope without throwing', () => {
    expect(parseMessage({ key: 'nope', value: {} })).toMatchObject({ ok: false, reason: /bad envelope/ })
    expect(parseMessage(undefined)).toMatchObject({ ok: false })
  })
})

describe('outgoing messages are checked too', () => {
  it('throws on an invalid status we were about to publish', () => {
    expect(() =>
      checkOutgoing('buttcloud/status', { ...(samples['buttcloud/status'] as any), state: 'bogus', recps: [owner, provider] }),
    ).toThrow(/refusing to publish an invalid buttcloud\/status: state/)
  })
})
