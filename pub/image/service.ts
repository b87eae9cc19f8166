/**
 * The Swarm service spec a pub image expects: host network with its own port, its data on a named volume, its key as
 * a Swarm secret, a memory limit, and the socket health check. Written down once here, next to the image, so the
 * orchestrator and the tests describe a pub the same way.
 */
import type Docker from 'dockerode'
import type { FeedId } from '../../src/protocol/ids.js'
import { DATA_DIR, DEFAULT_HEALTH_INTERVAL_MS, PUB_HEALTHCHECK, PUB_UID } from './constants.js'

/** Where the key secret appears inside the container. */
export const KEY_SECRET_PATH = '/run/secrets/pub-key'

const MS = 1_000_000 // nanoseconds per millisecond, the unit of Swarm durations

export interface PubServiceOptions {
  /** Service name (unique in the swarm). */
  name: string
  image: string
  owner: FeedId
  provider?: FeedId
  pubName: string
  /** SSB port; with host networking each pub needs its own. */
  port: number
  /** Listen address on the host (default 127.0.0.1). */
  host?: string
  /** Host written into the pub's address and invites (default: `host`). */
  externalHost?: string
  /** Named volume for the data folder. */
  volume: string
  /** Swarm secret holding the pub's ssb-keys file; without it the pub makes and keeps its own key. */
  keySecret?: { id: string; name: string }
  memoryBytes?: number
  /** The web view's port (host network: the pub listens on it directly, no publishing needed); absent: none. */
  webPort?: number
  /** The plan's disk allowance for the pub's log and blobs (PUB_DISK_MIB). */
  diskMiB?: number
  caps?: string
  labels?: Record<string, string>
  /** Extra environment (PUB_* overrides such as PUB_DB2_THROTTLES). */
  env?: Record<string, string>
  /**
   * Health probe interval. Docker (API 1.41) runs the first probe one interval after start, so it bounds
   * create->healthy in Docker's eyes; the provider does not wait for it (it dials the pub itself for "up"). A probe
   * reads a file the pub refreshes (a shell and `date`), but each still costs the engine an exec.
   */
  healthIntervalMs?: number
  /** Time SIGTERM has before SIGKILL. */
  stopGraceMs?: number
  /** Wait before Swarm restarts a task that exited. */
  restartDelayMs?: number
}

/** A createService spec for one pub. */
export function pubServiceSpec(o: PubServiceOptions): Docker.CreateServiceOptions {
  const env: Record<string, string> = {
    PUB_HOST: o.host ?? '127.0.0.1',
    PUB_PORT: String(o.port),
    PUB_EXTERNAL_HOST: o.externalHost ?? o.host ?? '127.0.0.1',
    PUB_OWNER: o.owner,
    PUB_NAME: o.pubName,
    PUB_DATA: DATA_DIR,
  }
  if (o.provider) env.PUB_PROVIDER = o.provider
  if (o.keySecret) env.PUB_KEY_FILE = KEY_SECRET_PATH
  if (o.webPort !== undefined) env.PUB_WEB_PORT = String(o.webPort)
  if (o.diskMiB !== undefined) env.PUB_DISK_MIB = String(o.diskMiB)
  if (o.caps) env.PUB_CAPS = o.caps
  Object.assign(env, o.env)
  const interval = (o.healthIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS) * MS

  return {
    Name: o.name,
    Labels: o.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: o.image,
        Labels: o.labels,
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Mounts: [{ Type: 'volume', Source: o.volume, Target: DATA_DIR }],
        Secrets: o.keySecret
          ? [{ SecretID: o.keySecret.id, SecretName: o.keySecret.name, File: { Name: 'pub-key', UID: String(PUB_UID), GID: String(PUB_UID), Mode: 0o400 } }]
          : [],
        HealthCheck: { Test: PUB_HEALTHCHECK, Interval: interval, Timeout: 3000 * MS, Retries: 3, StartPeriod: 10_000 * MS },
        StopGracePeriod: (o.stopGraceMs ?? 10_000) * MS,
      },
      Resources: o.memoryBytes ? { Limits: { MemoryBytes: o.memoryBytes } } : {},
      RestartPolicy: { Condition: 'any', Delay: (o.restartDelayMs ?? 1000) * MS, MaxAttempts: 0 },
      // Host networking: the routing mesh needs IPVS and overlay networks need private ranges; a pub owns its port.
      Networks: [{ Target: 'host' }],
    },
    Mode: { Replicated: { Replicas: 1 } },
    // stop-first: the new task needs the same port and volume as the old one.
    UpdateConfig: { Parallelism: 1, Order: 'stop-first', FailureAction: 'pause' },
  }
}
