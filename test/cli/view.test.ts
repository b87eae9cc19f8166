import { describe, expect, it } from 'vitest'
import { cheapestPlan, findPub, foldView, settledState, shortId, type PubView } from '../../src/cli/view.js'
import { ME, OFFER, OTHER_PROVIDER, PROVIDER, STRANGER, feedId, msg, msgId } from './messages.js'
import type { Received } from '../../src/protocol/index.js'
import { toLogItem } from '../../src/cli/log.js'
import { samples } from '../support/samples.js'

const recps = [ME, PROVIDER]

function request(label: string, extra: { name?: string; provider?: string; private?: boolean; author?: string } = {}, t = 100): Received {
  const provider = extra.provider ?? PROVIDER
  return msg(extra.author ?? ME, label, {
    type: 'buttcloud/request',
    version: 1,
    provider,
    plan: 'small',
    ...(extra.name !== undefined && { name: extra.name }),
    ...(extra.private && { recps: [ME, provider] }),
  }, t)
}

function status(label: string, req: string, state: 'queued' | 'provisioning' | 'up' | 'failed' | 'awaiting-payment', t: number, extra: object = {}, author = PROVIDER): Received {
  return msg(author, label, { type: 'buttcloud/status', version: 1, request: msgId(req), state, recps, ...extra }, t)
}

describe('foldView', () => {
  it('makes one pub per own request, in the order they were posted, starting as requested', () => {
    const view = foldView(ME, [request('r1', { name: 'alpha' }, 10), request('r2', { private: true }, 20)])
    expect(view.me).toBe(ME)
    expect(view.pubs.map((p) => [p.id, p.name, p.state, p.since, p.private])).toEqual([
      [msgId('r1'), 'alpha', 'requested', 10, false],
      [msgId('r2'), undefined, 'requested', 20, true],
    ])
  })

  it("ignores other people's requests", () => {
    const view = foldView(ME, [request('mine'), request('theirs', { author: STRANGER })])
    expect(view.pubs.map((p) => p.id)).toEqual([msgId('mine')])
  })

  it('follows the provider\'s statuses in its feed order, whatever order they arrive in', () => {
    const r = request('order')
    const s1 = status('order-s1', 'order', 'queued', 200)
    const s2 = status('order-s2', 'order', 'provisioning', 300, { reason: 'pulling the image' })
    const s3 = status('order-s3', 'order', 'up', 400, {
      pub: { id: feedId('hosted'), address: 'net:pub.example:8008~shs:' + feedId('hosted').slice(1, -8) },
      invite: 'pub.example:8008:' + feedId('hosted') + '~c2VlZA==',
    })
    const view = foldView(ME, [s3, r, s1, s2])
    const pub = view.pubs[0]!
    expect(pub.state).toBe('up')
    expect(pub.since).toBe(400)
    expect(pub.history.map((h) => h.state)).toEqual(['queued', 'provisioning', 'up'])
    expect(pub.reason).toBeUndefined() // the reason belonged to provisioning
    expect(pub.pub?.id).toBe(feedId('hosted'))
    expect(pub.invite).toMatch(/^pub\.example:8008:@/)
  })

  it('keeps `since` at the start of a state the provider repeats', () => {
    const view = foldView(ME, [
      request('rep'),
      status('rep-1', 'rep', 'provisioning', 200),
      status('rep-2', 'rep', 'provisioning', 300, { reason: 'still pulling' }),
    ])
    expect(view.pubs[0]).toMatchObject({ state: 'provisioning', since: 200, reason: 'still pulling' })
  })

  it('carries the payment link of the current state only', () => {
    const paying = foldView(ME, [request('pay'), status('pay-1', 'pay', 'awaiting-payment', 200, { paymentUrl: 'https://pay.example/x' })])
    expect(paying.pubs[0]).toMatchObject({ state: 'awaiting-payment', paymentUrl: 'https://pay.example/x' })
    const paid = foldView(ME, [request('pay'), status('pay-1', 'pay', 'awaiting-payment', 200, { paymentUrl: 'https://pay.example/x' }), status('pay-2', 'pay', 'queued', 300)])
    expect(paid.pubs[0]!.paymentUrl).toBeUndefined()
    expect(paid.pubs[0]!.state).toBe('queued')
  })

  it('takes a status only from the provider the request named', () => {
    const view = foldView(ME, [
      request('trust'),
      status('forged', 'trust', 'up', 200, {}, STRANGER),
      status('other', 'trust', 'failed', 300, {}, OTHER_PROVIDER),
    ])
    expect(view.pubs[0]).toMatchObject({ state: 'requested', history: [] })
  })

  it('ignores statuses about requests the user did not post', () => {
    const view = foldView(ME, [request('theirs', { author: STRANGER }), status('theirs-s', 'theirs', 'up', 200)])
    expect(view.pubs).toEqual([])
  })

  it('pairs each own command with the first reply from the pub\'s provider', () => {
    const r = request('cmd')
    const c1 = msg(ME, 'cmd-invite', { type: 'buttcloud/command', version: 1, request: msgId('cmd'), verb: 'invite', args: { uses: 3 }, recps }, 200)
    const c2 = msg(ME, 'cmd-stop', { type: 'buttcloud/command', version: 1, request: msgId('cmd'), verb: 'stop', recps }, 210)
    const forged = msg(STRANGER, 'cmd-forged', { type: 'buttcloud/reply', version: 1, command: msgId('cmd-invite'), ok: true, result: { message: 'forged' }, recps: [ME, STRANGER] }, 250)
    const first = msg(PROVIDER, 'cmd-reply', {
      type: 'buttcloud/reply', version: 1, command: msgId('cmd-invite'), request: msgId('cmd'), ok: true,
      result: { invite: 'pub.example:8008:' + feedId('hosted') + '~c2VlZA==' }, recps,
    }, 300)
    const second = msg(PROVIDER, 'cmd-reply-2', { type: 'buttcloud/reply', version: 1, command: msgId('cmd-invite'), ok: false, error: { code: 'internal', reason: 'late duplicate' }, recps }, 310)
    const view = foldView(ME, [second, forged, c2, first, c1, r])
    const [invite, stop] = view.pubs[0]!.commands
    expect(invite).toMatchObject({ key: msgId('cmd-invite'), verb: 'invite', args: { uses: 3 }, reply: { key: msgId('cmd-reply'), ok: true } })
    expect(invite!.reply!.result!.invite).toMatch(/~c2VlZA==$/)
    expect(stop).toMatchObject({ key: msgId('cmd-stop'), verb: 'stop' })
    expect(stop!.reply).toBeUndefined()
  })

  it("ignores commands by others, even on the user's own pub", () => {
    const view = foldView(ME, [
      request('own'),
      msg(STRANGER, 'strange-cmd', { type: 'buttcloud/command', version: 1, request: msgId('own'), verb: 'destroy', recps: [STRANGER, PROVIDER] }),
    ])
    expect(view.pubs[0]!.commands).toEqual([])
  })

  it("keeps each provider's latest offer and names the provider on its pubs", () => {
    const old = msg(PROVIDER, 'offer-old', { ...OFFER, name: 'Old name' }, 50)
    const latest = msg(PROVIDER, 'offer-new', OFFER, 60)
    const other = msg(OTHER_PROVIDER, 'offer-other', { ...OFFER, name: 'Other' }, 70)
    const view = foldView(ME, [latest, other, request('named'), old])
    expect(view.offers.map((o) => [o.provider, o.name])).toEqual([
      [PROVIDER, 'Stand-in Cloud'],
      [OTHER_PROVIDER, 'Other'],
    ])
    expect(view.pubs[0]!.providerName).toBe('Stand-in Cloud')
  })

  it('counts a message delivered twice once', () => {
    const r = request('dup')
    const s = status('dup-s', 'dup', 'queued', 200)
    const view = foldView(ME, [r, s, r, s])
    expect(view.pubs).toHaveLength(1)
    expect(view.pubs[0]!.history).toHaveLength(1)
  })

  it('attaches the latest stats from the provider', () => {
    const summary = (restarts: number) => ({ ...samples['buttcloud/stats'].summary, restarts })
    const view = foldView(ME, [
      request('st'),
      msg(PROVIDER, 'st-1', { type: 'buttcloud/stats', version: 1, request: msgId('st'), summary: summary(1), recps }),
      msg(PROVIDER, 'st-2', { type: 'buttcloud/stats', version: 1, request: msgId('st'), summary: summary(2), recps }),
      msg(STRANGER, 'st-3', { type: 'buttcloud/stats', version: 1, request: msgId('st'), summary: summary(99), recps: [ME, STRANGER] }),
    ])
    expect(view.pubs[0]!.stats?.restarts).toBe(2)
  })
})

describe('findPub', () => {
  const pubs = foldView(ME, [request('find-a', { name: 'alpha' }), request('find-b', { name: 'beta' }), request('find-c', { name: 'beta' })]).pubs
  const [a, b] = pubs as [PubView, PubView, PubView]

  it('finds by full id, by name, and by a unique prefix with or without %', () => {
    expect(findPub(pubs, a.id)).toEqual({ ok: true, pub: a })
    expect(findPub(pubs, 'alpha')).toEqual({ ok: true, pub: a })
    expect(findPub(pubs, shortId(b.id))).toEqual({ ok: true, pub: b })
    expect(findPub(pubs, b.id.slice(1, 10))).toEqual({ ok: true, pub: b })
  })

  it('reports a shared name as ambiguous, with the candidates', () => {
    const m = findPub(pubs, 'beta')
    expect(m.ok).toBe(false)
    expect(!m.ok && m.reason).toBe('ambiguous')
    expect(!m.ok && m.candidates.map((p) => p.name)).toEqual(['beta', 'beta'])
  })

  it('finds nothing for an unknown ref or a prefix too short to mean anything', () => {
    expect(findPub(pubs, 'gamma')).toEqual({ ok: false, reason: 'none', candidates: [] })
    expect(findPub(pubs, '%' + a.id.slice(1, 3))).toEqual({ ok: false, reason: 'none', candidates: [] })
  })
})

describe('settledState and cheapestPlan', () => {
  it('stops a watch at up, stopped, destroyed, failed and awaiting-payment only', () => {
    const states = ['requested', 'awaiting-payment', 'queued', 'provisioning', 'up', 'down', 'stopped', 'failed', 'destroyed'] as const
    expect(states.filter((s) => settledState(s) !== undefined)).toEqual(['awaiting-payment', 'up', 'stopped', 'failed', 'destroyed'])
  })

  it('picks the cheapest plan, the first listed on a tie', () => {
    expect(cheapestPlan(foldView(ME, [msg(PROVIDER, 'cheap-offer', OFFER)]).offers[0]!).id).toBe('tiny')
    const [big, , small] = OFFER.plans
    const tie = { ...OFFER, plans: [big!, small!, { ...small!, id: 'small-too' }] }
    expect(cheapestPlan(foldView(ME, [msg(PROVIDER, 'tie-offer', tie)]).offers[0]!).id).toBe('small')
  })
})

describe('toLogItem', () => {
  const envelope = (content: unknown, extra: object = {}) => ({
    key: msgId('raw'),
    value: { previous: null, author: PROVIDER, sequence: 1, timestamp: 5, content, signature: 'x.sig.ed25519' },
    timestamp: 6,
    ...extra,
  })
  const valid = { type: 'buttcloud/status', version: 1, request: msgId('r'), state: 'up', recps }

  it('passes schema-valid messages, marking decrypted ones as private (db2 and classic markers)', () => {
    expect(toLogItem(envelope(valid))).toEqual({
      kind: 'message',
      message: { key: msgId('raw'), author: PROVIDER, sequence: 1, timestamp: 5, receivedAt: 6, private: false, content: valid },
    })
    expect(toLogItem(envelope(valid, { meta: { private: true } }))).toMatchObject({ message: { private: true } })
    const classic = envelope(valid)
    ;(classic.value as Record<string, unknown>).meta = { original: { content: 'cipher.box' } }
    expect(toLogItem(classic)).toMatchObject({ message: { private: true } })
  })

  it('turns the live sync marker into a sync item', () => {
    expect(toLogItem({ sync: true })).toEqual({ kind: 'sync' })
  })

  it('drops what does not parse: ciphertext, other types, future versions, bad fields, bad envelopes', () => {
    expect(toLogItem(envelope('c2VjcmV0.box'))).toBeUndefined()
    expect(toLogItem(envelope({ type: 'post', text: 'hi' }))).toBeUndefined()
    expect(toLogItem(envelope({ ...valid, version: 2 }))).toBeUndefined()
    expect(toLogItem(envelope({ ...valid, state: 'exploded' }))).toBeUndefined()
    expect(toLogItem(envelope({ ...valid, extra: 1 }))).toBeUndefined()
    expect(toLogItem({ key: 'nope', value: {} })).toBeUndefined()
    expect(toLogItem(null)).toBeUndefined()
  })
})
