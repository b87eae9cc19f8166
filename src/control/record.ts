/**
 * The pub record: everything the log says about one pub, folded from its request and its owner's commands.
 * It is a pure function of those messages (see fold.ts). Payment and placement facts plug in as further
 * inputs without changing what is here.
 */
import type { FeedId, MsgId } from '../protocol/ids.js'
import type { ErrorCode } from '../protocol/reply.js'
import type { PubCommand, Verb } from '../protocol/command.js'

/** What the owner wants the pub to be doing, as their commands say. */
export type RunIntent = 'running' | 'stopped' | 'destroyed'

/** A command with the provider's verdict on it, judged against the record as it stood before it. */
export interface JudgedCommand {
  key: MsgId
  author: FeedId
  sequence: number
  /** The author's claim: shown, never used. */
  timestamp: number
  /** When the provider received it: command deadlines count from here. */
  receivedAt: number
  verb: Verb
  args: PubCommand['args']
  /** Sent as a private post's command line: the answer is a private post too. */
  viaPost?: true
  verdict: { ok: true; note: string } | { ok: false; code: ErrorCode; reason: string }
}

export interface PubRecord {
  /** The request's message id: the pub's id everywhere. */
  request: MsgId
  owner: FeedId
  provider: FeedId
  plan: string
  name?: string
  /** When the provider received the request: the fair order for scarce room, and the unpaid expiry count from here. */
  requestedAt: number
  /** The request's sequence in its owner's feed: the owner's limit counts in feed order. */
  requestSequence: number
  /** Whether the request itself was posted privately. */
  requestPrivate: boolean
  /** Why the request itself cannot be served (unknown plan, too many pubs), if so. */
  rejected?: string
  /** Rejected and far over the owner's limit: answering every such request would amplify spam. */
  silent?: boolean
  intent: RunIntent
  /** When the provider received the owner's destroy command: the start of the data retention period. */
  destroyedAt?: number
  /** The destroy command's sequence in the owner's feed. */
  destroyedSequence?: number
  /** One per accepted restart: maps onto a level-triggered forced update. */
  restartGeneration: number
  /** The pub version the owner asked for with upgrade; absent means the provider's default. */
  version?: string
  /** Every command the owner (or anyone) sent about this pub, in the order they were posted. */
  commands: JudgedCommand[]
}

/** What the fold needs to know about the provider's current configuration. */
export interface FoldContext {
  provider: FeedId
  /** Plan ids the provider offers. */
  plans: ReadonlySet<string>
  /** Pub versions an upgrade may ask for. */
  versions: ReadonlySet<string>
  /** How many live (not destroyed, not rejected) pubs one owner may have. */
  pubsPerOwner: number
  /** The most uses an `invite` command may ask for (the schema's own bound, 100, when absent). */
  inviteMaxUses?: number
}
