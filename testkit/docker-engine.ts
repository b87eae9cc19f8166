/**
 * A private Docker engine in Swarm mode for tests and benchmarks (docs/testing.md: Docker).
 *
 * dockerd runs with no iptables, no bridge and its own data/exec roots under a short /tmp folder; Swarm listens on
 * 127.0.0.1 only, and the ingress network and docker_gwbridge are removed, so services run on the host network.
 * Only one Swarm engine can run per machine (its gossip port 7946 is fixed): a machine-wide lock file serialises
 * engines across test runs, and within a run one engine is shared (see test/support/docker-global-setup.ts).
 */
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Docker from 'dockerode'
import { Fatal, waitFor } from './wait.js'

/** A running private engine. `stop` is a no-op for a shared engine that the global teardown owns. */
export interface DockerEngine {
  dir: string
  socketPath: string
  /** dockerd's PID. */
  pid: number
  docker: Docker
  stop(): Promise<void>
}

/** What the vitest global setup hands to test files (via `provide`). */
export interface SharedEngineContext {
  /** Folder the shared engine lives in (started lazily by the first test file that needs it). */
  dir: string
  /** The process whose teardown stops the engine: the machine lock is held in its name. */
  ownerPid: number
}

const MACHINE_LOCK = '/tmp/buttcloud-swarm.lock'
const DOCKERD_CANDIDATES = ['/usr/sbin/dockerd', '/usr/bin/dockerd', '/usr/local/bin/dockerd']
const API_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 15_000

/** Where dockerd is, or undefined. */
export function dockerdPath(): string | undefined {
  return DOCKERD_CANDIDATES.find((p) => existsSync(p))
}

/**
 * Whether docker tests can run here. With CI=true a missing engine is an error (CI must install docker.io);
 * elsewhere the reason is returned so a test can skip saying why.
 */
export function dockerSupport(): { ok: true } | { ok: false; reason: string } {
  let reason: string | undefined
  if (!dockerdPath()) reason = 'dockerd is not installed (apt-get install -y --no-install-recommends docker.io)'
  else if (process.getuid?.() !== 0) reason = 'a private dockerd needs root'
  if (reason === undefined) return { ok: true }
  if (process.env.CI === 'true') throw new Error(`Docker tests cannot run in CI: ${reason}`)
  return { ok: false, reason }
}

/** Start a private Swarm engine in `opts.dir` (default: a fresh short temp folder); resolves once Swarm is ready. */
export async function startDockerEngine(opts: { dir?: string; ownerPid?: number; lockWaitMs?: number } = {}): Promise<DockerEngine> {
  const dockerd = dockerdPath()
  if (!dockerd) throw new Error('dockerd is not installed (apt-get install -y --no-install-recommends docker.io)')
  // Socket paths are limited to 108 bytes, so keep the folder short: /tmp/bcd-XXXXXX.
  const dir = opts.dir ?? mkdtempSync('/tmp/bcd-')
  mkdirSync(dir, { recursive: true })
  const ownerPid = opts.ownerPid ?? process.pid
  try {
    await acquireMachineLock(ownerPid, dir, opts.lockWaitMs ?? 10 * 60_000)
  } catch (err) {
    if (!opts.dir) rmSync(dir, { recursive: true, force: true })
    throw err
  }

  const p = enginePaths(dir)
  writeFileSync(p.config, JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }))
  const log = openSync(p.log, 'a')
  const child = spawn(
    dockerd,
    [
      '--iptables=false',
      '--ip-forward=false',
      '--bridge=none',
      '--ip-masq=false',
      '--userland-proxy=false',
      `--data-root=${p.dataRoot}`,
      `--exec-root=${p.execRoot}`,
      `--pidfile=${p.pidfile}`,
      `--host=unix://${p.socket}`,
      `--config-file=${p.config}`,
      '--log-level=warn',
    ],
    {
      // Detached: a shared engine started by one test worker must outlive that worker.
      detached: true,
      stdio: ['ignore', log, log],
      // Without this, every task start tries a registry pull first (there is none) before using the local image.
      env: { ...process.env, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1' },
    },
  )
  closeSync(log)
  child.unref()
  const pid = child.pid
  if (pid === undefined) throw new Error('dockerd did not start')
  writeFileSync(p.state, JSON.stringify({ pid, socket: p.socket, ownerPid }))

  const docker = new Docker({ socketPath: p.socket })
  try {
    await waitFor('the Docker API', async () => {
      if (!isAlive(pid)) throw new Fatal(`dockerd exited:\n${tail(p.log)}`)
      await docker.ping()
      return true
    }, { timeoutMs: API_TIMEOUT_MS })
    await docker.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' })
    await removeRoutingMesh(docker)
  } catch (err) {
    await stopDockerEngine(dir)
    throw err
  }
  return { dir, socketPath: p.socket, pid, docker, stop: () => stopDockerEngine(dir) }
}

/**
 * The engine shared by a test run: with a global-setup context, the first caller starts it in the context's folder
 * and later callers (other files, other workers) connect to it; the global teardown stops it. Without one (the
 * global setup is not configured), the caller gets its own engine and must `stop()` it.
 */
export async function sharedDockerEngine(ctx: SharedEngineContext | undefined): Promise<DockerEngine> {
  if (!ctx) return startDockerEngine()
  const lock = join(ctx.dir, 'start.lock')
  await waitFor('the shared engine start lock', () => {
    try {
      // A failed start removes the folder; the next caller tries again in a fresh one.
      mkdirSync(ctx.dir, { recursive: true })
      mkdirSync(lock)
      return true
    } catch {
      return false
    }
  }, { timeoutMs: 5 * 60_000 })
  try {
    const running = await connectEngine(ctx.dir)
    if (running) return running
    const engine = await startDockerEngine({ dir: ctx.dir, ownerPid: ctx.ownerPid })
    return { ...engine, stop: async () => undefined }
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

/** Connect to an engine already started in `dir`, or undefined when none answers there. */
export async function connectEngine(dir: string): Promise<DockerEngine | undefined> {
  const p = enginePaths(dir)
  if (!existsSync(p.state)) return undefined
  const { pid, socket } = JSON.parse(readFileSync(p.state, 'utf8')) as { pid: number; socket: string }
  if (!isAlive(pid)) return undefined
  const docker = new Docker({ socketPath: socket })
  try {
    await docker.ping()
  } catch {
    return undefined
  }
  return { dir, socketPath: socket, pid, docker, stop: async () => undefined }
}

/** Stop the engine in `dir` and remove everything it left: services, dockerd, its containerd, mounts, the folder. */
export async function stopDockerEngine(dir: string): Promise<void> {
  const p = enginePaths(dir)
  let ownerPid: number | undefined
  if (existsSync(p.state)) {
    const state = JSON.parse(readFileSync(p.state, 'utf8')) as { pid: number; socket: string; ownerPid: number }
    ownerPid = state.ownerPid
    const docker = new Docker({ socketPath: state.socket })
    // Removing services first lets containers stop through their own grace period instead of being killed.
    try {
      const services = await docker.listServices()
      await Promise.all(services.map((s) => docker.getService(s.ID).remove().catch(() => undefined)))
      await waitFor('service containers to stop', async () => (await docker.listContainers()).length === 0, { timeoutMs: 10_000 }).catch(() => undefined)
    } catch {
      // The API may already be gone; the process steps below still apply.
    }
    const pid = readPid(p.pidfile) ?? state.pid
    if (belongsTo(pid, dir)) await endProcess(pid)
  }
  // dockerd's own containerd normally exits with it; after a KILL it and its shims stay behind.
  for (const pidfile of findPidfiles(p.execRoot)) {
    const pid = readPid(pidfile)
    if (pid !== undefined && belongsTo(pid, dir)) await endProcess(pid)
  }
  unmountUnder(dir)
  deleteLink('docker_gwbridge')
  rmSync(dir, { recursive: true, force: true })
  releaseMachineLock(ownerPid ?? process.pid)
}

function enginePaths(dir: string) {
  return {
    dataRoot: join(dir, 'root'),
    execRoot: join(dir, 'x'),
    pidfile: join(dir, 'd.pid'),
    socket: join(dir, 'd.sock'),
    config: join(dir, 'daemon.json'),
    log: join(dir, 'dockerd.log'),
    state: join(dir, 'engine.json'),
  }
}

/** Ingress needs IPVS, which this kernel lacks, and docker_gwbridge would put a private range on a host bridge. */
async function removeRoutingMesh(docker: Docker): Promise<void> {
  await docker
    .getNetwork('ingress')
    .remove()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw new Error('could not remove the ingress network', { cause: err })
    })
  // docker_gwbridge appears about 0.5 s after swarm init, and keeps an endpoint until ingress's sandbox is gone.
  let lastError: unknown
  const deadline = Date.now() + 8000
  let seen = false
  while (Date.now() < deadline) {
    const networks = await docker.listNetworks({ filters: { name: ['docker_gwbridge'] } })
    if (networks.length) {
      seen = true
      try {
        await docker.getNetwork('docker_gwbridge').remove()
        return
      } catch (err) {
        lastError = err
      }
    } else if (seen || Date.now() > deadline - 5000) {
      return
    }
    await sleep(100)
  }
  throw new Error('could not remove docker_gwbridge', { cause: lastError })
}

async function acquireMachineLock(ownerPid: number, dir: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const fd = openSync(MACHINE_LOCK, 'wx')
      writeFileSync(fd, JSON.stringify({ ownerPid, dir }))
      closeSync(fd)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = readMachineLock()
    if (holder?.ownerPid === ownerPid) return
    if (!holder || !isAlive(holder.ownerPid)) {
      // The run that held it died without its teardown (killed test runner): its engine may still run, holding
      // Swarm's fixed ports. Stop it by its own pidfiles, then take over.
      if (holder?.dir && existsSync(holder.dir)) await stopDockerEngine(holder.dir)
      rmSync(MACHINE_LOCK, { force: true })
      continue
    }
    if (Date.now() > deadline) throw new Error(`another Swarm engine (held by PID ${holder.ownerPid}) is still running after ${waitMs} ms`)
    await sleep(500)
  }
}

function readMachineLock(): { ownerPid: number; dir?: string } | undefined {
  try {
    const text = readFileSync(MACHINE_LOCK, 'utf8').trim()
    return text.startsWith('{') ? (JSON.parse(text) as { ownerPid: number; dir?: string }) : { ownerPid: Number(text) }
  } catch {
    return undefined
  }
}

function releaseMachineLock(ownerPid: number): void {
  if (readMachineLock()?.ownerPid === ownerPid) rmSync(MACHINE_LOCK, { force: true })
}

/** TERM a process, KILL it after a bound; returns once it is gone. */
export async function endProcess(pid: number | undefined): Promise<void> {
  if (pid === undefined || !isAlive(pid)) return
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return
    await sleep(100)
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // Exited between the check and the kill.
  }
  await sleep(200)
}

/** Pidfiles under containerd's state folder: containerd itself, its shims and their tasks. */
export function findPidfiles(root: string): string[] {
  const found: string[] = []
  const walk = (dir: string, depth: number) => {
    if (depth > 8) return
    let entries: string[]
    try {
      entries = readdirSync(dir)
    } catch {
      return
    }
    for (const name of entries) {
      const path = join(dir, name)
      let isDir = false
      try {
        isDir = statSync(path).isDirectory()
      } catch {
        continue
      }
      if (isDir) walk(path, depth + 1)
      else if (name.endsWith('.pid')) found.push(path)
    }
  }
  walk(root, 0)
  // Tasks and shims first, containerd (the shallowest) last.
  return found.sort((a, b) => b.split('/').length - a.split('/').length)
}

function unmountUnder(dir: string): void {
  let mountinfo: string
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')
  } catch {
    return
  }
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length)
  for (const point of points) spawnSync('umount', ['-l', point], { stdio: 'ignore' })
}

function deleteLink(name: string): void {
  if (existsSync(`/sys/class/net/${name}`)) spawnSync('ip', ['link', 'delete', name], { stdio: 'ignore' })
}

/**
 * Whether a PID from one of our pidfiles is still ours (PIDs are reused): dockerd, containerd and the shims name the
 * engine folder in their arguments; a container's process sits in a docker cgroup.
 */
function belongsTo(pid: number, dir: string): boolean {
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) return true
    return /\/docker[/-]/.test(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))
  } catch {
    return false
  }
}

/** The PID in a pidfile, or undefined. */
export function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** Whether a process runs (a zombie does not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // A zombie still answers signal 0; it has exited all the same.
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/** The last lines of a log file, for error messages. */
export function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n')
  } catch {
    return '(no log)'
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The pub image for an engine (built from dist/ when missing or stale); see pub/image/build.ts. */
export { ensurePubImage } from '../pub/image/build.js'
