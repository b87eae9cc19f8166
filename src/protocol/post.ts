/**
 * A private `post`: the message type every SSB client shows (Patchwork's Private tab, Manyverse). The provider
 * sends its notifications and answers as such posts, and reads commands from posts boxed to it.
 *
 * A status post is one message for one transition: the human text for people, and the typed status for programs
 * in its `buttcloud` field (a `buttcloud/status` content without `recps`, which are the post's own), parsed by the
 * same schema as a typed status. Older providers posted a typed status and a separate post (with `request`); both
 * forms still parse.
 */
import { z } from 'zod'
import { FeedId, MsgId } from './ids.js'
import { Recps } from './common.js'
import { PubStatus } from './status.js'

/** The longest text the provider posts or reads as a command line. */
export const MAX_POST_TEXT = 2000

/** The typed status a status post carries: a `buttcloud/status` content whose recipients are the post's. */
export const PostedStatus = PubStatus.omit({ recps: true })
export type PostedStatus = z.infer<typeof PostedStatus>

export const PrivatePost = z.strictObject({
  type: z.literal('post'),
  text: z.string().min(1).max(MAX_POST_TEXT),
  /** The owner, mentioned so their client notifies them. */
  mentions: z.array(z.strictObject({ link: FeedId, name: z.string().max(64).optional() })).max(7).optional(),
  /** The pub a provider's notice that is no status is about (a status post names it in `buttcloud.request`). */
  request: MsgId.optional(),
  /** The typed status this post announces (a status post); absent from answers and notices of the old form. */
  buttcloud: PostedStatus.optional(),
  recps: Recps,
})
export type PrivatePost = z.infer<typeof PrivatePost>

/** Check a post we are about to publish; a failure is our bug, so it throws. */
export function checkPost(content: PrivatePost): PrivatePost {
  const result = PrivatePost.safeParse(content)
  if (!result.success) throw new Error(`refusing to publish an invalid post: ${result.error.issues.map((i) => i.message).join('; ')}`)
  return result.data
}

/**
 * A private post from `from` to `to` (and the sender), mentioning `to` so their client notifies them. `about` is the
 * status it announces (a status post), or the pub a notice that is no status is about (counted in the pub's daily cap).
 */
export function privatePost(text: string, to: FeedId, from: FeedId, about?: PostedStatus | MsgId): PrivatePost {
  return checkPost({
    type: 'post',
    text: text.length > MAX_POST_TEXT ? `${text.slice(0, MAX_POST_TEXT - 1)}…` : text,
    mentions: [{ link: to }],
    ...(typeof about === 'string' ? { request: about } : about ? { buttcloud: about } : {}),
    recps: to === from ? [from] : [to, from],
  })
}

/** Does this content look like a status post (a `post` with a `buttcloud` field)? Says nothing of its validity. */
export function isStatusPost(content: unknown): content is { type: 'post'; buttcloud: unknown; recps?: unknown } {
  return typeof content === 'object' && content !== null && (content as { type?: unknown }).type === 'post' && 'buttcloud' in content
}

/** The typed status a status post carries, parsed by the status schema with the post's recps; else the reason. */
export function statusOfPost(content: unknown): { ok: true; status: PubStatus } | { ok: false; reason: string } {
  if (!isStatusPost(content)) return { ok: false, reason: 'not a status post' }
  const post = PrivatePost.safeParse(content)
  if (!post.success) return { ok: false, reason: post.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 280) }
  if (!post.data.buttcloud) return { ok: false, reason: 'not a status post' }
  return { ok: true, status: { ...post.data.buttcloud, recps: post.data.recps } }
}
