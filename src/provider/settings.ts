/**
 * The provider's settings: ssb-config/provider.json (or the file named by --config / BUTTCLOUD_CONFIG),
 * then environment overrides, checked by a schema so a typo fails at start with a clear message.
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { Plan } from '../protocol/offer.js'
import { describeIssues } from '../protocol/parse.js'

const here = dirname(fileURLToPath(import.meta.url))
/** The repo root, from src/provider (tsx) or dist/src/provider (built). */
const ROOT = here.includes(`${join('dist', 'src')}`) ? resolve(here, '../../..') : resolve(here, '../..')
export const DEFAULT_CONFIG_FILE = join(ROOT, 'ssb-config', 'provider.json')

const Port = z.number().int().min(0).max(65535)

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
  inviteUses: z.number().int().min(1).max(100_000).default(1000),
  throttles: z
    .strictObject({ addBatch: z.number().int().min(0), flushDebounce: z.number().int().min(0), writeTimeout: z.number().int().min(0) })
    .default({ addBatch: 10, flushDebounce: 50, writeTimeout: 50 }),
  buttcloud: z
    .strictObject({
      name: z.string().min(1).max(80).optional(),
      plans: z.array(Plan).min(1).max(20).optional(),
      versions: z.array(z.string().min(1).max(64)).min(1).optional(),
      pubsPerOwner: z.number().int().min(1).max(1000).optional(),
      passIntervalMs: z.number().int().min(100).optional(),
      debounceMs: z.number().int().min(0).optional(),
      terms: z.string().optional(),
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
    })
    .default({ enabled: true, host: '127.0.0.1', port: 8119, publicUrl: 'http://127.0.0.1:8119' }),
  runtime: z.looseObject({ kind: z.enum(['none', 'local', 'swarm']) }).default({ kind: 'none' }),
})
export type ProviderSettings = z.infer<typeof ProviderSettings>

/** Environment variables that override the file, and where they go. */
export const ENV_OVERRIDES: Record<string, (s: Record<string, any>, v: string) => void> = {
  BUTTCLOUD_DATA: (s, v) => (s.path = v),
  BUTTCLOUD_HOST: (s, v) => (s.host = v),
  BUTTCLOUD_PORT: (s, v) => (s.port = Number(v)),
  BUTTCLOUD_EXTERNAL_HOST: (s, v) => (s.externalHost = v),
  BUTTCLOUD_CAPS: (s, v) => (s.caps = v),
  BUTTCLOUD_ALLOW_PRIVATE: (s, v) => (s.allowPrivate = v === 'true' || v === '1'),
  BUTTCLOUD_WEB_PORT: (s, v) => (s.web = { ...s.web, port: Number(v) }),
  BUTTCLOUD_WEB_ENABLED: (s, v) => (s.web = { ...s.web, enabled: v === 'true' || v === '1' }),
  BUTTCLOUD_PUBLIC_URL: (s, v) => (s.web = { ...s.web, publicUrl: v }),
  BUTTCLOUD_RUNTIME: (s, v) => (s.runtime = { ...s.runtime, kind: v }),
}

/** Load settings from a file plus environment overrides; throws with a readable reason. */
export function loadSettings(file = DEFAULT_CONFIG_FILE, env: NodeJS.ProcessEnv = process.env): ProviderSettings {
  let raw: Record<string, any>
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`cannot read provider config ${file}`, { cause: err })
  }
  for (const [name, apply] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name]
    if (value !== undefined && value !== '') apply(raw, value)
  }
  const parsed = ProviderSettings.safeParse(raw)
  if (!parsed.success) throw new Error(`invalid provider config ${file}: ${describeIssues(parsed.error)}`)
  return { ...parsed.data, path: resolve(parsed.data.path) }
}
