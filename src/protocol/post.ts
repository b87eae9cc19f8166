/**
 * A private `post`: the message type every SSB client shows (Patchwork's Private tab, Manyverse). The provider
 * sends its notifications and answers as such posts, and reads commands from posts boxed to it. A post is
 * derived text for people: the typed `buttcloud/*` messages stay the source of truth.
 */
import { z } from 'zod'
import { FeedId, MsgId } from './ids.js'
import { Recps } from './common.js'

/** The longest text the provider posts or reads as a command line. */
export const MAX_POST_TEXT = 2000

export const PrivatePost = z.strictObject({
  type: z.literal('post'),
  text: z.string().min(1).max(MAX_POST_TEXT),
  /** The owner, mentioned so their client notifies them. */
  mentions: z.array(z.strictObject({ link: FeedId, name: z.string().max(64).optional() })).max(7).optional(),
  /** The pub a provider's post is about: lets the provider count its notifications per pub from its own log. */
  request: MsgId.optional(),
  recps: Recps,
})
export type PrivatePost = z.infer<typeof PrivatePost>

/** Check a post we are about to publish; a failure is our bug, so it throws. */
export function checkPost(content: PrivatePost): PrivatePost {
  const result = PrivatePost.safeParse(content)
  if (!result.success) throw new Error(`refusing to publish an invalid post: ${result.error.issues.map((i) => i.message).join('; ')}`)
  return result.data
}

/** A private post from `from` to `to` (and the sender), mentioning `to` so their client notifies them. */
export function privatePost(text: string, to: FeedId, from: FeedId, request?: MsgId): PrivatePost {
  return checkPost({
    type: 'post',
    text: text.length > MAX_POST_TEXT ? `${text.slice(0, MAX_POST_TEXT - 1)}…` : text,
    mentions: [{ link: to }],
    ...(request ? { request } : {}),
    recps: to === from ? [from] : [to, from],
  })
}
