/**
 * One gate for everything that arrives from the network: a message's content is parsed by the schema of its
 * type before anything else looks at it. Also the gate for what we publish (`checkOutgoing`).
 */
import { z } from 'zod'
import { NAMESPACE } from './common.js'
import { PubCommand } from './command.js'
import { Offer } from './offer.js'
import { CommandReply } from './reply.js'
import { PubRequest } from './request.js'
import { PubStats } from './stats.js'
import { PubStatus } from './status.js'
import { PaymentFact } from './payment.js'
import { PubPlacement } from './placement.js'
import { PubRelease } from './release.js'
import { FeedId, MsgId } from './ids.js'
import { isStatusPost, statusOfPost } from './post.js'

export const SCHEMAS = {
  'buttcloud/offer': Offer,
  'buttcloud/request': PubRequest,
  'buttcloud/command': PubCommand,
  'buttcloud/status': PubStatus,
  'buttcloud/reply': CommandReply,
  'buttcloud/stats': PubStats,
  'buttcloud/payment': PaymentFact,
  'buttcloud/placement': PubPlacement,
  'buttcloud/release': PubRelease,
} as const
export type MessageType = keyof typeof SCHEMAS
export type ContentOf<T extends MessageType> = z.infer<(typeof SCHEMAS)[T]>
export type ButtcloudContent = { [T in MessageType]: ContentOf<T> }[MessageType]

export type ParsedContent =
  | { ok: true; content: ButtcloudContent }
  /** `type` is the claimed type when there was one, so a caller can decide whether to answer. */
  | { ok: false; type: string | undefined; reason: string }

const MAX_REASON = 280

/** Is this content (possibly still-encrypted ciphertext) in our namespace at all? */
export function isButtcloudContent(content: unknown): boolean {
  return (
    typeof content === 'object' &&
    content !== null &&
    typeof (content as { type?: unknown }).type === 'string' &&
    (content as { type: string }).type.startsWith(NAMESPACE)
  )
}

/** A short, human-readable summary of why a schema rejected something. */
export function describeIssues(error: z.ZodError): string {
  const text = error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}`)
    .join('; ')
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text
}

/** Parse the content of a message by the schema its `type` names. */
export function parseContent(content: unknown): ParsedContent {
  if (!isButtcloudContent(content)) return { ok: false, type: undefined, reason: 'not a buttcloud message' }
  const type = (content as { type: string }).type.slice(0, 64)
  const schema = (SCHEMAS as Record<string, z.ZodType>)[type]
  if (!schema) return { ok: false, type, reason: `unknown message type ${type}` }
  const version = (content as { version?: unknown }).version
  if (version !== 1) {
    return { ok: false, type, reason: `unsupported version ${JSON.stringify(version)?.slice(0, 20)} of ${type}` }
  }
  const result = schema.safeParse(content)
  if (!result.success) return { ok: false, type, reason: describeIssues(result.error) }
  return { ok: true, content: result.data as ButtcloudContent }
}

/** Check content we are about to publish against its own schema; a failure is our bug, so it throws. */
export function checkOutgoing<T extends MessageType>(type: T, content: ContentOf<T>): ContentOf<T> {
  const result = SCHEMAS[type].safeParse(content)
  if (!result.success) {
    throw new Error(`refusing to publish an invalid ${type}: ${describeIssues(result.error)}`)
  }
  return result.data as ContentOf<T>
}

/** The envelope of a message as ssb-db2 and ssb-client hand it to us, parsed before use. */
export const Envelope = z.object({
  key: MsgId,
  /** When the node that hands it to us stored it (ssb-db2 and ssb-db set it on arrival): the receive time. */
  timestamp: z.number().finite(),
  value: z.object({
    author: FeedId,
    sequence: z.number().int().min(1),
    timestamp: z.number(),
    content: z.unknown(),
  }),
})

/** A message of ours, parsed: who posted it, when, and its typed content. */
export interface Received<C = ButtcloudContent> {
  key: MsgId
  author: FeedId
  sequence: number
  /**
   * The author's own claim of when they posted it. Peers sign whatever they like here, so it is only ever shown,
   * never used to order, limit or time anything.
   */
  timestamp: number
  /** When the node that handed it to us stored it: the only time that orders, limits and times anything. */
  receivedAt: number
  /** True when it arrived encrypted (box): who else could read it is then bounded by its recps. */
  private: boolean
  /**
   * It arrived as a private `post`: a command line (see src/control/command-line.ts), answered in kind, or the
   * provider's status post (see post.ts), which also counts as a notice.
   */
  viaPost?: true
  content: C
}

export type ParsedMessage =
  | { ok: true; message: Received }
  | { ok: false; key?: MsgId; author?: FeedId; type: string | undefined; reason: string; private: boolean }

/**
 * Parse a whole message (envelope and content). A status post (a private `post` carrying a typed status in its
 * `buttcloud` field, see post.ts) reads as that `buttcloud/status`, marked `viaPost`, so every reader of statuses
 * takes both forms.
 */
export function parseMessage(raw: unknown, isPrivate = false): ParsedMessage {
  const env = Envelope.safeParse(raw)
  if (!env.success) return { ok: false, type: undefined, reason: `bad envelope: ${describeIssues(env.error)}`, private: isPrivate }
  const { key, value, timestamp: receivedAt } = env.data
  const base = { key, author: value.author, sequence: value.sequence, timestamp: value.timestamp, receivedAt, private: isPrivate }
  if (isStatusPost(value.content)) {
    const status = statusOfPost(value.content)
    if (!status.ok) return { ok: false, key, author: value.author, type: 'post', reason: status.reason, private: isPrivate }
    return { ok: true, message: { ...base, viaPost: true, content: status.status } }
  }
  const parsed = parseContent(value.content)
  if (!parsed.ok) return { ok: false, key, author: value.author, type: parsed.type, reason: parsed.reason, private: isPrivate }
  return { ok: true, message: { ...base, content: parsed.content } }
}
