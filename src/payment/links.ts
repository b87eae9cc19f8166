/**
 * Pay links: `<base>/pay/<token>`, where the token names the request and proves the provider made the link.
 *
 * token = base64url(request hash) "." base64url(HMAC-SHA256(secret, context + request id))
 *
 * The first half lets the site find the request without a table of issued links (the directory is keyed by
 * request id); the second half is what cannot be guessed without the secret, so nobody can open, or start a
 * checkout for, somebody else's request by enumerating message ids. The context string keeps these MACs apart
 * from anything else the same secret might ever sign.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { MSG_ID_RE, type MsgId } from '../protocol/ids.js'

const CONTEXT = 'buttcloud/pay-link/v1\n'
/** 32 bytes in base64url without padding. */
const PART = '[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]'
export const PAY_TOKEN_RE = new RegExp(`^${PART}\\.${PART}$`)
const MIN_SECRET_BYTES = 32

function checkSecret(secret: string | Uint8Array): void {
  const bytes = typeof secret === 'string' ? Buffer.byteLength(secret) : secret.byteLength
  if (bytes < MIN_SECRET_BYTES) throw new Error(`the pay-link secret must be at least ${MIN_SECRET_BYTES} bytes`)
}

function mac(secret: string | Uint8Array, requestId: MsgId): Buffer {
  return createHmac('sha256', secret).update(CONTEXT).update(requestId).digest()
}

/** The token for a request's pay link. */
export function payLinkToken(secret: string | Uint8Array, requestId: MsgId): string {
  checkSecret(secret)
  if (!MSG_ID_RE.test(requestId)) throw new Error('a pay link needs a message id like %<base64>.sha256')
  const hash = Buffer.from(requestId.slice(1, -'.sha256'.length), 'base64')
  return `${hash.toString('base64url')}.${mac(secret, requestId).toString('base64url')}`
}

/** The full pay-link URL under the payment site's base URL. */
export function payLinkUrl(baseUrl: string, secret: string | Uint8Array, requestId: MsgId): string {
  return `${baseUrl.replace(/\/+$/, '')}/pay/${payLinkToken(secret, requestId)}`
}

/** Is this string shaped like a token at all? (Say "malformed" before spending a MAC on it.) */
export function isPayLinkTokenShape(token: string): boolean {
  return PAY_TOKEN_RE.test(token)
}

/** The request a genuine token names, or undefined for anything malformed or not made with this secret. */
export function openPayLinkToken(secret: string | Uint8Array, token: string): MsgId | undefined {
  checkSecret(secret)
  if (!isPayLinkTokenShape(token)) return undefined
  const [hashPart, macPart] = token.split('.') as [string, string]
  const requestId = `%${Buffer.from(hashPart, 'base64url').toString('base64')}.sha256`
  if (!MSG_ID_RE.test(requestId)) return undefined
  const given = Buffer.from(macPart, 'base64url')
  const expected = mac(secret, requestId)
  // Constant time, so response timing tells an attacker nothing about how close a guess was.
  return given.length === expected.length && timingSafeEqual(given, expected) ? requestId : undefined
}

/** Does this token belong to this request? */
export function verifyPayLinkToken(secret: string | Uint8Array, requestId: MsgId, token: string): boolean {
  return openPayLinkToken(secret, token) === requestId
}
