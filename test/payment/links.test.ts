import { createHmac, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  PAY_TOKEN_RE,
  openPayLinkToken,
  payLinkToken,
  payLinkUrl,
  verifyPayLinkToken,
} from '../../src/payment/links.js'
import { REQUEST, msgId } from '../../testkit/payment-ids.js'

const SECRET = 'k'.repeat(16) + randomBytes(32).toString('hex')

describe('pay-link tokens', () => {
  it('open to the request they were made for', () => {
    const token = payLinkToken(SECRET, REQUEST)
    expect(token).toMatch(PAY_TOKEN_RE)
    expect(openPayLinkToken(SECRET, token)).toBe(REQUEST)
    expect(verifyPayLinkToken(SECRET, REQUEST, token)).toBe(true)
  })

  it('are URL-safe and fixed length, and the MAC half is HMAC-SHA256 of the request id', () => {
    const token = payLinkToken(SECRET, REQUEST)
    expect(token).toHaveLength(43 + 1 + 43)
    expect(encodeURIComponent(token)).toBe(token)
    const expectedMac = createHmac('sha256', SECRET).update('buttcloud/pay-link/v1\n').update(REQUEST).digest('base64url')
    expect(token.split('.')[1]).toBe(expectedMac)
  })

  it('differ per request and per secret', () => {
    const other = msgId('another request')
    expect(payLinkToken(SECRET, REQUEST)).not.toBe(payLinkToken(SECRET, other))
    expect(payLinkToken(SECRET, REQUEST)).not.toBe(payLinkToken(`${SECRET}x`, REQUEST))
  })

  it('do not open with another secret', () => {
    expect(openPayLinkToken(`${SECRET}x`, payLinkToken(SECRET, REQUEST))).toBeUndefined()
  })

  it("cannot be moved to another request (the request half swapped, the MAC kept)", () => {
    const [, macPart] = payLinkToken(SECRET, REQUEST).split('.')
    const [otherHash] = payLinkToken(SECRET, msgId('victim')).split('.')
    expect(openPayLinkToken(SECRET, `${otherHash}.${macPart}`)).toBeUndefined()
    expect(verifyPayLinkToken(SECRET, msgId('victim'), `${otherHash}.${macPart}`)).toBe(false)
  })

  it('reject every single-character change of the MAC', () => {
    const token = payLinkToken(SECRET, REQUEST)
    const dot = token.indexOf('.')
    let rejected = 0
    for (let i = dot + 1; i < token.length - 1; i++) {
      const c = token[i] === 'A' ? 'B' : 'A'
      const forged = token.slice(0, i) + c + token.slice(i + 1)
      expect(openPayLinkToken(SECRET, forged)).toBeUndefined()
      rejected++
    }
    expect(rejected).toBe(42)
  })

  it.each([
    ['empty', ''],
    ['no dot', 'a'.repeat(87)],
    ['too short', `${'A'.repeat(43)}.${'A'.repeat(42)}`],
    ['padding', `${'A'.repeat(42)}=.${'A'.repeat(43)}`],
    ['standard base64 characters', `${'+'.repeat(42)}A.${'/'.repeat(42)}A`],
    ['non-canonical last character', `${'A'.repeat(42)}B.${'A'.repeat(43)}`],
  ])('reject malformed tokens: %s', (_name, token) => {
    expect(openPayLinkToken(SECRET, token)).toBeUndefined()
  })

  it('refuse a short secret, loudly', () => {
    expect(() => payLinkToken('short', REQUEST)).toThrow(/at least 32 bytes/)
    expect(() => openPayLinkToken('short', 'x')).toThrow(/at least 32 bytes/)
  })

  it('refuse to make a link for something that is not a message id', () => {
    expect(() => payLinkToken(SECRET, '%abc.sha256')).toThrow(/message id/)
  })

  it('build the URL under the base, with or without a trailing slash', () => {
    const token = payLinkToken(SECRET, REQUEST)
    expect(payLinkUrl('https://pay.example/', SECRET, REQUEST)).toBe(`https://pay.example/pay/${token}`)
    expect(payLinkUrl('https://pay.example', SECRET, REQUEST)).toBe(`https://pay.example/pay/${token}`)
  })
})
