/**
 * Reading private posts: which posts the intake keeps (boxed to the provider, or the provider's own notifications),
 * what a command line becomes (the typed content, checked by the same schemas), and that a pass answers a command
 * post once, with the typed reply and a private post.
 */
import { describe, expect, it } from 'vitest'
import { applyEntry, classify, type PostReading } from '../../plugins/buttcloud/intake.js'
import { ControlLedger } from '../../src/control/ledger.js'
import { newPassMemory, runPass } from '../../plugins/buttcloud/pass.js'
import { pluginConfig } from '../../plugins/buttcloud/config.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { envelope, msgId, owner, provider, stranger } from '../support/samples.js'

const boxed = (content: object, author: FeedId = owner, sequence = 1) =>
  ({ ...envelope(content, { author, sequence }), meta: { private: true } }) as unknown as SsbMsg
const post = (text: string, author: FeedId = owner, sequence = 1) => boxed({ type: 'post', text, recps: [author, provider] }, author, sequence)

function reading(): PostReading {
  return { plans: ['free', 'small'], pubs: new Map() }
}

describe('the intake of private posts', () => {
  it('keeps out public posts and private posts not boxed to the provider', () => {
    const publicPost = envelope({ type: 'post', text: 'help' }) as unknown as SsbMsg
    expect(classify(publicPost, provider, reading())).toBeUndefined()
    expect(classify(boxed({ type: 'post', text: 'help', recps: [owner, stranger] }), provider, reading())).toBeUndefined()
  })

  it('turns "request small my-pub" into the typed request, private and marked as a post', () => {
    const entry = classify(post('request small my-pub'), provider, reading())
    expect(entry).toMatchObject({
      ok: true,
      m: { author: owner, viaPost: true, private: true, content: { type: 'buttcloud/request', version: 1, provider, plan: 'small', name: 'my-pub', recps: [owner, provider] } },
    })
  })

  it('resolves a pub by name against requests read before, and checks args by the command schema', () => {
    const r = reading()
    const req = classify(post('request my-pub'), provider, r)!
    r.pubs.set((req as { m: { key: string } }).m.key, { request: (req as { m: { key: string } }).m.key, owner, name: 'my-pub' })
    const request = (req as { m: { key: MsgId } }).m.key
    expect(classify(post('invite my-pub 3', owner, 2), provider, r)).toMatchObject({ ok: true, m: { viaPost: true, content: { type: 'buttcloud/command', request, verb: 'invite', args: { uses: 3 } } } })
    // 500 uses passes the grammar (a number) but not the command schema (at most 100).
    expect(classify(post('invite my-pub 500', owner, 3), provider, r)).toMatchObject({ ok: false, i: { viaPost: true, reason: expect.stringMatching(/args\.uses/) } })
    expect(classify(post('stop nope', owner, 4), provider, r)).toMatchObject({ ok: false, i: { code: 'unknown-pub', reason: 'no pub of yours is named "nope"' } })
    expect(classify(post('pubs', owner, 5), provider, r)).toMatchObject({ ok: true, q: { author: owner, ask: { kind: 'pubs' } } })
    expect(classify(post(`status ${request.slice(1, 9)}`, owner, 6), provider, r)).toMatchObject({ ok: true, q: { ask: { kind: 'status', request } } })
  })

  it("counts the provider's own notification posts, and ignores its other posts", () => {
    const notice = boxed({ type: 'post', text: 'Your pub is up.', request: msgId('r'), recps: [owner, provider] }, provider)
    expect(classify(notice, provider, reading())).toMatchObject({ ok: true, n: { request: msgId('r') } })
    expect(classify(boxed({ type: 'post', text: 'A new invite code', recps: [owner, provider] }, provider), provider, reading())).toBeUndefined()
  })
})

describe('a pass answering command posts', () => {
  it('answers "help" and a bad line once each, with a typed reply and a private post mentioning the author', async () => {
    const ledger = new ControlLedger({ provider, plans: new Set(['free']), versions: new Set(['1']), pubsPerOwner: 3 })
    const published: Array<Record<string, any>> = []
    let seq = 0
    const deps = {
      ledger,
      config: pluginConfig({}),
      now: () => 1_700_000_100_000,
      log: () => undefined,
      publisher: {
        async publish(content: { type: string; recps: FeedId[] }) {
          published.push(content)
          return { key: msgId(`out-${++seq}`), sequence: seq }
        },
      },
    }
    for (const [i, text] of ['help', 'hello?'].entries()) applyEntry(ledger, classify(post(text, owner, i + 1), provider, reading())!)
    const memory = newPassMemory(0)
    await runPass(deps, memory)
    await runPass(deps, memory)
    const posts = published.filter((p) => p.type === 'post')
    expect(published.filter((p) => p.type === 'buttcloud/reply')).toEqual([
      expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'malformed' }), recps: [owner, provider] }),
      expect.objectContaining({ ok: true, recps: [owner, provider] }),
    ])
    expect(posts).toEqual([
      { type: 'post', text: expect.stringMatching(/^That is not a command I know \("hello\?" is not a command\)/), mentions: [{ link: owner }], recps: [owner, provider] },
      { type: 'post', text: expect.stringMatching(/^Commands/), mentions: [{ link: owner }], recps: [owner, provider] },
    ])
  })
})
