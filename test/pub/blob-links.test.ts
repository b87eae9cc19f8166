/** The blob ids a message names: what the pub fetches so it can serve a post's pictures. */
import { describe, expect, it } from 'vitest'
import { blobLinks, MAX_BLOBS_PER_MESSAGE } from '../../pub/blob-links.js'

const blob = (n: number) => `&${Buffer.alloc(32, n).toString('base64')}.sha256`
const feed = `@${Buffer.alloc(32, 9).toString('base64')}.ed25519`

describe('blobLinks', () => {
  it.each([
    ['a mention', { type: 'post', text: 'hi', mentions: [{ link: blob(1), name: 'a.jpg' }] }, [blob(1)]],
    ['a markdown image in the text', { type: 'post', text: `look ![a sunset](${blob(2)}) here` }, [blob(2)]],
    ['both, once', { type: 'post', text: `![x](${blob(3)})`, mentions: [{ link: blob(3) }] }, [blob(3)]],
    ["an about's image as a string", { type: 'about', about: feed, image: blob(4) }, [blob(4)]],
    ["an about's image as { link }", { type: 'about', about: feed, image: { link: blob(5), size: 10 } }, [blob(5)]],
    ['mentions of feeds and messages', { type: 'post', text: 'hi', mentions: [{ link: feed }, { link: '%abc.sha256' }] }, []],
    ['a plain link to a blob (not an image)', { type: 'post', text: `[file](${blob(6)})` }, []],
    ['a blob id with the wrong length', { type: 'post', text: 'x', mentions: [{ link: '&abc=.sha256' }] }, []],
    ['a private message (content is a string)', 'c2VjcmV0.box', []],
    ['mentions that are not an array', { type: 'post', text: 'x', mentions: { link: blob(7) } }, []],
  ])('%s', (_, content, expected) => {
    expect(blobLinks(content)).toEqual(expected)
  })

  it(`names at most ${MAX_BLOBS_PER_MESSAGE} blobs of one message`, () => {
    const mentions = Array.from({ length: 40 }, (_, i) => ({ link: blob(i + 10) }))
    expect(blobLinks({ type: 'post', text: 'many', mentions })).toEqual(mentions.slice(0, MAX_BLOBS_PER_MESSAGE).map((m) => m.link))
  })
})
