/** Hand-built, schema-checked messages for the CLI's unit tests: deterministic ids derived from labels. */
import { createHash } from 'node:crypto'
import { checkOutgoing, type ContentOf, type MessageType, type Received } from '../../src/protocol/index.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'

function b64(label: string): string {
  return createHash('sha256').update(label).digest('base64')
}

/** A valid message id derived from a label. */
export function msgId(label: string): MsgId {
  return `%${b64(`cli-msg:${label}`)}.sha256`
}

/** A valid feed id derived from a label. */
export function feedId(label: string): FeedId {
  return `@${b64(`cli-feed:${label}`)}.ed25519`
}

export const ME = feedId('me')
export const PROVIDER = feedId('provider')
export const OTHER_PROVIDER = feedId('other-provider')
export const STRANGER = feedId('stranger')

const sequences = new Map<FeedId, number>()

/** A received message by `author`, its content checked by the protocol schema, with the author's next sequence. */
export function msg<T extends MessageType>(author: FeedId, label: string, content: ContentOf<T> & { type: T }, timestamp = 1_000): Received {
  const sequence = (sequences.get(author) ?? 0) + 1
  sequences.set(author, sequence)
  return {
    key: msgId(label),
    author,
    sequence,
    timestamp,
    receivedAt: timestamp,
    private: 'recps' in content && content.recps !== undefined,
    content: checkOutgoing(content.type, content) as Received['content'],
  }
}

/** The offer the tests' provider makes: a free plan and two paid ones, the cheapest not listed first. */
export const OFFER: ContentOf<'buttcloud/offer'> = {
  type: 'buttcloud/offer',
  version: 1,
  name: 'Stand-in Cloud',
  plans: [
    { id: 'big', name: 'Big', memoryMiB: 1024, price: 900, currency: 'eur', interval: 'month' },
    { id: 'tiny', name: 'Tiny', memoryMiB: 128, price: 0, currency: 'eur', interval: 'month' },
    { id: 'small', name: 'Small', memoryMiB: 256, price: 300, currency: 'eur', interval: 'month' },
  ],
  paymentSite: 'https://pay.example/',
  terms: 'https://example.com/terms',
}
