/**
 * Reaching the user's own sbot. Patchwork's embedded ssb-server keeps its folder in ~/.ssb (~/.$ssb_appname):
 * `secret` (the user's key), an optional `config` (JSON, as ssb-config reads it) and, with ssb-unix-socket,
 * `socket`, where a local client gets full rights without a handshake (noauth). We prefer the socket and fall back
 * to shs over TCP on each address the config says the sbot listens on (8008 by default). Manyverse desktop writes no
 * config and has no socket: it listens with shs on port 26831 of the machine's LAN address (multiserver's `private`
 * scope), which the user names with --host and --port (README).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { clientCall, connectClient, type SbotClient } from '../ssb/client.js'
import { MAIN_NETWORK_CAPS, loadKeys, type SsbKeys } from '../ssb/keys.js'
import { FeedId } from '../protocol/ids.js'
import type { GlobalOptions } from './args.js'
import { CliError, EXIT } from './exit-codes.js'

/** How long to try one address before calling the sbot unreachable. */
const CONNECT_TIMEOUT_MS = 10_000

/** The sbot folder to use when none is given: ~/.ssb, or ~/.$ssb_appname as ssb-config does it. */
export function defaultSsbDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  return join(home, `.${env.ssb_appname || 'ssb'}`)
}

/**
 * Where and how to dial a local sbot, as ssb-config reads its folder: the socket first (noauth, full rights), then
 * every incoming `net` entry of the config that speaks shs, then, when the config names no `net` entries, the legacy
 * top-level `host`/`port` (8008 by default). `host`/`port` given by the user replace all of that with one address.
 * `configText` is absent when there is no config file; `serverKey` is the sbot's public key (base64, from its secret).
 */
export function planConnection(input: {
  dir: string
  configText?: string
  socketExists: boolean
  serverKey: string
  host?: string
  port?: number
}): { caps: string; remotes: string[] } {
  const config = input.configText === undefined ? {} : parseConfig(input.configText)
  const caps = stringAt(config, ['caps', 'shs']) ?? MAIN_NETWORK_CAPS
  const shs = (host: string | undefined, port: number) => `net:${dialHost(host)}:${port}~shs:${input.serverKey}`
  if (input.host !== undefined || input.port !== undefined) {
    const legacyPort = numberAt(config, ['port'])
    return { caps, remotes: [shs(input.host, input.port ?? netEntries(config)[0]?.port ?? legacyPort ?? 8008)] }
  }
  const remotes: string[] = []
  if (input.socketExists) remotes.push(`unix:${join(input.dir, 'socket')}~noauth`)
  const entries = netEntries(config)
  if (entries.length === 0) entries.push({ host: stringAt(config, ['host']), port: numberAt(config, ['port']) ?? 8008 })
  for (const e of entries) {
    const remote = shs(e.host, e.port)
    if (!remotes.includes(remote)) remotes.push(remote)
  }
  return { caps, remotes }
}

/** A client of the user's sbot, its feed id, and how to let go of it. */
export interface Connection {
  client: SbotClient
  /** The feed the sbot publishes as: the user. */
  me: FeedId
  close(): Promise<void>
}

/** Connect as the options say; throws a CliError with exit 3 when no address answers. */
export async function connectToSbot(global: GlobalOptions): Promise<Connection> {
  const dir = global.ssbDir ?? defaultSsbDir()
  const keyFile = global.keyFile ?? join(dir, 'secret')
  let keys: SsbKeys
  try {
    keys = loadKeys(keyFile)
  } catch (err) {
    throw new CliError(EXIT.UNREACHABLE, `no SSB key at ${keyFile} (is this your sbot's folder? try --ssb-dir or --key-file)`, { cause: err })
  }

  let caps = MAIN_NETWORK_CAPS
  let remotes: string[]
  if (global.remote) {
    remotes = global.remote.split(';').filter((a) => a.trim() !== '')
  } else {
    // The local sbot runs as the key in its folder; that is the user's key unless --key-file says otherwise.
    const serverKey = (keyFile === join(dir, 'secret') ? keys : (tryLoadKeys(join(dir, 'secret')) ?? keys)).public.replace(/\.ed25519$/, '')
    try {
      const configText = existsSync(join(dir, 'config')) ? readFileSync(join(dir, 'config'), 'utf8') : undefined
      ;({ caps, remotes } = planConnection({
        dir,
        configText,
        socketExists: existsSync(join(dir, 'socket')),
        serverKey,
        ...(global.host !== undefined && { host: global.host }),
        ...(global.port !== undefined && { port: global.port }),
      }))
    } catch (err) {
      throw new CliError(EXIT.UNREACHABLE, `cannot read ${join(dir, 'config')}: ${(err as Error).message}`, { cause: err })
    }
  }

  const failures: string[] = []
  for (const remote of remotes) {
    try {
      const client = await withTempDir(() => withTimeout(connectClient(keys, remote, { caps }), CONNECT_TIMEOUT_MS, remote))
      const close = () => new Promise<void>((resolve) => client.close(() => resolve()))
      try {
        const whoami = await clientCall<{ id: string }>(client, 'whoami')
        return { client, me: FeedId.parse(whoami.id), close }
      } catch (err) {
        await close()
        throw err
      }
    } catch (err) {
      failures.push(`${remote.replace(/~shs:.*$/, '')}: ${rootMessage(err)}`)
    }
  }
  throw new CliError(EXIT.UNREACHABLE, `cannot reach your sbot (is Patchwork or ssb-server running?)\n  ${failures.join('\n  ')}`)
}

function parseConfig(text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // ssb-config reads its file with rc, which tolerates comments; strip whole-line ones and try again.
    value = JSON.parse(text.replace(/^\s*\/\/.*$/gm, ''))
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected a JSON object')
  return value as Record<string, unknown>
}

function at(obj: unknown, path: string[]): unknown {
  let v = obj
  for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[p] : undefined
  return v
}

function stringAt(obj: unknown, path: string[]): string | undefined {
  const v = at(obj, path)
  return typeof v === 'string' && v !== '' ? v : undefined
}

function numberAt(obj: unknown, path: string[]): number | undefined {
  const v = at(obj, path)
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 65536 ? v : undefined
}

/**
 * The config's incoming `net` entries a client can dial: with a port (an entry without one listens on a random
 * port) and the shs transform (the only one ssb-config writes for `net`).
 */
function netEntries(config: unknown): Array<{ host: string | undefined; port: number }> {
  const net = at(config, ['connections', 'incoming', 'net'])
  if (!Array.isArray(net)) return []
  return net.flatMap((entry: unknown) => {
    const port = numberAt(entry, ['port'])
    const transform = stringAt(entry, ['transform']) ?? 'shs'
    return port !== undefined && transform === 'shs' ? [{ host: stringAt(entry, ['host']), port }] : []
  })
}

/**
 * A host a local client can dial: wildcard and name forms of "this machine" become 127.0.0.1, and so does no host at
 * all (ssb-config then binds every interface, loopback included).
 */
function dialHost(host: string | undefined): string {
  // Node 20 may resolve localhost to ::1 first, where an sbot bound to 127.0.0.1 does not listen.
  if (host === undefined || ['::', '0.0.0.0', 'localhost'].includes(host)) return '127.0.0.1'
  return host.includes(':') ? `[${host}]` : host
}

function tryLoadKeys(path: string): SsbKeys | undefined {
  try {
    return loadKeys(path)
  } catch {
    return undefined
  }
}

function rootMessage(err: unknown): string {
  let e: unknown = err
  while (e instanceof Error && e.cause instanceof Error) e = e.cause
  return e instanceof Error ? e.message : String(e)
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${what.replace(/~shs:.*$/, '')} within ${ms / 1000} s`)), ms)
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    )
  })
}

/**
 * ssb-client's unix-socket transport makes an empty $TMPDIR/multiserver-* folder for every connection (docs/ssb-stack.md).
 * A CLI runs often, so the connection gets a temporary TMPDIR of ours, removed once connected.
 */
async function withTempDir<T>(fn: () => Promise<T>): Promise<T> {
  const previous = process.env.TMPDIR
  const scratch = mkdtempSync(join(tmpdir(), 'buttcloud-cli-'))
  process.env.TMPDIR = scratch
  try {
    return await fn()
  } finally {
    if (previous === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = previous
    rmSync(scratch, { recursive: true, force: true })
  }
}
