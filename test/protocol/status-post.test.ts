/** Status posts: one private `post` carrying a typed status, read by the same schema as the old typed message. */
import { describe, expect, it } from 'vitest'
import { parseMessage } from '../../src/protocol/index.js'
import { privatePost, statusOfPost } from '../../src/protocol/post.js'
import { envelope, owner, provider, samples } from '../support/samples.js'

const { recps, ...carried } = samples['buttcloud/status']
const post = () => JSON.parse(JSON.stringify(privatePost('Your pub "my pub" is up.', owner, provider, carried as never))) as Record<string, any>

describe('a status post', () => {
  it('reads as the typed status it carries, with the post\'s recipients, marked as a post', () => {
    const parsed = parseMessage(envelope(post(), { author: provider }), true)
    expect(parsed.ok && parsed.message.content).toEqual(samples['buttcloud/status'])
    expect(parsed.ok && parsed.message.viaPost).toBe(true)
    expect(recps).toEqual([owner, provider])
  })
  it('reads the same as the old typed form', () => {
    const old = parseMessage(envelope(samples['buttcloud/status'], { author: provider }), true)
    const now = parseMessage(envelope(post(), { author: provider }), true)
    expect(old.ok && now.ok && now.message.content).toEqual(old.ok && old.message.content)
  })
  it('is refused with the field at fault when its status is not a valid status', () => {
    const bad = post()
    bad.buttcloud.state = 'exploded'
    expect(parseMessage(envelope(bad, { author: provider }), true)).toMatchObject({ ok: false, type: 'post', reason: expect.stringMatching(/buttcloud\.state/) })
    const extra = post()
    extra.buttcloud.note = 'unknown field'
    expect(statusOfPost(extra)).toMatchObject({ ok: false })
    const withRecps = post()
    withRecps.buttcloud.recps = [owner]
    expect(statusOfPost(withRecps)).toMatchObject({ ok: false })
  })
  it('a notice that is no status names its pub instead, and is no status post', () => {
    const notice = privatePost('Your pub "my pub" will be purged tomorrow.', owner, provider, samples['buttcloud/status'].request)
    expect(notice).toEqual({ type: 'post', text: 'Your pub "my pub" will be purged tomorrow.', mentions: [{ link: owner }], request: samples['buttcloud/status'].request, recps: [owner, provider] })
    expect(statusOfPost(notice)).toEqual({ ok: false, reason: 'not a status post' })
  })
  it('an ordinary post is no status post', () => {
    expect(statusOfPost({ type: 'post', text: 'hello', recps: [owner, provider] })).toEqual({ ok: false, reason: 'not a status post' })
    expect(parseMessage(envelope({ type: 'post', text: 'hello' }))).toMatchObject({ ok: false })
  })
})
