/** What a runtime reports about one pub: the observed half of a status. */
import type { FeedId, MultiserverAddress } from '../protocol/ids.js'
import type { PubState } from '../protocol/status.js'

export interface Observation {
  state: PubState
  reason?: string
  pub?: { id: FeedId; address: MultiserverAddress }
  /** A payment link, when the pub waits for payment. */
  paymentUrl?: string
}

/** Observations keyed by request id. */
export type Observations = ReadonlyMap<string, Observation>
