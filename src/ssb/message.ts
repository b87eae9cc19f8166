/** A message as ssb-db2 and the classic server hand it out. */
import type { FeedId, MsgId } from '../protocol/ids.js'

/** A message as ssb-db2 and the classic server return it. */
export interface SsbMsg<C = unknown> {
  key: MsgId
  value: {
    previous: MsgId | null
    author: FeedId
    sequence: number
    timestamp: number
    content: C
    signature?: string
  }
  timestamp: number
  meta?: { private?: boolean; originalContent?: string }
}

/** True when the message arrived encrypted and was decrypted for us. */
export function wasPrivate(msg: SsbMsg): boolean {
  return Boolean(msg.meta && msg.meta.private)
}

/** A node-style callback. */
export type Callback<T> = (err: Error | null, value: T) => void
