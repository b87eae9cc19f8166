/**
 * The seam between the control plane and whatever runs pubs (Swarm, local processes, or nothing yet).
 * The plugin calls `reconcile` once per pass with every pub as it should be; a runtime converges toward that
 * (plan, execute) and reports what it observes. Rerunning it with the same input must be harmless.
 */
import type { FeedId, InviteCode, MsgId } from '../protocol/ids.js'
import type { PlacementWhy } from '../protocol/placement.js'
import type { ReplyResult } from '../protocol/reply.js'
import type { StatsSummary } from '../protocol/stats.js'
import type { SsbKeys } from '../ssb/keys.js'
import type { Log } from '../log/logger.js'
import type { Observations } from './observation.js'
import type { PubRecord } from './record.js'

/** One pub as the runtime should make it: the record with payment already applied. */
export interface RuntimePub {
  record: PubRecord
  /**
   * `hold`: create nothing (awaiting payment, rejected, expired); an existing service is left as it is.
   * `destroyed`: remove the service now, purge the data `retention` after `destroyedAt`.
   */
  intent: 'running' | 'stopped' | 'destroyed' | 'hold'
  destroyedAt?: number
  /** Where the provider recorded this pub's hub and port, if it has yet; `released` once its port was handed back. */
  placement?: { hub: string; port: number; released?: true }
  /** Needs no payment (a plan priced 0, or a provider that takes none): capped, and placed after paying pubs. */
  free?: boolean
  /** Replication hops of the pub's plan, counted from the owner (absent: the pub's default). */
  hops?: number
  /** Memory of the pub's plan. */
  memoryMiB: number
  /** Disk allowance of the pub's plan (log + blobs, MiB); absent: the protocol's default. */
  diskMiB?: number
  /** Whether the pub's plan has a web view (absent: yes). */
  webView?: boolean
}

/** What the plugin gives a runtime: the provider's identity and a durable place for placements. */
export interface RuntimeHost {
  /** The provider's keys: master rights on every pub, and the root its pubs' keys are derived from. */
  providerKeys: SsbKeys
  providerId: FeedId
  /** Persist a placement (a `buttcloud/placement` record, with why it was made), on disk before it resolves. */
  recordPlacement(request: MsgId, hub: string, port: number, why?: PlacementWhy): Promise<void>
  /** Persist that a purged pub's placement is released (a private `buttcloud/release`), on disk before it resolves. */
  releasePlacement(request: MsgId, hub: string, port: number): Promise<void>
  log: Log
  /** Ask for a pass soon: work the runtime finished between passes (a backup) is owed an answer. */
  requestPass?(): void
}

/** A one-shot the runtime has begun but not finished: the command stays unanswered, and a later pass asks again. */
export class RuntimePending extends Error {
  constructor(what: string) {
    super(`${what} is under way`)
    this.name = 'RuntimePending'
  }
}

/** A clear "no" the owner should hear now (no room for a backup, one already running), not after retries. */
export class RuntimeRefusal extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'RuntimeRefusal'
  }
}

export interface PubRuntime {
  /** Shown to owners and the operator ("swarm", "local"). */
  readonly name: string
  /** Converge toward `pubs` (one pass) and report each pub's observed state. Throws when the engine is unreachable. */
  reconcile(pubs: readonly RuntimePub[], now: number): Promise<Observations>
  /** A fresh invite on the pub, made with the provider's master rights. */
  invite(record: PubRecord, uses: number): Promise<InviteCode>
  stats(record: PubRecord): Promise<StatsSummary>
  /**
   * Back the pub up for `command`: throws RuntimePending while it runs (ask again in a later pass), RuntimeRefusal
   * when it cannot be done now, and resolves with the link once it is done.
   */
  backup(record: PubRecord, command: MsgId): Promise<NonNullable<ReplyResult['backup']>>
  close(): Promise<void>
}

/** Builds a runtime once the provider's sbot exists (the host needs it). */
export type RuntimeFactory = (host: RuntimeHost) => PubRuntime
