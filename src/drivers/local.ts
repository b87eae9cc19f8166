/**
 * The local driver: the embedded default when no Docker engine is configured. The same planner runs pubs as
 * supervised child processes of `node dist/pub/main.js` on this machine, so `npm start` shows the whole flow
 * anywhere. A convenience for one machine, not a second orchestrator: one hub (`local`), no isolation beyond the
 * heap cap.
 *
 * Pubs outlive the provider, as Swarm services do: each runs in a session of its own (a provider that exits, crashes
 * or runs out of disk takes none with it), and a provider that starts again adopts the ones it finds by their pid
 * files (checked against /proc, so a reused pid is never taken for a pub), watching them until they exit.
 *
 * It mirrors Swarm's objects on disk so the planner's rules carry over unchanged: under `dir`, one folder per pub,
 * named like its service, holding `volume.json` (the "volume": our labels, and `data/`, the pub's data folder),
 * `service.json` (the "service": the spec) and `key` (the pub's key, 0600; outside `data/` so backups never hold it);
 * while it runs, `pid`, `run.json` (the spec it was started from) and its output in `pub.log` and `pub.err`.
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { MsgId } from '../protocol/ids.js'
import {
  labelsFor,
  objectName,
  ownership,
  TASKS_KEPT,
  type Hub,
  type ObservedTask,
  type ServiceListing,
  type ServiceSpec,
  type TaskListing,
  type VolumeListing,
} from '../planner/index.js'
import type { Log } from '../log/logger.js'
import { BACKUP_EXCLUDED, type PubDriver, type PubIdentity, type StatsSample } from '../control/driver.js'
import { keysFileText } from '../ssb/keys.js'

const MiB = 1024 * 1024
/** The one hub of the local runtime. */
export const LOCAL_HUB = 'local'
const NAME_RE = /^pub-[0-9a-f]{40}$/
/** A run that stayed up this long resets the restart backoff. */
const STABLE_MS = 60_000
/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on every Linux we run on). */
const CLK_TCK = 100

const here = dirname(fileURLToPath(import.meta.url))
const ROOT = here.includes(join('dist', 'src')) ? resolve(here, '../../..') : resolve(here, '../..')

export interface LocalDriverOptions {
  /** Where pub folders live (the provider's data folder + `/pubs`). */
  dir: string
  /** The host peers dial; goes into pubs' addresses and invites. */
  address: string
  /** Where pubs listen (default: `address`). */
  listenHost?: string
  /** Memory the planner may hand out on this machine (default: all of it; headroom is the capacity's). */
  memoryMiB?: number
  /** The built pub program (default: dist/pub/main.js of this checkout). */
  pubMain?: string
  caps?: string
  /** Extra PUB_* environment for every pub. */
  env?: Record<string, string>
  /** Restart delay after a crash: doubles per consecutive crash, up to the cap. */
  restartBackoff?: { firstMs: number; maxMs: number }
  /** SIGTERM to SIGKILL when stopping a pub. */
  stopGraceMs?: number
  /** How often running pubs are looked at (readiness, and whether adopted ones still run). */
  watchMs?: number
  log?: Log
}

interface ServiceRecord extends ServiceSpec {
  id: string
  labels: Record<string, string>
  provider: string
  createdAt: number
}

/** One run of a pub's process: ours from spawn, or adopted from a provider before this one. */
interface Run {
  pid: number
  /** Resolves when the process has gone: with its exit status when it is our child, undefined when adopted. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>
  /** Adopted runs only: called by the watch once the process is gone. */
  gone?: () => void
  task: ObservedTask
}

interface Supervised {
  run?: Run
  /** The spec the running process was started from: a different one means restart. */
  startedWith?: string
  startedAt: number
  tasks: ObservedTask[]
  crashes: number
  restartTimer?: NodeJS.Timeout
  stopping?: Promise<void>
}

/** Create the local driver. */
export function createLocalDriver(opts: LocalDriverOptions): PubDriver {
  return new LocalDriver(opts)
}

class LocalDriver implements PubDriver {
  readonly name = 'local'
  private readonly services = new Map<string, ServiceRecord>()
  private readonly running = new Map<string, Supervised>()
  private readonly pubMain: string
  private readonly watcher: NodeJS.Timeout
  private closed = false

  constructor(private readonly opts: LocalDriverOptions) {
    this.pubMain = opts.pubMain ?? join(ROOT, 'dist', 'pub', 'main.js')
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 })
    // Services survive a provider restart on disk, and so do their processes: adopt those, end strays.
    for (const name of readdirSync(opts.dir)) {
      if (!NAME_RE.test(name)) continue
      const file = join(opts.dir, name, 'service.json')
      if (existsSync(file)) {
        try {
          const record = JSON.parse(readFileSync(file, 'utf8')) as ServiceRecord
          if (ownership(record.labels).ours) this.services.set(name, record)
        } catch {
          // An unreadable spec is not ours to run: it shows as nothing, and the planner recreates the service.
        }
      }
      const pid = this.livePubPid(name)
      if (pid === undefined) continue
      const record = this.services.get(name)
      if (record && record.replicas > 0) this.adopt(name, pid)
      else this.endStray(name, pid)
    }
    for (const name of this.services.keys()) this.sync(name)
    this.watcher = setInterval(() => this.watch(), opts.watchMs ?? 250)
    this.watcher.unref()
  }

  private folder(name: string): string {
    return join(this.opts.dir, name)
  }

  /* ---------- observing ---------- */

  async listHubs(): Promise<Hub[]> {
    return [
      {
        id: LOCAL_HUB,
        name: hostname(),
        address: this.opts.address,
        memoryMiB: this.opts.memoryMiB ?? Math.floor(totalmem() / MiB),
        foreignReservedMiB: 0,
        availability: 'active',
        ready: true,
      },
    ]
  }

  async listServices(): Promise<ServiceListing[]> {
    return [...this.services.values()].map((s) => ({
      id: s.id,
      name: s.id,
      labels: s.labels,
      hub: s.hub,
      port: s.port,
      imageVersion: s.imageVersion,
      memoryMiB: s.memoryMiB,
      ...(s.diskMiB !== undefined ? { diskMiB: s.diskMiB } : {}),
      ...(s.webPort !== undefined ? { webPort: s.webPort } : {}),
      replicas: s.replicas,
      forceUpdate: s.forceUpdate,
    }))
  }

  async listTasks(): Promise<TaskListing[]> {
    const out: TaskListing[] = []
    for (const [name, sup] of this.running) for (const t of sup.tasks) out.push({ ...t, serviceId: name })
    return out
  }

  async listVolumes(): Promise<VolumeListing[]> {
    const out: VolumeListing[] = []
    for (const name of readdirSync(this.opts.dir)) {
      if (!NAME_RE.test(name)) continue
      let meta: { labels?: Record<string, string>; createdAt?: number } = {}
      try {
        meta = JSON.parse(readFileSync(join(this.folder(name), 'volume.json'), 'utf8'))
      } catch {
        // No marker: listed without labels, so the planner calls it foreign and leaves it alone.
      }
      out.push({ name, hub: LOCAL_HUB, labels: meta.labels ?? {}, createdAt: meta.createdAt ?? 0 })
    }
    return out
  }

  /* ---------- changing ---------- */

  async createVolume(request: MsgId, hub: string): Promise<void> {
    this.assertHub(hub)
    const name = objectName(request)
    const marker = join(this.folder(name), 'volume.json')
    if (existsSync(marker)) {
      const owner = ownership(JSON.parse(readFileSync(marker, 'utf8')).labels)
      if (!owner.ours || owner.request !== request) throw new Error(`folder ${name} exists and is not this pub's: left alone`)
      return
    }
    mkdirSync(join(this.folder(name), 'data'), { recursive: true, mode: 0o700 })
    writeJson(marker, { labels: labelsFor(request), createdAt: Date.now() })
  }

  async createService(spec: ServiceSpec, pub: PubIdentity): Promise<void> {
    this.assertHub(spec.hub)
    const name = objectName(spec.request)
    if (this.services.has(name)) throw new Error(`a service named ${name} already exists; the next pass will read it`)
    await this.createVolume(spec.request, spec.hub)
    writeFileSync(join(this.folder(name), 'key'), keysFileText(pub.keys), { mode: 0o600 })
    this.save({ ...spec, id: name, labels: labelsFor(spec.request), provider: pub.provider, createdAt: Date.now() })
    this.sync(name)
  }

  async updateService(serviceId: string, spec: ServiceSpec, pub: PubIdentity): Promise<void> {
    const current = this.ownService(serviceId, spec.request)
    this.save({ ...spec, id: current.id, labels: current.labels, provider: pub.provider, createdAt: current.createdAt })
    this.sync(current.id)
  }

  async removeService(request: MsgId, serviceId: string): Promise<void> {
    const current = this.ownService(serviceId, request)
    this.services.delete(current.id)
    await this.stopChild(current.id)
    const sup = this.running.get(current.id)
    if (sup?.restartTimer) clearTimeout(sup.restartTimer)
    this.running.delete(current.id)
    rmSync(join(this.folder(current.id), 'service.json'), { force: true })
    rmSync(join(this.folder(current.id), 'key'), { force: true })
    rmSync(join(this.folder(current.id), 'pid'), { force: true })
  }

  async purgeVolume(request: MsgId, hub: string, volumeName: string): Promise<void> {
    this.assertHub(hub)
    const folder = this.folder(volumeName)
    const marker = join(folder, 'volume.json')
    if (!existsSync(marker)) return
    const owner = ownership(JSON.parse(readFileSync(marker, 'utf8')).labels)
    if (!owner.ours || owner.request !== request) throw new Error(`folder ${volumeName} is not ${request}'s: left alone`)
    if (this.services.has(volumeName)) throw new Error(`folder ${volumeName} is still used by its service`)
    rmSync(folder, { recursive: true, force: true })
  }

  private assertHub(hub: string): void {
    if (hub !== LOCAL_HUB) throw new Error(`the local runtime has only hub ${LOCAL_HUB}, not ${hub}`)
  }

  private ownService(serviceId: string, request: MsgId): ServiceRecord {
    const current = this.services.get(serviceId)
    const owner = ownership(current?.labels)
    if (!current || !owner.ours || owner.request !== request) throw new Error(`service ${serviceId} is not ${request}'s`)
    return current
  }

  private save(record: ServiceRecord): void {
    writeJson(join(this.folder(record.id), 'service.json'), record)
    this.services.set(record.id, record)
  }

  /* ---------- supervision ---------- */

  /** Bring the process of service `name` in line with its spec: start, stop, or restart on a changed spec. */
  private sync(name: string): void {
    if (this.closed) return
    const record = this.services.get(name)
    let sup = this.running.get(name)
    if (!sup) this.running.set(name, (sup = { startedAt: 0, tasks: [], crashes: 0 }))
    const want = record && record.replicas > 0 ? specKey(record) : undefined
    if (sup.run && sup.startedWith !== want) {
      // A changed spec (restart, upgrade, stop): end this run, then sync again for the next one.
      void this.stopChild(name).then(() => this.sync(name))
      return
    }
    if (!sup.run && !sup.stopping && want !== undefined) {
      if (sup.restartTimer) {
        // A spec change during a crash backoff starts at once: the owner asked for something new.
        if (sup.startedWith === want) return
        clearTimeout(sup.restartTimer)
        sup.restartTimer = undefined
      }
      this.spawnPub(name, record!, sup)
    }
  }

  private spawnPub(name: string, record: ServiceRecord, sup: Supervised): void {
    const folder = this.folder(name)
    // The same heap sizing as the image's entrypoint: V8 would size its heap from the machine, not the plan.
    const oldSpace = Math.max(24, Math.floor((record.memoryMiB * 45) / 100))
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PUB_HOST: this.opts.listenHost ?? this.opts.address,
      PUB_PORT: String(record.port),
      PUB_EXTERNAL_HOST: this.opts.address,
      PUB_OWNER: record.owner,
      PUB_PROVIDER: record.provider,
      PUB_NAME: record.name ?? 'ButtCloud pub',
      PUB_DATA: join(folder, 'data'),
      PUB_KEY_FILE: join(folder, 'key'),
      ...(record.diskMiB !== undefined ? { PUB_DISK_MIB: String(record.diskMiB) } : {}),
      ...(record.webPort !== undefined ? { PUB_WEB_PORT: String(record.webPort) } : {}),
      ...(this.opts.caps ? { PUB_CAPS: this.opts.caps } : {}),
      ...this.opts.env,
      ...(record.hops !== undefined ? { PUB_HOPS: String(record.hops) } : {}),
    }
    // Output to files, not pipes, and a session of its own: the pub runs on when the provider exits.
    const out = openSync(join(folder, 'pub.log'), 'w', 0o600)
    const err = openSync(join(folder, 'pub.err'), 'w', 0o600)
    const child = spawn(process.execPath, ['--max-semi-space-size=1', `--max-old-space-size=${oldSpace}`, this.pubMain], {
      env,
      stdio: ['ignore', out, err],
      detached: true,
    })
    closeSync(out)
    closeSync(err)
    child.unref()
    const task: ObservedTask = { state: 'running', health: 'starting', at: Date.now(), port: record.port }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>((resolvePromise) => {
      child.once('exit', (code, signal) => resolvePromise({ code, signal }))
      child.once('error', () => resolvePromise({ code: 127, signal: null }))
    })
    sup.startedWith = specKey(record)
    sup.startedAt = task.at
    pushTask(sup, task)
    // No pid means spawning failed: `error` ends the run at once, and it is retried after a backoff.
    const run: Run = { pid: child.pid ?? 0, exited, task }
    sup.run = run
    if (child.pid !== undefined) {
      writeFileSync(join(folder, 'pid'), String(child.pid))
      writeJson(join(folder, 'run.json'), { pid: child.pid, startedWith: sup.startedWith, startedAt: sup.startedAt })
    }
    void exited.then((status) => this.ended(name, sup, run, status))
  }

  /** Take over a pub process a provider before this one started: watched until it exits, like our own. */
  private adopt(name: string, pid: number): void {
    const folder = this.folder(name)
    let started: { pid?: number; startedWith?: string; startedAt?: number } = {}
    try {
      started = JSON.parse(readFileSync(join(folder, 'run.json'), 'utf8'))
    } catch {
      // Started by a version that kept no run record: its spec is unknown, so sync restarts it on the current one.
    }
    const known = started.pid === pid
    const at = known && typeof started.startedAt === 'number' ? started.startedAt : Date.now()
    const task: ObservedTask = { state: 'running', health: isReady(folder) ? 'healthy' : 'starting', at }
    let gone: () => void = () => undefined
    const exited = new Promise<undefined>((resolvePromise) => (gone = () => resolvePromise(undefined)))
    const run: Run = { pid, exited, gone, task }
    const sup: Supervised = { run, startedAt: at, tasks: [task], crashes: 0 }
    if (known && typeof started.startedWith === 'string') sup.startedWith = started.startedWith
    this.running.set(name, sup)
    void exited.then(() => this.ended(name, sup, run, undefined))
    this.opts.log?.(`pub ${name} is still running (pid ${pid}): adopted`, { pub: name })
  }

  /** Look at running pubs: mark them ready once they say so, and notice adopted ones that have exited. */
  private watch(): void {
    for (const [name, sup] of this.running) {
      const run = sup.run
      if (!run) continue
      if (run.task.health === 'starting' && isReady(this.folder(name))) run.task.health = 'healthy'
      if (run.gone && !isAlive(run.pid)) run.gone()
    }
  }

  /** A run ended: record how, and restart it after a backoff unless it was asked to end. */
  private ended(name: string, sup: Supervised, run: Run, status: { code: number | null; signal: NodeJS.Signals | null } | undefined): void {
    const folder = this.folder(name)
    const planned = sup.run !== run || sup.stopping !== undefined
    if (sup.run === run) {
      sup.run = undefined
      rmSync(join(folder, 'pid'), { force: true })
      rmSync(join(folder, 'run.json'), { force: true })
    }
    const task = run.task
    task.health = undefined
    task.at = Date.now()
    if (planned) {
      task.state = 'shutdown'
    } else {
      // An adopted process is not our child: its exit status is not ours to read.
      const exitCode = status ? (status.code ?? 128 + (status.signal === 'SIGKILL' ? 9 : status.signal === 'SIGABRT' ? 6 : 15)) : undefined
      const stderr = tail(join(folder, 'pub.err'), 4096)
      task.state = exitCode === 0 ? 'complete' : 'failed'
      if (exitCode !== undefined) task.exitCode = exitCode
      // No cgroup here: running out of memory means V8 hitting the heap cap, which it says on stderr.
      task.oomKilled = /heap out of memory|Allocation failed/i.test(stderr)
      const last = stderr.trim().split('\n').pop()
      if (last) task.error = last.slice(0, 300)
    }
    if (planned || this.closed) return
    sup.crashes = Date.now() - sup.startedAt > STABLE_MS ? 1 : sup.crashes + 1
    const backoff = this.opts.restartBackoff ?? { firstMs: 1000, maxMs: 60_000 }
    const delay = Math.min(backoff.maxMs, backoff.firstMs * 2 ** (sup.crashes - 1))
    this.opts.log?.(`pub ${name} exited (${task.exitCode ?? 'status unknown'}); restarting in ${delay} ms`, { pub: name }, 'warn')
    sup.restartTimer = setTimeout(() => {
      sup.restartTimer = undefined
      this.sync(name)
    }, delay)
    sup.restartTimer.unref()
  }

  /** End a service's process (SIGTERM, then SIGKILL after the grace period); resolves once it has exited. */
  private stopChild(name: string): Promise<void> {
    const sup = this.running.get(name)
    const run = sup?.run
    if (!sup || !run) return sup?.stopping ?? Promise.resolve()
    sup.stopping ??= (async () => {
      const killer = setTimeout(() => signal(run.pid, 'SIGKILL'), this.opts.stopGraceMs ?? 5000)
      signal(run.pid, 'SIGTERM')
      await run.exited
      clearTimeout(killer)
      sup.stopping = undefined
    })()
    return sup.stopping
  }

  /** The pid in a pub's pid file when that process is alive and is this pub's (the pub program, its data folder). */
  private livePubPid(name: string): number | undefined {
    const pidFile = join(this.folder(name), 'pid')
    let pid: number
    try {
      pid = Number(readFileSync(pidFile, 'utf8'))
    } catch {
      return undefined
    }
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
      if (isAlive(pid) && cmdline.includes(this.pubMain) && environ.includes(`PUB_DATA=${join(this.folder(name), 'data')}`)) return pid
    } catch {
      // Gone already.
    }
    rmSync(pidFile, { force: true })
    return undefined
  }

  /** A pub process whose service is gone or stopped (the provider died mid-change): end it, so its port is free. */
  private endStray(name: string, pid: number): void {
    signal(pid, 'SIGKILL')
    // The port is free once the process is gone; a short wait, since this runs once at start-up.
    const until = Date.now() + 2000
    while (isAlive(pid) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
    rmSync(join(this.folder(name), 'pid'), { force: true })
    rmSync(join(this.folder(name), 'run.json'), { force: true })
  }

  /* ---------- stats and backups ---------- */

  async sampleStats(only?: ReadonlySet<MsgId>): Promise<StatsSample[]> {
    const out: StatsSample[] = []
    for (const [name, sup] of this.running) {
      const record = this.services.get(name)
      const pid = sup.run?.pid
      if (!record || pid === undefined || (only && !only.has(record.request))) continue
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const ticks = Number(fields[11]) + Number(fields[12])
        const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
        out.push({
          request: record.request,
          at: Date.now(),
          instance: `${pid}@${sup.startedAt}`,
          startedAt: sup.startedAt,
          cpuNanos: (ticks / CLK_TCK) * 1e9,
          memoryBytes: rss,
          memoryLimitBytes: record.memoryMiB * MiB,
        })
      } catch {
        // Exited between listing and reading.
      }
    }
    return out
  }

  async backup(request: MsgId, hub: string, sink: (archive: Readable) => Promise<void>): Promise<void> {
    this.assertHub(hub)
    const data = join(this.folder(objectName(request)), 'data')
    if (!existsSync(data)) throw new Error(`pub ${request} has no data folder`)
    // The unix socket is no data (and tar cannot archive it); the keyring holds secrets derived from the pub's key.
    const tar = spawn('tar', ['-cz', ...BACKUP_EXCLUDED.map((name) => `--exclude=./${name}`), '-C', data, '.'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    tar.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-1000)))
    const exited = new Promise<number | null>((resolvePromise, reject) => {
      tar.once('error', reject)
      tar.once('close', (code) => resolvePromise(code))
    })
    try {
      await sink(tar.stdout)
    } catch (e) {
      // The sink gave up (no room left): the archive is abandoned, so is tar.
      tar.kill('SIGKILL')
      await exited.catch(() => undefined)
      throw e
    }
    const code = await exited
    if (code !== 0) throw new Error(`tar exited ${code}: ${err.trim().slice(0, 200)}`)
  }

  isUnreachable(): boolean {
    // Nothing to reach: the local runtime is this process.
    return false
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.watcher)
    for (const sup of this.running.values()) if (sup.restartTimer) clearTimeout(sup.restartTimer)
    // The pubs run on, as Swarm's do; the next provider adopts them.
  }
}

/** Has the pub said it serves (its `ready` line on stdout)? */
function isReady(folder: string): boolean {
  return /"event":"ready"/.test(tail(join(folder, 'pub.log'), 64 * 1024))
}

/** Is `pid` a live process (a zombie is not)? */
function isAlive(pid: number): boolean {
  if (!(pid > 0)) return false
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Send a signal to a process that may be gone already (never to a group: 0 and -1 mean more than one). */
function signal(pid: number, sig: NodeJS.Signals): void {
  if (!(pid > 0)) return
  try {
    process.kill(pid, sig)
  } catch {
    // Gone already.
  }
}

/** The last `bytes` of a file ('' when there is none). */
function tail(path: string, bytes: number): string {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return ''
  }
  try {
    const buf = Buffer.alloc(bytes)
    const n = readSync(fd, buf, 0, bytes, Math.max(0, fstatSync(fd).size - bytes))
    return buf.subarray(0, n).toString()
  } finally {
    closeSync(fd)
  }
}

/** The fields that, when changed, need a new process. */
function specKey(s: ServiceRecord): string {
  return JSON.stringify([s.port, s.imageVersion, s.memoryMiB, s.forceUpdate, s.name ?? '', s.owner, s.diskMiB ?? null, s.webPort ?? null])
}

function pushTask(sup: Supervised, task: ObservedTask): void {
  sup.tasks.unshift(task)
  if (sup.tasks.length > TASKS_KEPT) sup.tasks.length = TASKS_KEPT
}

/** Write JSON whole (temp file and rename), so a crash never leaves half a spec. */
function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp`
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
  renameSync(tmp, path)
}
