/**
 * The provider's settings: ssb-config/provider.json (or the file named by --config / BUTTCLOUD_CONFIG),
 * then environment overrides, checked by a schema so a typo fails at start with a clear message.
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { Operator, Plan } from '../protocol/offer.js'
import { describeIssues } from '../protocol/parse.js'
import { parseEngine, type EngineSetting } from '../drivers/engine-endpoint.js'

const here = dirname(fileURLToPath(import.meta.url))
/** The repo root, from src/provider (tsx) or dist/src/provider (built). */
const ROOT = here.includes(`${join('dist', 'src')}`) ? resolve(here, '../../..') : resolve(here, '../..')
export const DEFAULT_CONFIG_FILE = join(ROOT, 'ssb-config', 'provider.json')

const Port = z.number().int().min(0).max(65535)

/** The payment site when the file has no `web` section. */
const WEB_DEFAULTS = { enabled: true, host: '127.0.0.1', port: 8119, publicUrl: 'http://127.0.0.1:8119' }

export const ProviderSettings = z.strictObject({
  /** Data folder (relative paths are relative to the working directory). */
  path: z.string().min(1),
  host: z.string().min(1),
  port: Port,
  externalHost: z.string().min(1).nullable().default(null),
  /** Secret-handshake caps (base64); null means the main network (Patchwork's). */
  caps: z.string().nullable().default(null),
  allowPrivate: z.boolean().default(false),
  hops: z.number().int().min(0).max(3).default(1),
  /** The invite printed at start: how many may join with it, and for how long (see src/ssb/invite-expiry.ts). */
  inviteUses: z.number().int().min(1).max(1000).default(10),
  inviteTtlMs: z.number().int().min(60_000).max(90 * 24 * 3600_000).default(24 * 3600_000),
  /** Writes stop (passes wait, webhooks are asked to retry, backups are refused) while less than this is free on the disk. */
  minFreeMiB: z.number().int().min(0).default(256),
  throttles: z
    .strictObject({ addBatch: z.number().int().min(0), flushDebounce: z.number().int().min(0), writeTimeout: z.number().int().min(0) })
    .default({ addBatch: 10, flushDebounce: 50, writeTimeout: 10 }),
  buttcloud: z
    .strictObject({
      name: z.string().min(1).max(80).optional(),
      plans: z.array(Plan).min(1).max(20).optional(),
      versions: z.array(z.string().min(1).max(64)).min(1).optional(),
      pubsPerOwner: z.number().int().min(1).max(1000).optional(),
      /** Free pubs that may hold a place at once; more wait in a queue (0: no free pubs run). */
      freePubs: z.number().int().min(0).max(1_000_000).optional(),
      /** The most uses an owner's `invite` command may ask for. */
      inviteMaxUses: z.number().int().min(1).max(100).optional(),
      passIntervalMs: z.number().int().min(100).optional(),
      debounceMs: z.number().int().min(0).optional(),
      refusalsPerAuthor: z.number().int().min(0).max(10_000).optional(),
      refusalWindowMs: z.number().int().min(1000).optional(),
      /** Status posts (one private `post` per transition) per pub per day at most; 0: no cap. */
      noticesPerPubPerDay: z.number().int().min(0).max(100).optional(),
      /** Stats summaries posted per running pub: 0 (default) none, owners ask with `stats`; else a week or longer. */
      statsIntervalMs: z
        .number()
        .int()
        .refine((ms) => ms === 0 || ms >= 7 * 24 * 3600_000, '0 (off) or at least a week (604800000): a daily summary would cost every pub ~900 bytes of shared feed a day')
        .optional(),
      terms: z.string().optional(),
      /** Who operates this provider: name, contact (email or web address) and jurisdiction; shown in the offer and the pay site. */
      operator: Operator.optional(),
    })
    .default({}),
  /** The payment site (also the terms and privacy pages). `enabled: false` serves nothing. */
  web: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1),
      port: Port,
      publicUrl: z.string().url(),
      /** Operator-provided texts (plain text files); sensible defaults otherwise. */
      termsFile: z.string().optional(),
      privacyFile: z.string().optional(),
      /** Behind our own TLS-terminating proxy: rate-limit clients by the last X-Forwarded-For hop. */
      trustProxy: z.boolean().optional(),
    })
    .default(WEB_DEFAULTS),
  /**
   * Prometheus metrics (docs/metrics.md): served at `/metrics` on the payment site unless `port` is set, then on a
   * listener of their own at `host:port` (default host 127.0.0.1). `enabled: false` serves none.
   */
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('127.0.0.1'),
      port: Port.optional(),
    })
    .default({ enabled: true, host: '127.0.0.1' }),
  runtime: z.lazy(() => RuntimeSettings).default({ kind: 'none' }),
})
export type ProviderSettings = z.infer<typeof ProviderSettings>

const EngineObject = z.strictObject({
  url: z.string().min(1),
  tls: z.strictObject({ ca: z.string().min(1), cert: z.string().min(1), key: z.string().min(1) }).optional(),
  ssh: z.strictObject({ hostKey: z.string().min(1), privateKey: z.string().min(1).optional() }).optional(),
})

/**
 * A Docker engine: `unix:///path/docker.sock` (or a bare path), `tcp://host:port` on a loopback host only, or an
 * object `{ url, tls: { ca, cert, key } }` (TLS with client certificates; files) or `{ url: "ssh://user@host",
 * ssh: { hostKey: "SHA256:...", privateKey?: file } }`. Plain tcp:// to another host is refused: it is an
 * unauthenticated API to the whole machine.
 */
export const DockerEngine = z.unknown().transform((value, ctx): EngineSetting => {
  // One schema per form rather than a union, whose only message for a bad object would be "Invalid input".
  const form = typeof value === 'string' ? z.string().min(1).safeParse(value) : EngineObject.safeParse(value)
  if (!form.success) {
    for (const i of form.error.issues) ctx.addIssue({ code: 'custom', message: i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message })
    return z.NEVER
  }
  try {
    parseEngine(form.data)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) })
    return z.NEVER
  }
  return form.data
})

/**
 * What runs pubs: nothing yet (`none`), child processes on this machine (`local`) or Docker Swarm (`swarm`). One
 * object for every kind, so BUTTCLOUD_RUNTIME can switch the kind without rewriting the file; fields a kind does
 * not use are ignored by it. See src/provider/runtime-from-settings.ts for the defaults.
 */
export const RuntimeSettings = z.strictObject({
  kind: z.enum(['none', 'local', 'swarm']),
  /** swarm: the manager's engine (default: $DOCKER_HOST or the standard socket); remote ones over TLS or ssh only. */
  docker: z.lazy(() => DockerEngine).optional(),
  /** swarm: engines of further hubs (same forms), for their volumes, stats and backups. */
  hubEngines: z.array(z.lazy(() => DockerEngine)).max(1000).optional(),
  /** The host peers dial to reach pubs (local: this machine; swarm: every hub without a buttcloud.address label). */
  hubAddress: z.string().min(1).optional(),
  /** Where pubs listen (default: local, the hub address; swarm, 0.0.0.0). */
  listenHost: z.string().min(1).optional(),
  /** Ports handed to pubs on each hub, both ends included; a port is never handed out twice. */
  ports: z
    .strictObject({ first: Port.min(1), last: Port.min(1) })
    .refine((p) => p.first <= p.last, 'ports.first must not exceed ports.last')
    // Web views take the block of the same size just above the pool (planner/ports.ts, webPortFor).
    .refine((p) => 2 * p.last - p.first + 1 <= 65535, 'ports: the web views take the same number of ports just above ports.last, which must end at 65535 or below')
    .optional(),
  /** Size of a hub the operator would add (for "hubs needed"); local: also the memory offered on this machine. */
  hubMemoryMiB: z.number().int().min(256).optional(),
  /** Kept free on every hub for the engine, the OS and page cache. */
  headroomMiB: z.number().int().min(0).optional(),
  /** Memory overcommit ratio: a pub reserves its plan's memory divided by this (or its measured peak x 1.5 when more). */
  memoryOvercommit: z.number().min(1).max(16).optional(),
  /** How long a destroyed pub's data is kept before it is purged. */
  retentionMs: z.number().int().min(0).optional(),
  /** What one hub costs per month in minor units, for the capacity report's cost per pub. */
  hubPrice: z.strictObject({ amountPerMonth: z.number().int().min(0), currency: z.string().min(3).max(3) }).optional(),
  /** swarm: the image tag pubs run unless upgraded (default: this checkout's version, which `buildImage` builds). */
  imageVersion: z.string().min(1).max(64).optional(),
  /** swarm: build and import the pub image on the manager's engine before the first service (single-node swarms). */
  buildImage: z.boolean().optional(),
  /**
   * swarm: the registry every hub pulls the pub image from (`host[:port]`, as in `<registry>/buttcloud-pub:<version>`);
   * without it each hub needs the image locally.
   */
  registry: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(\/[a-z0-9._-]+)*$/, 'registry: host[:port][/path], as in docker image names')
    .max(200)
    .optional(),
  /** swarm: Docker health probe interval; bounds how soon a new pub shows "up". */
  healthIntervalMs: z.number().int().min(100).optional(),
  stopGraceMs: z.number().int().min(0).optional(),
  restartDelayMs: z.number().int().min(0).optional(),
  /** How long a pass waits for pubs it created or changed to come up before reporting them provisioning. */
  settleMs: z.number().int().min(0).optional(),
  /** How often pubs' resource use is sampled (0: only on the stats command). */
  statsIntervalMs: z.number().int().min(0).optional(),
  /** How often the provider asks each running pub how full its disk allowance is (0: only for `stats`). */
  diskIntervalMs: z.number().int().min(0).optional(),
  /** Backups: how long an archive stays downloadable, and the URL its folder is served under. */
  backupTtlMs: z.number().int().min(1000).optional(),
  backupUrl: z.string().url().optional(),
  /** After failures in a row, a pub's changes (and, when it is unreachable, the engine) wait baseMs, doubling up to maxMs. */
  backoff: z
    .strictObject({ baseMs: z.number().int().min(100), maxMs: z.number().int().min(100) })
    .refine((b) => b.baseMs <= b.maxMs, 'backoff.baseMs must not exceed backoff.maxMs')
    .optional(),
  /** Backups: their own folder (default: the data folder's path + `-backups`, beside it, not in it). */
  backupDir: z.string().min(1).optional(),
  /** Backups: the largest archive of one pub (a pub keeps only its newest), and all archives together. */
  backupMaxMiBPerPub: z.number().int().min(1).optional(),
  backupMaxMiBTotal: z.number().int().min(1).optional(),
  /** Extra environment for every pub (PUB_* overrides such as PUB_DB2_THROTTLES). */
  env: z.record(z.string().regex(/^PUB_[A-Z0-9_]+$/), z.string()).optional(),
})
export type RuntimeSettings = z.infer<typeof RuntimeSettings>

/** Environment variables that override the file, and where they go. */
/** The settings file as read, before its schema has checked it. */
type RawSettings = Record<string, unknown> & { web?: Record<string, unknown>; runtime?: Record<string, unknown> }

export const ENV_OVERRIDES: Record<string, (s: RawSettings, v: string) => void> = {
  BUTTCLOUD_DATA: (s, v) => (s.path = v),
  BUTTCLOUD_HOST: (s, v) => (s.host = v),
  BUTTCLOUD_PORT: (s, v) => (s.port = Number(v)),
  BUTTCLOUD_EXTERNAL_HOST: (s, v) => (s.externalHost = v),
  BUTTCLOUD_CAPS: (s, v) => (s.caps = v),
  BUTTCLOUD_ALLOW_PRIVATE: (s, v) => (s.allowPrivate = v === 'true' || v === '1'),
  // A public URL that pointed at the site itself (the old port) moves with it; BUTTCLOUD_PUBLIC_URL, applied after, wins.
  // A file without a web section has the defaults: an override changes one of them, not the whole section.
  BUTTCLOUD_WEB_PORT: (s, v) => (s.web = { ...(s.web ?? WEB_DEFAULTS), port: Number(v), ...movedPublicUrl(s.web, Number(v)) }),
  BUTTCLOUD_WEB_ENABLED: (s, v) => (s.web = { ...(s.web ?? WEB_DEFAULTS), enabled: v === 'true' || v === '1' }),
  BUTTCLOUD_PUBLIC_URL: (s, v) => (s.web = { ...(s.web ?? WEB_DEFAULTS), publicUrl: v }),
  BUTTCLOUD_RUNTIME: (s, v) => (s.runtime = { ...s.runtime, kind: v }),
  BUTTCLOUD_BACKUPS: (s, v) => (s.runtime = { ...s.runtime, backupDir: v }),
  // "first-last", e.g. 8200-8999: the ports pubs get on each hub.
  BUTTCLOUD_PUB_PORTS: (s, v) => {
    const [first, last] = v.split('-').map(Number)
    s.runtime = { ...s.runtime, ports: { first, last: last ?? first } }
  },
}

/** The public URL with the site's new port, when it pointed at the site directly (at its old port); else nothing. */
function movedPublicUrl(web: Record<string, unknown> | undefined, port: number): { publicUrl?: string } {
  const oldPort = typeof web?.port === 'number' ? web.port : 8119
  const current = typeof web?.publicUrl === 'string' ? web.publicUrl : `http://127.0.0.1:${oldPort}`
  try {
    const url = new URL(current)
    if (Number(url.port || (url.protocol === 'https:' ? 443 : 80)) !== oldPort) return {}
    url.port = String(port)
    return { publicUrl: url.toString().replace(/\/$/, current.endsWith('/') ? '/' : '') }
  } catch {
    return {}
  }
}

/** Load settings from a file plus environment overrides; throws with a readable reason. */
export function loadSettings(file = DEFAULT_CONFIG_FILE, env: NodeJS.ProcessEnv = process.env): ProviderSettings {
  let raw: RawSettings
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as RawSettings
  } catch (err) {
    throw new Error(`cannot read provider config ${file}`, { cause: err })
  }
  for (const [name, apply] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name]
    if (value !== undefined && value !== '') apply(raw, value)
  }
  const parsed = ProviderSettings.safeParse(raw)
  if (!parsed.success) throw new Error(`invalid provider config ${file}: ${describeIssues(parsed.error)}`)
  // The engine's fallback address is held to the same rules as the file's.
  if (parsed.data.runtime.kind === 'swarm' && parsed.data.runtime.docker === undefined && env.DOCKER_HOST) {
    try {
      parseEngine(env.DOCKER_HOST)
    } catch (err) {
      throw new Error(`invalid DOCKER_HOST for the provider's engine: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const runtime = parsed.data.runtime
  return {
    ...parsed.data,
    path: resolve(parsed.data.path),
    runtime: runtime.backupDir ? { ...runtime, backupDir: resolve(runtime.backupDir) } : runtime,
  }
}
