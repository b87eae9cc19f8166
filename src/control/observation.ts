/** What a runtime reports about one pub: the observed half of a status. */
import type { FeedId, MultiserverAddress } from '../protocol/ids.js'
import type { PubState } from '../protocol/status.js'

export interface Observation {
  state: PubState
  reason?: string
  /** `web`: the URL of the pub's web view, when its plan has one. */
  pub?: { id: FeedId; address: MultiserverAddress; web?: string }
  /** A payment link, when the pub waits for payment. */
  paymentUrl?: string
}

/** Observations keyed by request id. */
export type Observations = ReadonlyMap<string, Observation>
