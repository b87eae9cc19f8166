/**
 * The seam between the control plane and whatever runs pubs (Swarm, local processes, or nothing yet).
 * The plugin calls it once per pass; a runtime converges toward the records and reports what it observes.
 */
import type { InviteCode } from '../protocol/ids.js'
import type { ReplyResult } from '../protocol/reply.js'
import type { StatsSummary } from '../protocol/stats.js'
import type { Observations } from './observation.js'
import type { PubRecord } from './record.js'

export interface PubRuntime {
  /** Shown to owners and the operator ("swarm", "local"). */
  readonly name: string
  /** Converge toward `records` (one pass) and report each pub's observed state. Throws when the engine is unreachable. */
  reconcile(records: readonly PubRecord[], now: number): Promise<Observations>
  /** A fresh invite on the pub, made with the provider's master rights. */
  invite(record: PubRecord, uses: number): Promise<InviteCode>
  stats(record: PubRecord): Promise<StatsSummary>
  backup(record: PubRecord): Promise<NonNullable<ReplyResult['backup']>>
  close(): Promise<void>
}
