/**
 * SSB identifiers as users see them: `@…=.ed25519` feeds, `%…=.sha256` messages,
 * multiserver addresses and invite codes. Pure string checks, no ssb imports, so the
 * planner and the web site can share them.
 */
import { z } from 'zod'
import { FEED_ID_RE, MSG_ID_RE, MULTISERVER_RE } from './text-checks.js'

export { FEED_ID_RE, MSG_ID_RE, MULTISERVER_RE, feedKey, multiserverAddress } from './text-checks.js'

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

