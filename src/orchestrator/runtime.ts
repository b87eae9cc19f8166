/**
 * The orchestrator runtime: the control plane's PubRuntime on top of the pure planner and a driver.
 *
 * One reconcile is one pass: read observed state once (four list calls, whatever the number of pubs), plan,
 * execute, and read again only if something changed. A placement recorded in this pass is built on in a later one,
 * once the plugin has read it back: ssb-db2 answers a publish before its debounced write reaches the disk (and
 * peers may already have the message), so building at once could leave a service whose placement a crash then
 * loses. Pubs whose service this pass created or changed are watched for a bounded time, so the owner hears "up"
 * from this pass rather than from the next scheduled one.
 *
 * Failures back off (./backoff.ts): a pub whose change failed has its changes held back, exponentially longer after
 * each failure in a row, while its observed state is still reported; a reconcile that fails as a whole (the engine
 * unreachable) makes the following ones fail at once, without a call to the engine, until the next retry is due. The
 * held-back changes are chosen after planning, from this state and the host's `now`, so the planner stays pure.
 */
import { renameSync, writeFileSync } from 'node:fs'
import type { Observation, Observations } from '../control/observation.js'
import type { PubRecord } from '../control/record.js'
import { RuntimePending, RuntimeRefusal, type PubRuntime, type RuntimeHost, type RuntimePub } from '../control/runtime.js'
import { multiserverAddress, type InviteCode, type MsgId, type MultiserverAddress } from '../protocol/ids.js'
import type { ReplyResult } from '../protocol/reply.js'
import type { StatsSummary } from '../protocol/stats.js'
import {
  capacityReport,
  isChange,
  planPass,
  readObserved,
  summarise,
  toStatusFields,
  type Action,
  type Capacity,
  type CapacityReport,
  type CrashLoop,
  type DesiredPub,
  type Hub,
  type Observed,
  type ObservedPubState,
  type ObservedService,
  webPortFor,
  type ObservedTask,
} from '../planner/index.js'
import { Backoff, DEFAULT_BACKOFF, type BackoffPolicy, type BackoffState } from './backoff.js'
import { BackupShelf, type BackupSettings } from './backups.js'
import { desiredPubs, PubKeyring } from './desired.js'
import type { PubDiskReader, PubDriver, PubGreeter, PubInviter, PubProber } from '../control/driver.js'
import { diskReason } from '../control/disk.js'
import { DiskWatch } from './disk-watch.js'
import type { ProviderMetrics } from '../log/metrics.js'
import { createHandlers, execute, requestOf, type ExecutionResult, type OperatorNotes } from './executor.js'
import { DEFAULT_STATS_BOOK, StatsBook } from './stats.js'

const MiB = 1024 * 1024

export interface OrchestratorOptions {
  driver: PubDriver
  /** Makes invites on a running pub (the provider wires the hosted pub's RPC client). */
  inviter: PubInviter
  /**
   * Dials a running pub whose Docker health check has not passed yet: an answer with its own id makes it "up" at
   * once, instead of one probe interval after start. Absent: "up" waits for the driver's health.
   */
  prober?: PubProber
  /**
   * Dials a pub this pass created, in place of the prober: its answer and its first invite over one connection, so
   * the owner's "up" (which carries that invite) needs no second handshake; `invite(record, 1)` hands it out once.
   */
  greeter?: PubGreeter
  capacity: Capacity
  /** The image version (tag) pubs run unless their owner upgraded to another. */
  defaultImageVersion: string
  crashLoop?: CrashLoop
  /** How long a pass waits for pubs it created or changed to come up (0: report them as provisioning at once). */
  settleMs?: number
  /** How often it looks while it waits (each look is one observed read). */
  settlePollMs?: number
  /** Secret-handshake caps of the pubs' network, for invites (default: the main network). */
  caps?: string
  inviteTimeoutMs?: number
  stats?: { sampleIntervalMs?: number; windowMs?: number; maxSamples?: number }
  /** Where the operator's capacity report (and current notes) is written as JSON after each pass that changes it. */
  reportFile?: string
  /** Backups: their own folder, link, time to live and limits (see backups.ts). */
  backups?: BackupSettings
  /** Waits after failures in a row, per pub and for the engine (default: 10 s doubling up to 5 min). */
  backoff?: BackoffPolicy
  /** Asks a running pub how full its disk allowance is (the provider wires the hosted pub's RPC client). */
  diskReader?: PubDiskReader
  /** How often every running pub is asked (default 60 s; 0: only for `stats`). */
  diskIntervalMs?: number
  /** Where passes, actions, pubs by state and the engine's reachability are counted (the provider's /metrics). */
  metrics?: Pick<ProviderMetrics, 'pass' | 'actions' | 'pubs'>
}

/** What the report file holds: the capacity report with the notes of the pass that wrote it, and who is backing off. */
export interface CapacitySnapshot {
  /** When it was written, on the provider's clock (the one backoff times are on). */
  at: number
  runtime: string
  /** Absent until the engine has answered once. */
  report?: CapacityReport
  notes: string[]
  backoff: BackoffReport
}

/** Failures in a row that hold attempts back: the engine's, and each pub's. */
export interface BackoffReport {
  engine?: BackoffState
  pubs: Array<BackoffState & { request: MsgId }>
}

/** The orchestrator with in-process extras for the operator tools and tests. */
export interface OrchestratorRuntime extends PubRuntime {
  /** The latest capacity report and notes (undefined before the first pass). */
  capacity(): CapacitySnapshot | undefined
  /** The actions the last pass ran, for tests and the operator. */
  lastActions(): readonly Action[]
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
/** A sample younger than this is fresh enough to answer a stats command with. */
const FRESH_MS = 5_000
/** How long the first pass waits for the first round of disk readings. */
const DISK_PRIME_MS = 10_000

/** Build a RuntimeFactory (the plugin's seam; this one also gives the operator extras) that runs pubs through `opts.driver`. */
export function createOrchestratorRuntime(opts: OrchestratorOptions): (host: RuntimeHost) => OrchestratorRuntime {
  return (host) => new Orchestrator(opts, host)
}

class Orchestrator implements OrchestratorRuntime {
  readonly name: string
  private readonly driver: PubDriver
  private readonly keyring: PubKeyring
  private readonly handlers
  private readonly book: StatsBook
  private readonly sampleIntervalMs: number
  private sampler: NodeJS.Timeout | undefined
  private sampling: Promise<void> | undefined
  private samplerError: string | undefined
  private closed = false
  /** The host's clock minus ours, as of the last pass: summaries are dated on the host's clock. */
  private skew = 0
  /** Notes of the pass under way and of the last one: a note is logged when it first appears. */
  private notesNow = new Map<string, string>()
  private notesBefore = new Map<string, string>()
  private snapshot: CapacitySnapshot | undefined
  private report: CapacityReport | undefined
  private reportNotes: string[] = []
  private actions: Action[] = []
  /** The last pass's view, for invites, stats and backups between passes. */
  private desired = new Map<MsgId, DesiredPub>()
  private hubs = new Map<string, Hub>()
  private services = new Map<MsgId, ObservedService>()
  private readonly pubBackoff: Backoff<MsgId>
  private readonly engineBackoff: Backoff<'engine'>
  /** What the engine last failed with: repeated, unchanged, while the engine backs off. */
  private engineError: Error | undefined
  private readonly shelf: BackupShelf | undefined
  /** One backup at a time per pub: the command it is for, and its outcome once finished. */
  private readonly backupJobs = new Map<MsgId, BackupJob>()
  /** A pass asked for soon because a placed pub is still coming up (see `recheckWhileMoving`). */
  private recheck: NodeJS.Timeout | undefined
  private recheckDelayMs = RECHECK_FIRST_MS
  private readonly disk: DiskWatch | undefined
  private diskTimer: NodeJS.Timeout | undefined
  private diskPrimed = false
  /** Pubs whose running task answered the prober: the task's start time, so a later task is dialled afresh. */
  private readonly answered = new Map<MsgId, number>()
  /** Pubs a pass reported down while their next task was starting (that task's start time): the owner has heard why. */
  private readonly reportedDown = new Map<MsgId, number>()
  /** First invites the greeter made with a new pub's first answer, for the "up" that carries one. */
  private readonly firstInvites = new Map<MsgId, InviteCode>()

  constructor(
    private readonly opts: OrchestratorOptions,
    private readonly host: RuntimeHost,
  ) {
    this.driver = opts.driver
    this.name = opts.driver.name
    this.keyring = new PubKeyring(host.providerKeys)
    const notes: OperatorNotes = { note: (key, line) => this.notesNow.set(key, line) }
    this.handlers = createHandlers({ driver: this.driver, host, keyring: this.keyring, notes })
    this.book = new StatsBook({
      windowMs: opts.stats?.windowMs ?? DEFAULT_STATS_BOOK.windowMs,
      maxSamples: opts.stats?.maxSamples ?? DEFAULT_STATS_BOOK.maxSamples,
    })
    this.shelf = opts.backups ? new BackupShelf(opts.backups) : undefined
    this.sampleIntervalMs = opts.stats?.sampleIntervalMs ?? 5 * 60_000
    this.pubBackoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF)
    this.engineBackoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF)
    if (this.sampleIntervalMs > 0) {
      this.sampler = setInterval(() => void this.sample().catch(() => undefined), this.sampleIntervalMs)
      this.sampler.unref()
    }
    if (opts.diskReader) {
      this.disk = new DiskWatch({ reader: opts.diskReader, keys: host.providerKeys, ...(opts.caps ? { caps: opts.caps } : {}) })
      const every = opts.diskIntervalMs ?? 60_000
      if (every > 0) {
        this.diskTimer = setInterval(() => void this.checkDisks(), every)
        this.diskTimer.unref()
      }
    }
  }

  /** Ask every running pub for its disk reading; a changed level asks for a pass, which posts the new status. */
  private async checkDisks(): Promise<void> {
    if (!this.disk || this.closed) return
    const running = new Map<MsgId, MultiserverAddress>()
    for (const pub of this.desired.values()) {
      const address = pub.intent === 'running' && this.services.get(pub.request)?.tasks.some((t) => t.state === 'running') ? this.addressOf(pub) : undefined
      if (address) running.set(pub.request, address)
    }
    if ((await this.disk.refresh(running)) && !this.closed) this.host.requestPass?.()
  }

  async reconcile(pubs: readonly RuntimePub[], now: number): Promise<Observations> {
    if (this.closed) throw new Error(`the ${this.name} runtime is closed`)
    // The same error as last time (so the plugin logs it once), and not one call to the engine until the retry.
    if (this.engineError && this.engineBackoff.holding('engine', now)) throw this.engineError
    const started = performance.now()
    const metrics = this.opts.metrics
    try {
      const observations = await this.converge(pubs, now)
      this.engineBackoff.succeed('engine')
      this.engineError = undefined
      metrics?.pass((performance.now() - started) / 1000, true)
      metrics?.pubs(
        [...observations.values()].map((o) => o.state),
        this.actions.filter((a) => a.kind === 'report-queued').length,
      )
      return observations
    } catch (err) {
      metrics?.pass((performance.now() - started) / 1000, this.driver.isUnreachable(err) ? false : undefined)
      const error = err instanceof Error ? err : new Error(String(err))
      this.engineBackoff.fail('engine', error.message, now)
      this.engineError = error
      this.writeSnapshot(now)
      throw error
    }
  }

  private async converge(pubs: readonly RuntimePub[], now: number): Promise<Observations> {
    const started = Date.now()
    this.skew = now - started
    const clock = () => now + (Date.now() - started)
    const desired = desiredPubs(pubs, this.keyring, { defaultImageVersion: this.opts.defaultImageVersion })
    // Packing reserves at least what a pub was seen to use (src/planner/placement.ts, reservationMiB).
    for (const d of desired) {
      const peak = this.book.peakBytes(d.request)
      if (peak !== undefined) d.measuredMiB = Math.ceil(peak / MiB)
    }
    const requests = new Set(desired.map((d) => d.request))
    for (const request of this.firstInvites.keys()) if (!requests.has(request)) this.firstInvites.delete(request)
    this.keyring.retain(requests)
    this.book.retain(requests)
    // A destroyed pub's archives go with it (its data stays for the retention period; its backups are not kept).
    for (const pub of pubs) {
      if (pub.intent !== 'destroyed' || !this.shelf) continue
      const removed = this.shelf.removeFor(pub.record.request)
      if (removed > 0) this.host.log(`deleted ${removed} backup(s) of destroyed pub ${pub.record.request}`, { request: pub.record.request })
    }
    this.notesNow = new Map()

    let observed = await readObserved(this.driver)
    const pass = planPass({ desired, observed, capacity: this.opts.capacity, now, crashLoop: this.opts.crashLoop })
    const goals = new Map(desired.map((d) => [d.request, goalOf(d)]))
    const toRun = pass.actions.filter((a) => !this.isHeld(a, now, goals))
    const issuedAt = Date.now()
    const result = await this.run(toRun)
    this.opts.metrics?.actions(result.done, result.failed.map((f) => f.action))
    this.countOutcomes(pass.actions, toRun, result, now, goals)
    const touched = new Map<MsgId, Touched>()
    noteTouched(result, pass.states, issuedAt, touched)

    let states = pass.states
    if (result.done.length > 0) {
      observed = await readObserved(this.driver)
      states = summarise(desired, observed, { now: clock(), plan: pass.actions, crashLoop: this.opts.crashLoop })
    }
    // Pubs created now: their first task is theirs alone, so it may be dialled from the first look, even before Swarm
    // says it is starting, and they are greeted (asked for their first invite with the same connection).
    const created = new Set(result.done.flatMap((a) => (a.kind === 'create-service' && a.spec.replicas === 1 ? [a.spec.request] : [])))
    states = await this.confirmStarting(desired, observed, states, { created })
    if (touched.size > 0 && (this.opts.settleMs ?? 15_000) > 0) {
      ;({ observed, states } = await this.settle(desired, observed, states, touched, pass.actions, clock, created))
    }

    // Not built on yet, but known: the owner's first status can already say where the pub will be.
    const placed = new Map<MsgId, { hub: string; port: number }>()
    for (const a of result.done) if (a.kind === 'record-placement') placed.set(a.request, { hub: a.hub, port: a.port })
    const view = placed.size === 0 ? desired : desired.map((d) => (placed.has(d.request) ? { ...d, placement: placed.get(d.request)! } : d))

    this.recheckWhileMoving(desired, states)
    this.noteReportedDown(observed, states)
    this.actions = pass.actions
    this.remember(view, observed)
    this.finishNotes()
    this.updateReport(desired, observed, clock())
    if (this.disk && !this.diskPrimed) {
      // Right after a start nothing is known of the disks: without readings, a pub at 90% would look back under and
      // its owner would hear of it twice. The first pass waits (a bounded time) for one round.
      this.diskPrimed = true
      await Promise.race([this.checkDisks(), sleep(DISK_PRIME_MS)])
    }
    return this.observations(view, states)
  }

  /** A change of a pub whose last attempt at the same goal failed, and whose retry is not due yet. */
  private isHeld(action: Action, now: number, goals: ReadonlyMap<MsgId, string>): boolean {
    if (!isChange(action)) return false
    const request = requestOf(action)
    return request !== undefined && this.pubBackoff.holding(request, now, goals.get(request)) !== undefined
  }

  /**
   * Count each pub's outcome: a failed change is one more failure in a row; all of its changes done, or none left to
   * make, is a success and forgets the failures. A pub whose changes were held back keeps its count.
   */
  private countOutcomes(planned: readonly Action[], ran: readonly Action[], result: ExecutionResult, now: number, goals: ReadonlyMap<MsgId, string>): void {
    const failed = new Map<MsgId, Error>()
    for (const f of result.failed) {
      const request = requestOf(f.action)
      if (request !== undefined && !failed.has(request)) failed.set(request, f.error)
    }
    const heldRequests = new Set(planned.filter((a) => isChange(a) && !ran.includes(a)).map(requestOf))
    const keep = new Set<MsgId>(goals.keys())
    for (const a of planned) {
      const request = isChange(a) ? requestOf(a) : undefined
      if (request !== undefined) keep.add(request)
    }
    this.pubBackoff.retain(keep)
    for (const request of keep) {
      const error = failed.get(request)
      if (error) this.pubBackoff.fail(request, error.message, now, goals.get(request))
      else if (!heldRequests.has(request)) this.pubBackoff.succeed(request)
    }
  }

  private run(actions: readonly Action[]): Promise<ExecutionResult> {
    return execute(actions, this.handlers, { isUnreachable: (err) => this.driver.isUnreachable(err), log: this.host.log })
  }

  /**
   * Watch the pubs this pass created or changed until none is on its way up, or the bound passes. A changed pub
   * that was up is finished only once it has been seen not up (its old task stopping) or runs a task started
   * after the change: an update read back before Swarm acts on it would otherwise look finished.
   */
  private async settle(
    desired: DesiredPub[],
    observed: Observed,
    states: Map<MsgId, ObservedPubState>,
    touched: Map<MsgId, Touched>,
    plan: readonly Action[],
    clock: () => number,
    created: ReadonlySet<MsgId>,
  ): Promise<{ observed: Observed; states: Map<MsgId, ObservedPubState> }> {
    const deadline = Date.now() + (this.opts.settleMs ?? 15_000)
    const pollMs = this.opts.settlePollMs ?? 200
    const changed = new Set<MsgId>()
    for (;;) {
      const services = new Map(observed.services.map((s) => [s.request, s]))
      let waiting = false
      for (const [request, t] of touched) {
        const state = states.get(request)?.state
        const newest = services.get(request)?.tasks[0]
        if (!t.wasUp || state !== 'up' || (newest?.state === 'running' && newest.at >= t.since)) changed.add(request)
        if (state === 'provisioning' || (state === 'up' && !changed.has(request))) waiting = true
      }
      if (!waiting || Date.now() + pollMs > deadline || this.closed) return { observed, states }
      // Until the next look, a new pub that has not answered is dialled every DIAL_MS: a refused dial costs nothing,
      // and it answers the moment it listens, where a look (four listings) every poll would find it a poll late.
      const lookAt = Date.now() + pollMs
      const unanswered = () => [...created].some((r) => states.get(r)?.state === 'provisioning')
      while (this.opts.prober && unanswered() && Date.now() + DIAL_MS < lookAt && !this.closed) {
        await sleep(DIAL_MS)
        states = await this.confirmStarting(desired, observed, states, { created, only: true })
      }
      if (created.size > 0 && !unanswered() && touched.size === created.size) continue
      await sleep(Math.max(0, lookAt - Date.now()))
      observed = await readObserved(this.driver)
      states = await this.confirmStarting(desired, observed, summarise(desired, observed, { now: clock(), plan, crashLoop: this.opts.crashLoop }), { created })
    }
  }

  /** Remember which pubs this pass reports down while a new task of theirs is starting (see `confirmStarting`). */
  private noteReportedDown(observed: Observed, states: ReadonlyMap<MsgId, ObservedPubState>): void {
    const next = new Map<MsgId, number>()
    for (const svc of observed.services) {
      const task = svc.tasks[0]
      if (states.get(svc.request)?.state === 'down' && task && awaitingFirstProbe(task)) next.set(svc.request, task.at)
    }
    this.reportedDown.clear()
    for (const [request, at] of next) this.reportedDown.set(request, at)
  }

  /**
   * A pub whose task runs but whose Docker health check has not run yet (its first probe comes one interval after
   * start) is dialled: answering whoami over SSB with its own id proves more than the probe does, so it is "up" now.
   * Dialled once per task: an answered task stays up until Docker's own check says otherwise.
   */
  private async confirmStarting(
    desired: readonly DesiredPub[],
    observed: Observed,
    states: Map<MsgId, ObservedPubState>,
    opts: { created?: ReadonlySet<MsgId>; only?: boolean } = {},
  ): Promise<Map<MsgId, ObservedPubState>> {
    const prober = this.opts.prober
    if (!prober) return states
    const created = opts.created ?? new Set<MsgId>()
    const services = new Map(observed.services.map((s) => [s.request, s]))
    const hubs = new Map(observed.hubs.map((h) => [h.id, h]))
    const live = new Set<MsgId>()
    const dials: Array<Promise<void>> = []
    for (const pub of desired) {
      if (opts.only && !created.has(pub.request)) continue
      const state = states.get(pub.request)
      const svc = services.get(pub.request)
      const task = svc?.tasks[0]
      // A pub created this pass has no other task: dialling it while Swarm still prepares its task costs a refused
      // connection, and it answers as soon as it listens.
      const early = created.has(pub.request) && task?.state === 'pending'
      if (!svc || !task || !(awaitingFirstProbe(task) || early)) continue
      // A pub that failed is dialled only once a pass has reported it down: the owner hears why before it is up again.
      const heard = this.reportedDown.get(pub.request) === task.at || this.answered.get(pub.request) === task.at
      // A port-taken exit counts too: one alone may be the pub's own old task still closing (an upgrade), and a new
      // task that answers on that port proves it is free again.
      const restarted = state?.state === 'down' && (state.reason === 'exited' || state.reason === 'oom' || state.reason === 'port-taken') && heard
      if (state?.state !== 'provisioning' && !restarted) continue
      const hub = svc.hub === undefined ? undefined : hubs.get(svc.hub)
      if (!hub || svc.port === undefined) continue
      const address = multiserverAddress(hub.address, svc.port, pub.pubId)
      const up: ObservedPubState = { state: 'up', hub: hub.id, port: svc.port, address }
      live.add(pub.request)
      if (this.answered.get(pub.request) === task.at) {
        states.set(pub.request, up)
        continue
      }
      const dialOpts = { timeoutMs: PROBE_TIMEOUT_MS, ...(this.opts.caps ? { caps: this.opts.caps } : {}) }
      const greeter = created.has(pub.request) ? this.opts.greeter : undefined
      const dial = greeter
        ? greeter(this.host.providerKeys, address, { ...dialOpts, uses: 1 }).then(({ id, invite }) => {
            if (id === pub.pubId && invite) this.firstInvites.set(pub.request, invite)
            return id
          })
        : prober(this.host.providerKeys, address, dialOpts)
      dials.push(
        // Bounded here too: the client's own timeout does not cover closing its connection, and a pass must never wait
        // on one pub's socket.
        withTimeout(dial, PROBE_TIMEOUT_MS + 1000).then(
          (id) => {
            if (id !== pub.pubId) return
            this.answered.set(pub.request, task.at)
            states.set(pub.request, up)
            this.host.log(`pub ${pub.request} answers over SSB before Docker's first health probe: up`, { request: pub.request })
          },
          () => undefined,
        ),
      )
    }
    await Promise.all(dials)
    if (!opts.only) for (const request of this.answered.keys()) if (!live.has(request)) this.answered.delete(request)
    return states
  }

  private remember(desired: readonly DesiredPub[], observed: Observed): void {
    this.desired = new Map(desired.map((d) => [d.request, d]))
    this.hubs = new Map(observed.hubs.map((h) => [h.id, h]))
    this.services = new Map(observed.services.map((s) => [s.request, s]))
  }

  /** Log the notes that are new since the last pass; keep the current set for the report. */
  private finishNotes(): void {
    for (const [key, line] of this.notesNow) if (this.notesBefore.get(key) !== line) this.host.log(line)
    this.notesBefore = this.notesNow
  }

  private updateReport(desired: readonly DesiredPub[], observed: Observed, at: number): void {
    this.report = capacityReport(desired, observed, this.opts.capacity)
    this.reportNotes = [...this.notesNow.values()].sort()
    this.writeSnapshot(at)
  }

  /** The backoff table as the operator reads it, soonest retry first. */
  private backoffReport(): BackoffReport {
    const pubs = this.pubBackoff.list().map(([request, state]) => ({ request, ...state }))
    pubs.sort((a, b) => a.nextRetryAt - b.nextRetryAt || (a.request < b.request ? -1 : 1))
    const engine = this.engineBackoff.get('engine')
    return { ...(engine ? { engine } : {}), pubs }
  }

  /** The last capacity report with the backoff table as of `at`; also written when the engine fails. */
  private writeSnapshot(at: number): void {
    this.snapshot = { at, runtime: this.name, ...(this.report ? { report: this.report } : {}), notes: this.reportNotes, backoff: this.backoffReport() }
    // Written every pass (a few KB), so the report's age tells the operator when the provider last looked.
    if (!this.opts.reportFile) return
    try {
      // Written whole and renamed, so the CLI never reads half a report.
      const tmp = `${this.opts.reportFile}.tmp`
      writeFileSync(tmp, `${JSON.stringify(this.snapshot, null, 2)}\n`)
      renameSync(tmp, this.opts.reportFile)
    } catch (err) {
      this.host.log(`could not write the capacity report ${this.opts.reportFile}: ${err instanceof Error ? err.message : err}`, {}, 'warn')
    }
  }

  /** Where a pub can be reached, when its placement and hub are known. */
  private addressOf(pub: DesiredPub): MultiserverAddress | undefined {
    const hubId = pub.placement?.hub ?? this.services.get(pub.request)?.hub
    const port = pub.placement?.port ?? this.services.get(pub.request)?.port
    const hub = hubId === undefined ? undefined : this.hubs.get(hubId)
    return hub && port !== undefined ? multiserverAddress(hub.address, port, pub.pubId) : undefined
  }

  /** The pub's web view URL (its hub's address and the web port that goes with its placement), when its plan has one. */
  private webUrlOf(pub: DesiredPub): string | undefined {
    if (!pub.webView) return undefined
    const hubId = pub.placement?.hub ?? this.services.get(pub.request)?.hub
    const port = pub.placement?.port ?? this.services.get(pub.request)?.port
    const hub = hubId === undefined ? undefined : this.hubs.get(hubId)
    if (!hub || port === undefined) return undefined
    const host = hub.address.includes(':') ? `[${hub.address}]` : hub.address
    return `http://${host}:${webPortFor(port, this.opts.capacity.ports)}/`
  }

  private observations(desired: readonly DesiredPub[], states: Map<MsgId, ObservedPubState>): Observations {
    const out = new Map<string, Observation>()
    for (const pub of desired) {
      const state = states.get(pub.request)
      if (!state) continue
      const fields = toStatusFields(state)
      const obs: Observation = { state: fields.state }
      if (fields.reason !== undefined) obs.reason = fields.reason
      // The pub's id and address are known from its placement (the key is derived), so owners see them early.
      const address = state.state === 'up' ? (state.address ?? this.addressOf(pub)) : this.addressOf(pub)
      if (address && state.state !== 'destroyed' && state.state !== 'queued') {
        obs.pub = { id: pub.pubId, address }
        const web = this.webUrlOf(pub)
        if (web) obs.pub.web = web
      }
      // The disk allowance speaks only while all else is well: an up pub with nothing else to say.
      const disk = state.state === 'up' && obs.reason === undefined ? this.disk?.get(pub.request) : undefined
      const reason = disk ? diskReason(disk) : undefined
      if (reason) obs.reason = reason
      out.set(pub.request, obs)
    }
    return out
  }

  /** The pub's address as of the last pass; throws when it has none yet. */
  private requireAddress(record: PubRecord): MultiserverAddress {
    const pub = this.desired.get(record.request)
    const address = pub ? this.addressOf(pub) : undefined
    if (!address) throw new Error(`pub ${record.request} has no place to run yet`)
    return address
  }

  async invite(record: PubRecord, uses: number): Promise<InviteCode> {
    // The invite the greeter made with the pub's first answer: unseen by anyone, handed out once.
    const first = uses === 1 ? this.firstInvites.get(record.request) : undefined
    if (first) {
      this.firstInvites.delete(record.request)
      return first
    }
    const address = this.requireAddress(record)
    return this.opts.inviter(this.host.providerKeys, address, {
      uses,
      ...(this.opts.caps ? { caps: this.opts.caps } : {}),
      timeoutMs: this.opts.inviteTimeoutMs ?? 10_000,
    })
  }

  /** One round of samples of every pub from every node, at most one round at a time. */
  private sample(): Promise<void> {
    this.sampling ??= this.driver
      .sampleStats()
      .then(
        (samples) => {
          this.book.add(samples)
          this.samplerError = undefined
        },
        (err: unknown) => {
          const reason = err instanceof Error ? err.message : String(err)
          if (reason !== this.samplerError) this.host.log(`stats sampling failed: ${reason}`, {}, 'warn')
          this.samplerError = reason
          throw err
        },
      )
      .finally(() => (this.sampling = undefined))
    return this.sampling
  }

  async stats(record: PubRecord): Promise<StatsSummary> {
    // "Reply now": a fresh reading of this pub alone (a live stream asks often) unless its last is seconds old.
    if (Date.now() - (this.book.lastAt(record.request) ?? 0) > FRESH_MS) {
      this.book.add(await this.driver.sampleStats(new Set([record.request])))
    }
    const pub = this.desired.get(record.request)
    const running = this.services.get(record.request)?.tasks.find((t) => t.state === 'running')
    const summary = this.book.summary(record.request, Date.now(), {
      limitBytes: (pub?.memoryMiB ?? 0) * MiB,
      ...(running ? { uptimeSeconds: Math.max(0, Math.floor((Date.now() - running.at) / 1000)) } : {}),
    })
    // The pub's own disk measurement, asked now (it is one call); the last reading when it does not answer.
    const address = pub ? this.addressOf(pub) : undefined
    const disk = this.disk && address ? await this.disk.readOne(record.request, address) : undefined
    if (disk) summary.disk = { usedBytes: disk.usedBytes, allowedBytes: disk.allowedBytes }
    // Samples are timed by the driver's clock; the window is told on the host's, which decides when the next is due.
    summary.window = { from: Math.max(0, summary.window.from + this.skew), to: Math.max(0, summary.window.to + this.skew) }
    return summary
  }

  async backup(record: PubRecord, command: MsgId): Promise<NonNullable<ReplyResult['backup']>> {
    const shelf = this.shelf
    if (!shelf) throw new RuntimeRefusal('this provider does not offer backups (no backup folder and URL configured)')
    const job = this.backupJobs.get(record.request)
    if (job) {
      if (job.command !== command) {
        throw new RuntimeRefusal('a backup of this pub is being made right now; ask again once its reply has come')
      }
      if (!job.outcome) throw new RuntimePending('this backup')
      this.backupJobs.delete(record.request)
      if ('error' in job.outcome) throw job.outcome.error
      return job.outcome.value
    }
    const recorded = this.desired.get(record.request)?.placement?.hub
    const pinned = this.services.get(record.request)?.hub
    // A move under way (its record names another hub than its service): the data is on the old hub until the copy
    // is done and may be copied, then purged, while an archive of it is made. A clear "later" beats a race.
    if (recorded !== undefined && pinned !== undefined && recorded !== pinned) throw new RuntimeRefusal(MOVING_REFUSAL)
    const hub = recorded ?? pinned
    if (hub === undefined) throw new Error(`pub ${record.request} has no data yet`)
    // Archiving takes a while (seconds per 100 MB): it runs beside the passes, and a pass answers once it is done.
    const started: BackupJob = { command }
    this.backupJobs.set(record.request, started)
    void shelf
      .write(record.request, (sink) => this.driver.backup(record.request, hub, sink))
      .then(
        (value) => (started.outcome = { value }),
        (error: unknown) => (started.outcome = { error }),
      )
      .finally(() => this.host.requestPass?.())
    throw new RuntimePending('this backup')
  }

  capacity(): CapacitySnapshot | undefined {
    return this.snapshot
  }

  lastActions(): readonly Action[] {
    return this.actions
  }

  /**
   * A placed pub that should run but is not up yet (starting, or restarted by its driver after a crash or on adoption)
   * is looked at again soon, not only at the next scheduled pass: nothing else would tell the owner it came up. How
   * soon grows while nothing settles (1 s doubling to 16 s), so a pub that stays down costs little; all up resets it.
   */
  private recheckWhileMoving(desired: readonly DesiredPub[], states: ReadonlyMap<MsgId, ObservedPubState>): void {
    const moving = desired.some((d) => d.intent === 'running' && d.placement !== undefined && states.get(d.request)?.state !== 'up')
    if (!moving) {
      this.recheckDelayMs = RECHECK_FIRST_MS
      return
    }
    if (this.recheck || !this.host.requestPass || this.closed) return
    this.recheck = setTimeout(() => {
      this.recheck = undefined
      if (!this.closed) this.host.requestPass?.()
    }, this.recheckDelayMs)
    this.recheck.unref()
    this.recheckDelayMs = Math.min(this.recheckDelayMs * 2, RECHECK_MAX_MS)
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.recheck)
    if (this.sampler) clearInterval(this.sampler)
    if (this.diskTimer) clearInterval(this.diskTimer)
    this.shelf?.close()
    await this.sampling?.catch(() => undefined)
    await this.driver.close()
  }
}

/**
 * A task that may already serve but has not passed a health probe: Swarm keeps a task with a health check in its
 * `starting` state until the first probe passes (its container runs meanwhile); the local driver reports such a
 * task as running with health `starting`.
 */
function awaitingFirstProbe(task: ObservedTask): boolean {
  return task.state === 'starting' || (task.state === 'running' && task.health === 'starting')
}

/** Rejects when `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

/** How long the provider waits for a starting pub to answer whoami: it listens on a local or nearby hub. */
const PROBE_TIMEOUT_MS = 2000
/** How often a pub created by the pass under way is dialled between looks while it has not answered. */
const DIAL_MS = 25

/** The first and the longest wait before looking again at a pub that is still coming up. */
const RECHECK_FIRST_MS = 1000
const RECHECK_MAX_MS = 16_000

/** What the owner asked of a pub: a new goal (a command since the failure) is attempted at once, not held back. */
function goalOf(d: DesiredPub): string {
  return `${d.intent}/${d.restartGeneration}/${d.imageVersion}/${d.memoryMiB}`
}

/** The answer to a backup asked for while the pub moves to another hub (docs/orchestrator.md, "Drain and move"). */
export const MOVING_REFUSAL = 'this pub is moving to another hub with its data right now; ask again in a minute'

/** A backup being made for one command, and how it ended. */
interface BackupJob {
  command: MsgId
  outcome?: { value: NonNullable<ReplyResult['backup']> } | { error: unknown }
}

/** A pub this pass created or changed into running: when, and whether it was up before. */
interface Touched {
  since: number
  wasUp: boolean
}

/** Record which pubs a round created or changed into running: the pass waits for those to come up. */
function noteTouched(result: ExecutionResult, before: Map<MsgId, ObservedPubState>, since: number, touched: Map<MsgId, Touched>): void {
  for (const a of result.done) {
    if ((a.kind !== 'create-service' && a.kind !== 'update-service') || a.spec.replicas !== 1) continue
    if (!touched.has(a.spec.request)) touched.set(a.spec.request, { since, wasUp: before.get(a.spec.request)?.state === 'up' })
  }
}
