/**
 * SSB identifiers as users see them: `@…=.ed25519` feeds, `%…=.sha256` messages,
 * multiserver addresses and invite codes. Pure string checks, no ssb imports, so the
 * planner and the web site can share them.
 */
import { z } from 'zod'

// 32 bytes in canonical base64: 42 free chars, one char whose low 4 bits are zero, then '='.
const B64_32 = '[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]='

export const FEED_ID_RE = new RegExp(`^@${B64_32}\\.ed25519$`)
export const MSG_ID_RE = new RegExp(`^%${B64_32}\\.sha256$`)
/** net:host:port~shs:key, the one transport/transform pair a pub needs. */
export const MULTISERVER_RE = new RegExp(`^net:[A-Za-z0-9.\\-:\\[\\]]{1,253}:[0-9]{1,5}~shs:${B64_32.slice(0, -1)}=$`)

export const FeedId = z.string().regex(FEED_ID_RE, 'expected a feed id like @<base64>.ed25519')
export type FeedId = z.infer<typeof FeedId>

export const MsgId = z.string().regex(MSG_ID_RE, 'expected a message id like %<base64>.sha256')
export type MsgId = z.infer<typeof MsgId>

export const MultiserverAddress = z.string().max(400).regex(MULTISERVER_RE, 'expected net:host:port~shs:key')
export type MultiserverAddress = z.infer<typeof MultiserverAddress>

/** Invite codes: ssb-invite 3 legacy form `host:port:@key.ed25519~seed`, what Patchwork's "Join pub" accepts. */
export const InviteCode = z
  .string()
  .min(10)
  .max(600)
  .regex(/^[^\s~]+:[0-9]{1,5}:@[A-Za-z0-9+/]{43}=\.ed25519~[A-Za-z0-9+/=]{1,100}$|^net:[^\s]+~shs:[^\s]+$/, 'expected an invite code')
export type InviteCode = z.infer<typeof InviteCode>

/** The base64 key inside a feed id (what `shs:` carries). */
export function feedKey(id: FeedId): string {
  return id.slice(1, -'.ed25519'.length)
}

/** The multiserver address of an SSB server on host:port with the given identity. */
export function multiserverAddress(host: string, port: number, id: FeedId): MultiserverAddress {
  return `net:${host}:${port}~shs:${feedKey(id)}`
}
