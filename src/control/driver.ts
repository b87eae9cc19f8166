/**
 * What the orchestrator needs from whatever runs pubs (Swarm, local child processes): the planner's four list
 * calls to observe, one operation per kind of change, and per-node samples for stats. Drivers convert their own
 * data into these shapes at their edge, so the orchestrator and the planner never see Docker's.
 */
import type { Readable } from 'node:stream'
import type { FeedId, InviteCode, MsgId, MultiserverAddress } from '../protocol/ids.js'
import type { ObservedReader, ServiceSpec } from '../planner/index.js'
import type { SsbKeys } from '../ssb/keys.js'
import type { DiskUsage } from '../protocol/disk.js'

/** Who a pub is and who may command it: what a driver needs beyond the spec to start one. */
export interface PubIdentity {
  /** The pub's own keys (derived; handed over as a secret or a 0600 file, never in env, labels or logs). */
  keys: SsbKeys
  /** The provider: a master on the pub, so it can make invites. */
  provider: FeedId
}

/** One reading of one running pub. Counters are cumulative since `instance` started. */
export interface StatsSample {
  request: MsgId
  at: number
  /** The container or process the counters belong to: a change means the pub restarted. */
  instance: string
  /** When that instance started (ms since the epoch). */
  startedAt: number
  cpuNanos: number
  memoryBytes: number
  memoryLimitBytes: number
  /** Undefined where the driver cannot attribute traffic to one pub (host networking). */
  rxBytes?: number
  txBytes?: number
}

export interface PubDriver extends ObservedReader {
  /** Shown to owners and the operator ("swarm", "local"). */
  readonly name: string
  /** Make sure the pub's data volume exists on its hub (safe to repeat). */
  createVolume(request: MsgId, hub: string): Promise<void>
  createService(spec: ServiceSpec, pub: PubIdentity): Promise<void>
  /** Write back the whole spec over the service read now (read-modify-write with the version read). */
  updateService(serviceId: string, spec: ServiceSpec, pub: PubIdentity): Promise<void>
  /** Remove one of our services (and its key secret when no other service of the pub uses it). */
  removeService(request: MsgId, serviceId: string): Promise<void>
  /** Delete a destroyed pub's volume on its hub; refuses volumes that are not ours. */
  purgeVolume(request: MsgId, hub: string, volumeName: string): Promise<void>
  /** One sample of every running pub (or only of `only`), node by node. */
  sampleStats(only?: ReadonlySet<MsgId>): Promise<StatsSample[]>
  /**
   * Archive the pub's data folder as a gzipped tar, without its keyring (ssb-db2's `keyring` folder holds secrets
   * derived from the pub's key) or socket, and feed it to `sink`; resolves once the sink has taken all of it.
   */
  backup(request: MsgId, hub: string, sink: (archive: Readable) => Promise<void>): Promise<void>
  /**
   * Unpack an archive that `backup` made into the pub's volume on `hub` (created with our labels if missing), for
   * moving a pub between hubs; refuses a volume that is not the pub's. Drivers with one hub have no use for it.
   */
  restore?(request: MsgId, hub: string, imageVersion: string, archive: Readable): Promise<void>
  /**
   * Copy a stopped pub's volume from hub `from` to hub `to` for a move: archive it there and unpack it here into a
   * volume made afresh (whatever an interrupted copy left goes first), labelled with the hub it came from. Refuses
   * while the pub still runs on `from`. Drivers with one hub have no use for it.
   */
  moveData?(request: MsgId, from: string, to: string, imageVersion: string): Promise<void>
  /** True when `err` says the engine itself cannot be reached (as opposed to one operation failing). */
  isUnreachable(err: unknown): boolean
  close(): Promise<void>
}

/** Top-level entries of a pub's data folder that never go into its backup: the db2 keyring (secrets derived from the pub's key), its unix socket and its health file. */
export const BACKUP_EXCLUDED = ['keyring', 'socket', 'health'] as const

/** Asks the pub at `address` who it is (muxrpc whoami over SSB with master keys); resolves with the id it answers. */
export type PubProber = (keys: SsbKeys, address: MultiserverAddress, opts: { caps?: string; timeoutMs: number }) => Promise<FeedId>

/**
 * Asks a pub that has just started who it is and, on the same connection, for a first invite of `uses` uses; the
 * invite is absent when only it failed. With master keys, like the prober.
 */
export type PubGreeter = (
  keys: SsbKeys,
  address: MultiserverAddress,
  opts: { caps?: string; timeoutMs: number; uses: number },
) => Promise<{ id: FeedId; invite?: InviteCode }>

/** Asks the pub at `address` how full its disk allowance is (its own measurement), with master keys. */
export type PubDiskReader = (keys: SsbKeys, address: MultiserverAddress, opts: { caps?: string; timeoutMs: number }) => Promise<DiskUsage>

/** Asks the pub at `address` for an invite code with master keys (the hosted pub's RPC client does it). */
export type PubInviter = (keys: SsbKeys, address: MultiserverAddress, opts: { uses: number; caps?: string; timeoutMs: number }) => Promise<InviteCode>
