/**
 * Several hubs on one machine (docs/testing.md: Several hubs): three real dockerd nodes, each in a network namespace
 * of its own, joined by veth pairs to a bridge in the host namespace, one Swarm manager and two workers, and a
 * private registry (Debian's `docker-registry`) on the manager's address.
 *
 * Addresses come from RFC 5737's 198.51.100.0/24 only: the bridge holds .254 (so the test process dials pubs
 * through it), the nodes .1, .2, .3. The namespaces have no default route and nothing is NATed: nothing leaves the
 * machine. Each node has its own data root, exec root, pidfile and containerd (the one dockerd starts in its exec
 * root); the harness reaches each engine over its own unix socket. Names and addresses are fixed, so one cluster
 * runs per machine: a lock file serialises runs, and a run that finds the lock of a dead holder removes what that
 * holder left before it starts. The suite's own engine (testkit/docker-engine.ts) lives in the host namespace and is
 * never touched: Swarm's fixed ports (2377, 7946) are per namespace.
 */
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Docker from 'dockerode'
import { dockerdPath, endProcess, findPidfiles, isAlive, readPid, tail } from './docker-engine.js'
import { Fatal, waitFor } from './wait.js'

/** The documentation range the cluster lives in (RFC 5737 TEST-NET-2). */
export const CLUSTER_NET = '198.51.100'
/**
 * Where Swarm and dockerd take the subnets of networks they make themselves (ingress, docker_gwbridge) until the
 * harness removes them: RFC 5737 TEST-NET-3, so no private range appears even for a moment; never routed anywhere.
 */
const SCRATCH_NET = '203.0.113.0/24'
/** The host's address on the cluster's bridge. */
export const HOST_ADDRESS = `${CLUSTER_NET}.254`
const BRIDGE = 'bch-br0'
const LOCK = '/tmp/buttcloud-cluster.lock'
const REGISTRY_BIN = '/usr/bin/docker-registry'
const REGISTRY_PORT = 5000
const API_TIMEOUT_MS = 30_000

/** One dockerd node of the cluster. */
export interface ClusterNode {
  /** `manager`, `worker1`, `worker2`. */
  name: string
  /** Its network namespace. */
  netns: string
  /** Its 198.51.100.x address. */
  address: string
  /** Its engine's unix socket (reachable from the host: sockets ignore network namespaces). */
  socketPath: string
  docker: Docker
  /** Its Swarm node id. */
  nodeId: string
}

/** A running cluster. */
export interface SwarmCluster {
  dir: string
  manager: ClusterNode
  workers: ClusterNode[]
  nodes: ClusterNode[]
  /** `198.51.100.1:5000`: the private registry, on the manager's address. */
  registry: string
  /** Stop a node's dockerd (its containers stop with it); Swarm then sees the node down. */
  stopNode(node: ClusterNode): Promise<void>
  /** Start a stopped node again on the same data root: it rejoins the Swarm by itself. */
  startNode(node: ClusterNode): Promise<void>
  /** Remove everything: every dockerd, containerd, the registry, namespaces, veths, the bridge and the folder. */
  stop(): Promise<void>
}

/**
 * Whether the cluster can run here. With CI=true anything missing is an error (CI runs as root with docker.io,
 * iproute2 and docker-registry); elsewhere the reason is returned so a test can skip saying why.
 */
export function clusterSupport(): { ok: true } | { ok: false; reason: string } {
  let reason: string | undefined
  if (!dockerdPath()) reason = 'dockerd is not installed (apt-get install -y --no-install-recommends docker.io)'
  else if (process.getuid?.() !== 0) reason = 'network namespaces and dockerd need root'
  else if (spawnSync('ip', ['-V']).status !== 0) reason = 'iproute2 is not installed'
  else if (!existsSync(REGISTRY_BIN)) reason = 'docker-registry is not installed (apt-get install -y docker-registry)'
  if (reason === undefined) return { ok: true }
  if (process.env.CI === 'true') throw new Error(`the several-hubs cluster cannot run in CI: ${reason}`)
  return { ok: false, reason }
}

const NODES = [
  { name: 'manager', netns: 'bch-m', veth: 'bch-vm', address: `${CLUSTER_NET}.1` },
  { name: 'worker1', netns: 'bch-w1', veth: 'bch-v1', address: `${CLUSTER_NET}.2` },
  { name: 'worker2', netns: 'bch-w2', veth: 'bch-v2', address: `${CLUSTER_NET}.3` },
] as const

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message || `exit ${r.status}`}`)
}

function nodePaths(dir: string, name: string) {
  const d = join(dir, name)
  return {
    dir: d,
    dataRoot: join(d, 'root'),
    execRoot: join(d, 'x'),
    pidfile: join(d, 'd.pid'),
    socket: join(d, 'd.sock'),
    config: join(d, 'daemon.json'),
    log: join(d, 'dockerd.log'),
  }
}

/** Start the cluster: network, three engines, the Swarm, the registry. Everything is removed again on failure. */
export async function startSwarmCluster(opts: { lockWaitMs?: number } = {}): Promise<SwarmCluster> {
  const dockerd = dockerdPath()
  if (!dockerd) throw new Error('dockerd is not installed')
  await acquireLock(opts.lockWaitMs ?? 10 * 60_000)
  // Short: socket paths must fit in 108 bytes.
  const dir = mkdtempSync('/tmp/bch-')
  writeFileSync(LOCK, JSON.stringify({ ownerPid: process.pid, dir }))
  const registry = `${NODES[0].address}:${REGISTRY_PORT}`
  const pids: Record<string, number> = {}
  try {
    // Holding the lock, anything under our names is a leftover (a run killed between its lock and its folder).
    removeNetwork()
    createNetwork()
    const nodes: ClusterNode[] = []
    const startNode = async (n: (typeof NODES)[number]): Promise<Docker> => {
      const p = nodePaths(dir, n.name)
      mkdirSync(p.dir, { recursive: true })
      writeFileSync(p.config, JSON.stringify({ 'deprecated-key-path': join(p.dir, 'key.json'), 'insecure-registries': [registry] }))
      const log = openSync(p.log, 'a')
      const child = spawn(
        'nsenter',
        [
          `--net=/run/netns/${n.netns}`, 'unshare', '--uts', '/bin/sh', '-c', 'hostname "$0" && exec "$@"', `bch-${n.name}`, dockerd,
          '--iptables=false', '--ip-forward=false', '--bridge=none', '--ip-masq=false', '--userland-proxy=false',
          `--data-root=${p.dataRoot}`, `--exec-root=${p.execRoot}`, `--pidfile=${p.pidfile}`,
          `--host=unix://${p.socket}`, `--config-file=${p.config}`, '--log-level=warn',
          // Networks dockerd makes by itself (docker_gwbridge, before it is removed) take TEST-NET-3, never 172.x.
          `--default-address-pool=base=${SCRATCH_NET},size=26`,
        ],
        // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup mounts dockerd needs. A UTS
        // namespace gives each node its own host name (Swarm names hubs by it). nsenter, unshare and sh all exec in
        // place, so this PID is dockerd's. No DOCKER_SERVICE_PREFER_OFFLINE_IMAGE here (unlike the single engine):
        // with it a task never pulls, and these nodes get their images only from the registry.
        { detached: true, stdio: ['ignore', log, log], env: withoutOfflineImages(process.env) },
      )
      closeSync(log)
      child.unref()
      const pid = child.pid
      if (pid === undefined) throw new Error(`dockerd of ${n.name} did not start`)
      pids[n.name] = pid
      writeFileSync(join(dir, 'pids.json'), JSON.stringify(pids))
      const docker = new Docker({ socketPath: p.socket, version: 'v1.41' })
      await waitFor(`the Docker API of ${n.name}`, async () => {
        if (!isAlive(pid)) throw new Fatal(`dockerd of ${n.name} exited:\n${tail(p.log)}`)
        await docker.ping()
        return true
      }, { timeoutMs: API_TIMEOUT_MS })
      return docker
    }

    const engines = await Promise.all(NODES.map(startNode))
    const [managerEngine, ...workerEngines] = engines as [Docker, ...Docker[]]
    const m = NODES[0]
    // A 1 s heartbeat (default 5 s): a stopped node is seen down within seconds, so the test waits less.
    await managerEngine.swarmInit({ ListenAddr: `${m.address}:2377`, AdvertiseAddr: m.address, DataPathAddr: m.address, Spec: { Dispatcher: { HeartbeatPeriod: 1_000_000_000 } }, DefaultAddrPool: [SCRATCH_NET], SubnetSize: 26 })
    const swarm = (await managerEngine.swarmInspect()) as { JoinTokens: { Worker: string } }
    await Promise.all(
      workerEngines.map((engine, i) => {
        const n = NODES[i + 1]!
        return engine.swarmJoin({
          ListenAddr: `${n.address}:2377`,
          AdvertiseAddr: n.address,
          DataPathAddr: n.address,
          RemoteAddrs: [`${m.address}:2377`],
          JoinToken: swarm.JoinTokens.Worker,
        })
      }),
    )
    for (const [i, n] of NODES.entries()) {
      const docker = engines[i]!
      const info = (await docker.info()) as { Swarm?: { NodeID?: string } }
      nodes.push({ name: n.name, netns: n.netns, address: n.address, socketPath: nodePaths(dir, n.name).socket, docker, nodeId: info.Swarm?.NodeID ?? '' })
    }
    await waitFor('three ready nodes', async () => {
      const list = (await managerEngine.listNodes()) as Array<{ Status?: { State?: string } }>
      return list.length === 3 && list.every((x) => x.Status?.State === 'ready')
    }, { timeoutMs: API_TIMEOUT_MS })
    // After the joins (a join brings it back). No IPVS here: the routing mesh cannot work, and its networks would
    // put private ranges into the namespaces.
    await waitFor('the ingress network removed', async () => {
      await managerEngine.getNetwork('ingress').remove().catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404) throw err
      })
      return (await managerEngine.listNetworks({ filters: { name: ['ingress'] } })).length === 0
    }, { timeoutMs: 10_000, intervalMs: 100 })
    await Promise.all(nodes.map((n) => removeGwBridge(n)))

    pids.registry = startRegistry(dir, registry)
    writeFileSync(join(dir, 'pids.json'), JSON.stringify(pids))
    await waitFor('the registry', async () => (await fetch(`http://${registry}/v2/`)).ok, { timeoutMs: API_TIMEOUT_MS })

    const [manager, ...workers] = nodes as [ClusterNode, ...ClusterNode[]]
    return {
      dir,
      manager,
      workers,
      nodes,
      registry,
      stopNode: async (node) => {
        const pid = readPid(nodePaths(dir, node.name).pidfile) ?? pids[node.name]
        if (pid !== undefined && ownedBy(pid, dir)) await endProcess(pid)
        await endContainerd(nodePaths(dir, node.name).execRoot, dir)
        await endProcessesIn(node.netns, new Set(pids.registry !== undefined ? [pids.registry] : []))
      },
      startNode: async (node) => {
        const def = NODES.find((n) => n.name === node.name)!
        node.docker = await startNode(def)
      },
      stop: () => stopCluster(dir),
    }
  } catch (err) {
    await stopCluster(dir)
    throw err
  }
}

function withoutOfflineImages(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env }
  delete copy.DOCKER_SERVICE_PREFER_OFFLINE_IMAGE
  return copy
}

/** The bridge on the host and one veth pair per node; the namespaces get their address and no default route. */
function createNetwork(): void {
  run('ip', ['link', 'add', BRIDGE, 'type', 'bridge'])
  run('ip', ['addr', 'add', `${HOST_ADDRESS}/24`, 'dev', BRIDGE])
  run('ip', ['link', 'set', BRIDGE, 'up'])
  for (const n of NODES) {
    run('ip', ['netns', 'add', n.netns])
    run('ip', ['link', 'add', n.veth, 'type', 'veth', 'peer', 'name', `${n.veth}p`])
    run('ip', ['link', 'set', `${n.veth}p`, 'netns', n.netns])
    run('ip', ['-n', n.netns, 'link', 'set', `${n.veth}p`, 'name', 'eth0'])
    run('ip', ['-n', n.netns, 'addr', 'add', `${n.address}/24`, 'dev', 'eth0'])
    run('ip', ['-n', n.netns, 'link', 'set', 'eth0', 'up'])
    run('ip', ['-n', n.netns, 'link', 'set', 'lo', 'up'])
    run('ip', ['link', 'set', n.veth, 'master', BRIDGE])
    run('ip', ['link', 'set', n.veth, 'up'])
  }
}

/** docker_gwbridge appears on each node after it enters the Swarm, with a private range: remove it. */
async function removeGwBridge(node: ClusterNode): Promise<void> {
  await waitFor(`docker_gwbridge gone on ${node.name}`, async () => {
    const networks = await node.docker.listNetworks({ filters: { name: ['docker_gwbridge'] } })
    if (networks.length === 0) return true
    await node.docker.getNetwork('docker_gwbridge').remove()
    return false
  }, { timeoutMs: 10_000, intervalMs: 100 })
  spawnSync('ip', ['-n', node.netns, 'link', 'delete', 'docker_gwbridge'], { stdio: 'ignore' })
}

/** The CNCF distribution registry in the manager's namespace, its storage in the cluster's folder. */
function startRegistry(dir: string, address: string): number {
  const storage = join(dir, 'registry')
  mkdirSync(storage, { recursive: true })
  const config = join(dir, 'registry.yml')
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: { level: warn }',
      'storage:',
      `  filesystem: { rootdirectory: ${storage} }`,
      '  delete: { enabled: true }',
      'http:',
      `  addr: ${address}`,
      '',
    ].join('\n'),
  )
  const log = openSync(join(dir, 'registry.log'), 'a')
  const child = spawn('nsenter', [`--net=/run/netns/${NODES[0].netns}`, REGISTRY_BIN, 'serve', config], { detached: true, stdio: ['ignore', log, log] })
  closeSync(log)
  child.unref()
  if (child.pid === undefined) throw new Error('docker-registry did not start')
  return child.pid
}

/** Whether a PID is still one of this cluster's processes (PIDs are reused): its arguments name the folder. */
function ownedBy(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)
  } catch {
    return false
  }
}

/** A node's containerd and shims, by their pidfiles, after its dockerd is gone (a KILLed dockerd leaves them). */
async function endContainerd(execRoot: string, dir: string): Promise<void> {
  for (const pidfile of findPidfiles(execRoot)) {
    const pid = readPid(pidfile)
    // Only processes naming this cluster's folder (containerd and its shims do): a stale pidfile's PID may since
    // belong to anyone, another engine's containers included.
    if (pid !== undefined && ownedBy(pid, dir)) await endProcess(pid)
  }
}

/**
 * End whatever still runs in one of our network namespaces (a container whose shim was killed keeps running there,
 * holding its port): every process in it was started by the harness's dockerd or registry, since we made it.
 */
async function endProcessesIn(netns: string, keep: ReadonlySet<number> = new Set()): Promise<void> {
  if (!existsSync(`/run/netns/${netns}`)) return
  const out = spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).stdout ?? ''
  const left = out.split('\n').map(Number).filter((pid) => Number.isInteger(pid) && pid > 0 && !keep.has(pid))
  await Promise.all(left.map((pid) => endProcess(pid)))
}

/** Remove everything a cluster in `dir` made; safe to repeat, and used on what a dead run left. */
async function stopCluster(dir: string): Promise<void> {
  let pids: Record<string, number> = {}
  try {
    pids = JSON.parse(readFileSync(join(dir, 'pids.json'), 'utf8')) as Record<string, number>
  } catch {
    // Nothing started yet.
  }
  const ends: Array<Promise<void>> = []
  for (const n of NODES) {
    const pid = readPid(nodePaths(dir, n.name).pidfile) ?? pids[n.name]
    if (pid !== undefined && ownedBy(pid, dir)) ends.push(endProcess(pid))
  }
  if (pids.registry !== undefined && ownedBy(pids.registry, dir)) ends.push(endProcess(pids.registry))
  await Promise.all(ends)
  for (const n of NODES) await endContainerd(nodePaths(dir, n.name).execRoot, dir).catch(() => undefined)
  for (const n of NODES) await endProcessesIn(n.netns)
  // Removing a namespace removes its end of the veth, and so the pair.
  unmountUnder(dir)
  removeNetwork()
  rmSync(dir, { recursive: true, force: true })
  try {
    if ((JSON.parse(readFileSync(LOCK, 'utf8')) as { dir?: string }).dir === dir) rmSync(LOCK, { force: true })
  } catch {
    // No lock, or not ours.
  }
}

function unmountUnder(dir: string): void {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length)
  for (const point of points) spawnSync('umount', ['-l', point], { stdio: 'ignore' })
}

async function acquireLock(waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx')
      writeFileSync(fd, JSON.stringify({ ownerPid: process.pid }))
      closeSync(fd)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let holder: { ownerPid?: number; dir?: string } = {}
    try {
      holder = JSON.parse(readFileSync(LOCK, 'utf8')) as typeof holder
    } catch {
      // Being written: read again.
    }
    if (holder.ownerPid !== undefined && !isAlive(holder.ownerPid)) {
      // A run that died without its teardown: remove what it left (its processes are found by its folder).
      if (holder.dir) await stopCluster(holder.dir)
      else removeNetwork()
      rmSync(LOCK, { force: true })
      continue
    }
    if (Date.now() > deadline) throw new Error(`another several-hubs cluster (PID ${holder.ownerPid}) still runs after ${waitMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

function removeNetwork(): void {
  for (const n of NODES) {
    if (existsSync(`/run/netns/${n.netns}`)) spawnSync('ip', ['netns', 'delete', n.netns], { stdio: 'ignore' })
    if (existsSync(`/sys/class/net/${n.veth}`)) spawnSync('ip', ['link', 'delete', n.veth], { stdio: 'ignore' })
  }
  if (existsSync(`/sys/class/net/${BRIDGE}`)) spawnSync('ip', ['link', 'delete', BRIDGE], { stdio: 'ignore' })
}
