/**
 * The planner's vocabulary: what the control plane wants (desired), what the runtime shows (observed) and the
 * operator's settings (capacity). Plain data, no behaviour, so drivers and tests can build it by hand.
 */
import type { FeedId, MsgId } from '../protocol/ids.js'

/** Where a pub lives: the hub (a Swarm node id, or `local`) and the port it listens on there. */
export interface Placement {
  hub: string
  port: number
  /**
   * The provider recorded that this destroyed pub's port went back to the pool (after its purge): the port book
   * no longer counts it. Ignored on a pub that is not destroyed, which keeps its port whatever the log says.
   */
  released?: true
}

/** What the owner asked the pub to be. `destroyed` is final: the service goes, the volume follows after retention. */
export type RunIntent = 'running' | 'stopped' | 'destroyed'

interface DesiredPubBase {
  /** The request message: the pub's id everywhere. */
  request: MsgId
  owner: FeedId
  /** The owner's name for the pub, if they gave one. */
  name?: string
  /** The plan id from the offer, and the memory it buys (limit and reservation). */
  plan: string
  memoryMiB: number
  /** The pub's own identity; the provider generates its key before creating it. */
  pubId: FeedId
  /** When the request was posted: queued pubs are placed oldest first. */
  requestedAt: number
  /**
   * Counts valid restart commands. Written to Swarm's TaskTemplate.ForceUpdate, so a restart is a difference in
   * state that a later pass still sees, not an event that a crash could lose.
   */
  restartGeneration: number
  /** The pub image version wanted (a tag, e.g. `0.3.1`). */
  imageVersion: string
  /** The placement recorded on the provider's feed, if one was. The record, not Swarm, is authoritative. */
  placement?: Placement
  /** Needs no payment. When room is scarce, paying pubs are placed before free ones whatever their age. */
  free?: boolean
  /** The plan's disk allowance for log + blobs (MiB), handed to the pub; absent: the pub's own default. */
  diskMiB?: number
  /** The plan gives the pub a web view, on the web port that goes with its placement (`webPortFor`). */
  webView?: boolean
  /** Replication hops of the plan, counted from the owner; absent: the pub's own default. */
  hops?: number
  /** The highest memory use sampled for the pub (MiB), when it has been sampled: packing reserves at least this plus a margin. */
  measuredMiB?: number
}

/** One pub as the control plane wants it. */
export type DesiredPub = DesiredPubBase &
  ({ intent: 'running' | 'stopped' } | { intent: 'destroyed'; destroyedAt: number })

/** A Swarm node that may run pubs. */
export interface Hub {
  /** Swarm node id; what placements record. */
  id: string
  name: string
  /** Host name or IP where pubs on this hub are reachable from the Internet. */
  address: string
  /** The node's memory as Swarm reports it. */
  memoryMiB: number
  /** Memory reserved on this node by services that are not ours: we must not count it as free. */
  foreignReservedMiB: number
  availability: 'active' | 'pause' | 'drain'
  ready: boolean
}

/** One task of a service as the driver saw it (Swarm keeps a few old tasks per slot). */
export interface ObservedTask {
  state: 'pending' | 'starting' | 'running' | 'complete' | 'failed' | 'rejected' | 'shutdown'
  /** Health of a running task with a health check; absent without one. */
  health?: 'starting' | 'healthy' | 'unhealthy'
  exitCode?: number
  /** The kernel's OOM killer ended it (Docker's State.OOMKilled); exit 137 alone may also be a SIGKILL. */
  oomKilled?: boolean
  /** Docker's error text, e.g. `No such image: …`. */
  error?: string
  /** The SSB port the task was started with (a re-placed pub's older tasks show its old port). */
  port?: number
  /** When the task reached its state (ms since the epoch). */
  at: number
}

/** A service's spec as read back. Optional fields: a hand-edited service may lack them (that is drift). */
export interface ServiceFields {
  id: string
  name: string
  hub?: string
  port?: number
  imageVersion?: string
  memoryMiB?: number
  /** The disk allowance and web port the pub was started with (absent: none given). */
  diskMiB?: number
  webPort?: number
  /** Replicas wanted in the spec (0 = stopped). */
  replicas: number
  /** TaskTemplate.ForceUpdate. */
  forceUpdate: number
}

/** A service carrying our labels. */
export interface ObservedService extends ServiceFields {
  /** From our request label. */
  request: MsgId
  /** Newest first, a handful at most. */
  tasks: ObservedTask[]
}

/** A volume carrying our labels. */
export interface ObservedVolume {
  name: string
  request: MsgId
  hub: string
  createdAt: number
  /**
   * The hub this volume's data was copied from by a move (its `buttcloud.moved-from` label, set when the move made
   * it). Only a volume a move copied from may be purged while its pub lives (see "Drain and move" in
   * docs/orchestrator.md).
   */
  movedFrom?: string
}

/** A Docker object without our labels: listed only so the planner can say it leaves it alone. */
export interface ForeignObject {
  kind: 'service' | 'volume'
  id: string
  name: string
  /** `unlabelled`: not ours at all; `bad-request-label`: says it is ours but names no valid request. */
  why: 'unlabelled' | 'bad-request-label'
}

/** Everything one pass reads from the runtime (one listing of each kind). */
export interface Observed {
  hubs: Hub[]
  services: ObservedService[]
  volumes: ObservedVolume[]
  foreign: ForeignObject[]
  /**
   * Hubs whose volumes were listed in this read; absent means every hub's were (a driver that sees them all). A hub
   * whose engine did not answer may still hold volumes nobody sees, so no port is released there.
   */
  volumeHubs?: readonly string[]
}

/** The operator's settings for packing, ports, retention and cost. */
export interface Capacity {
  /** The size of a hub the operator would add: used to say how many hubs are needed. */
  hubMemoryMiB: number
  /** Kept free on every hub for the engine, the OS and page cache. */
  headroomMiB: number
  /**
   * Memory overcommit: a pub reserves its plan's memory divided by this for packing (its limit stays its OOM
   * bound), or its measured peak with a margin when that is more. Absent or 1: a pub reserves its whole limit.
   */
  overcommit?: number
  /** Ports handed to pubs on each hub, both ends included. */
  ports: { first: number; last: number }
  /** How long a destroyed pub's volume is kept before it is purged. */
  retentionMs: number
  /** What one hub costs, in minor units (cents) per month; enables cost per pub in the report. */
  hubPrice?: { amountPerMonth: number; currency: string }
}

/** The full spec of a pub's service: what create writes and what update writes back. */
export interface ServiceSpec {
  request: MsgId
  owner: FeedId
  pubId: FeedId
  name?: string
  hub: string
  port: number
  imageVersion: string
  memoryMiB: number
  /** PUB_DISK_MIB: the plan's disk allowance. */
  diskMiB?: number
  /** PUB_WEB_PORT: the web view's port, derived from the placement's port (`webPortFor`); absent: no web view. */
  webPort?: number
  replicas: 0 | 1
  forceUpdate: number
  /** Replication hops (PUB_HOPS); taken at the next create or update of the service, not a change of its own. */
  hops?: number
}
