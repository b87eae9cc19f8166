/**
 * Observed state per pub, for the owner: provisioning, up, down (and why), stopped, destroyed. The plugin posts a
 * status only when src/control/status.ts says what it would post differs from what it posted last, so a steady pub
 * costs nothing on the feed however often passes run.
 */
import { multiserverAddress, type MsgId, type MultiserverAddress } from '../protocol/ids.js'
import type { PubState } from '../protocol/status.js'
import { PUB_EXIT } from '../protocol/pub-exit.js'
import type { Action } from './actions.js'
import type { DesiredPub, Observed, ObservedService, ObservedTask } from './types.js'
import { indexWorld, schedulable, type World } from './world.js'
import { staleRecord } from './stale.js'

export type DownReason = 'oom' | 'crash-loop' | 'rejected' | 'exited' | 'unhealthy' | 'hub-unavailable' | 'port-taken' | 'moving'

export type ObservedPubState =
  | { state: 'queued' }
  | { state: 'provisioning' }
  /** Where it runs; `address` is absent only when the hub is not in the node list. */
  | { state: 'up'; hub?: string; port?: number; address?: MultiserverAddress }
  | { state: 'down'; reason: DownReason; detail?: string }
  | { state: 'stopped' }
  | { state: 'destroyed' }

/** This many failed tasks within the window make a crash loop. */
export interface CrashLoop {
  failures: number
  windowMs: number
}

export const DEFAULT_CRASH_LOOP: CrashLoop = { failures: 3, windowMs: 10 * 60_000 }

export interface SummaryOptions {
  now: number
  /** This pass's plan: tells queued pubs (report-queued) from pubs about to be placed, and pubs it starts moving. */
  plan?: readonly Action[]
  crashLoop?: CrashLoop
}

export const REASON_TEXT: Record<DownReason, string> = {
  oom: 'out of memory',
  'crash-loop': 'crash loop',
  rejected: 'rejected',
  exited: 'exited',
  unhealthy: 'health check failing',
  'hub-unavailable': 'hub unavailable',
  'port-taken': 'its port is in use on its hub; moving it to a free port',
  moving: 'its hub is being drained; moving it with its data to another hub (same identity, new address)',
}

const ENDED = new Set<ObservedTask['state']>(['complete', 'failed', 'rejected', 'shutdown'])
const FAILED = new Set<ObservedTask['state']>(['failed', 'rejected'])

/**
 * Why a task failed. Swarm's task status carries the exit code but not Docker's OOMKilled flag, so 137 counts as
 * out of memory unless the driver looked and found otherwise (a plain SIGKILL also exits 137).
 */
function failure(task: ObservedTask): { reason: DownReason; detail?: string } {
  if (task.state === 'rejected') return { reason: 'rejected', ...(task.error ? { detail: task.error } : {}) }
  if (task.exitCode === PUB_EXIT.portTaken) return { reason: 'port-taken', ...(task.port !== undefined ? { detail: `port ${task.port}` } : {}) }
  if (task.oomKilled === true || (task.exitCode === 137 && task.oomKilled === undefined)) {
    return { reason: 'oom', detail: 'exit code 137' }
  }
  return { reason: 'exited', ...(task.exitCode !== undefined ? { detail: `exit code ${task.exitCode}` } : task.error ? { detail: task.error } : {}) }
}

/** A running pub's state from its service's tasks (newest first). */
export function fromTasks(svc: ObservedService, world: World, now: number, crashLoop: CrashLoop): ObservedPubState {
  const tasks = svc.tasks
  // A crash loop wins over a momentary "up": otherwise a looping pub would flap between up and down posts.
  let recent = 0
  let newestFailure: ObservedTask | undefined
  for (const t of tasks) {
    // A taken port is not a crash: the planner moves the pub (portTaken), and its failures there must not outlive the move.
    if (!FAILED.has(t.state) || now - t.at > crashLoop.windowMs || t.exitCode === PUB_EXIT.portTaken) continue
    recent++
    newestFailure ??= t
  }
  if (recent >= crashLoop.failures) {
    return { state: 'down', reason: 'crash-loop', detail: REASON_TEXT[failure(newestFailure!).reason] }
  }
  const newest = tasks[0]
  if (newest?.state === 'running' && newest.health !== 'starting' && newest.health !== 'unhealthy') {
    const up: ObservedPubState & { state: 'up' } = { state: 'up' }
    if (svc.hub !== undefined) up.hub = svc.hub
    if (svc.port !== undefined) up.port = svc.port
    const hub = svc.hub !== undefined ? world.hubs.get(svc.hub) : undefined
    const pub = world.desired.get(svc.request)
    if (hub && svc.port !== undefined && pub) up.address = multiserverAddress(hub.address, svc.port, pub.pubId)
    return up
  }
  if (newest?.state === 'rejected') return { state: 'down', ...failure(newest) }
  if (svc.hub !== undefined && !schedulable(world.hubs.get(svc.hub))) return { state: 'down', reason: 'hub-unavailable' }
  if (newest?.state === 'running' && newest.health === 'unhealthy') return { state: 'down', reason: 'unhealthy' }
  // Starting again after an end: a failure keeps the pub down until the new task is up; a planned stop
  // (update, restart) does not.
  const ended = tasks.find((t) => ENDED.has(t.state))
  if (ended && FAILED.has(ended.state)) return { state: 'down', ...failure(ended) }
  return { state: 'provisioning' }
}

/** One pub's observed state. */
function pubState(pub: DesiredPub, world: World, queued: ReadonlySet<MsgId>, moving: ReadonlySet<MsgId>, now: number, crashLoop: CrashLoop): ObservedPubState {
  if (pub.intent === 'destroyed') return { state: 'destroyed' }
  const svc = world.services.get(pub.request)
  if (pub.intent === 'stopped') {
    return !svc || svc.replicas === 0 ? { state: 'stopped' } : fromTasks(svc, world, now, crashLoop)
  }
  if (queued.has(pub.request)) return { state: 'queued' }
  // A move under way (its record names another hub than its service's, unless that record is stale: the pub moved
  // after the backup it came from, and is recorded where it serves) or decided in this pass.
  const away = svc?.hub !== undefined && pub.placement !== undefined && svc.hub !== pub.placement.hub && !staleRecord(pub, world)
  if (away || moving.has(pub.request)) {
    return { state: 'down', reason: 'moving' }
  }
  if (!svc) {
    const hub = pub.placement?.hub
    return hub !== undefined && !schedulable(world.hubs.get(hub)) ? { state: 'down', reason: 'hub-unavailable' } : { state: 'provisioning' }
  }
  if (svc.replicas === 0) return { state: 'provisioning' }
  return fromTasks(svc, world, now, crashLoop)
}

/** Each desired pub's observed state, by request. */
export function summarise(desired: readonly DesiredPub[], observed: Observed, options: SummaryOptions): Map<MsgId, ObservedPubState> {
  return summariseWorld(indexWorld(desired, observed), options)
}

/** `summarise` on an already indexed world. */
export function summariseWorld(world: World, options: SummaryOptions): Map<MsgId, ObservedPubState> {
  const queued = new Set<MsgId>()
  const moving = new Set<MsgId>()
  for (const a of options.plan ?? []) {
    if (a.kind === 'report-queued') queued.add(a.request)
    else if (a.kind === 'record-placement' && a.why === 'move') moving.add(a.request)
  }
  const crashLoop = options.crashLoop ?? DEFAULT_CRASH_LOOP
  const out = new Map<MsgId, ObservedPubState>()
  for (const pub of world.desired.values()) out.set(pub.request, pubState(pub, world, queued, moving, options.now, crashLoop))
  return out
}

/** The part of a posted status that decides whether a new one is due (what `buttcloud/status` carries). */
export interface StatusFields {
  state: PubState
  reason?: string
  address?: MultiserverAddress
}

const MAX_REASON = 300

/** The status fields to post for an observed state; the reason is one bounded line. */
export function toStatusFields(s: ObservedPubState): StatusFields {
  switch (s.state) {
    case 'up':
      return s.address ? { state: 'up', address: s.address } : { state: 'up' }
    case 'down': {
      // Docker's error texts may hold newlines; status reasons are one line without control characters.
      // eslint-disable-next-line no-control-regex
      const detail = s.detail?.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
      const text = detail ? `${REASON_TEXT[s.reason]}: ${detail}` : REASON_TEXT[s.reason]
      return { state: 'down', reason: text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text }
    }
    case 'queued':
      return { state: 'queued', reason: 'waiting for a hub with room' }
    default:
      return { state: s.state }
  }
}

/** Port-taken exits in a row at one port before the pub is moved: one alone may be its own old task still closing. */
export const PORT_TAKEN_TRIES = 2

/**
 * Whether the pub's attempts at `port` keep ending because the port is in use on its hub: the newest tasks at that
 * port that are not still on their way up failed with the pub's port-taken exit code, `PORT_TAKEN_TRIES` times in a
 * row. One such exit can be a stop-first update racing the old task's exit; a task that came up says the port is
 * free after all.
 */
export function portTaken(svc: ObservedService, port: number): boolean {
  let taken = 0
  for (const t of svc.tasks) {
    if (t.port !== port) continue
    if (t.state === 'pending' || t.state === 'starting' || (t.state === 'running' && t.health === 'starting')) continue
    if (t.state !== 'failed' || t.exitCode !== PUB_EXIT.portTaken) return false
    if (++taken >= PORT_TAKEN_TRIES) return true
  }
  return false
}
