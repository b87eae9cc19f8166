/** Shared by the pub tests and bench/density.ts: running the built pub, reading feeds, a replication source. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FeedId } from '../src/protocol/ids.js'
import { clientCall, clientSource, type SbotClient } from '../src/ssb/client.js'
import { generateKeys, keysFileText, type SsbKeys } from '../src/ssb/keys.js'
import type { SsbMsg } from '../src/ssb/message.js'
import { collect } from '../src/ssb/pull.js'
import { closeSbot, type Sbot } from '../src/ssb/server.js'
import { removeAfterLateWrites, startSbot } from './sbots.js'

/** The repository root, whether this file runs from testkit (tsx, vitest) or from dist/testkit (built, for bench). */
export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)))

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'pub'))) return dir
    if (dirname(dir) === dir) throw new Error(`no repository root above ${from}`)
  }
}
export const PUB_MAIN = join(REPO_ROOT, 'dist/pub/main.js')
export const PUB_HEALTH = join(REPO_ROOT, 'dist/pub/health.js')

/** Throw unless dist/ holds a build of the pub at least as new as its sources (tests run the built output). */
export function assertPubBuilt(): void {
  if (!existsSync(PUB_MAIN)) throw new Error('dist/pub/main.js is missing: run `npm run build` first')
  const built = statSync(PUB_MAIN).mtimeMs
  for (const dir of ['pub', 'pub/image']) {
    for (const name of readdirSync(join(REPO_ROOT, dir))) {
      if (!name.endsWith('.ts')) continue
      const js = join(REPO_ROOT, 'dist', dir, name.replace(/\.ts$/, '.js'))
      if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(REPO_ROOT, dir, name)).mtimeMs || statSync(js).mtimeMs < built - 60_000) {
        throw new Error(`dist/${dir}/${name.replace(/\.ts$/, '.js')} is older than its source: run \`npm run build\` first`)
      }
    }
  }
}

/** A fresh temp folder with a short path (the pub's unix socket path must stay under 108 bytes). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** Write keys as an ssb-keys secret file. */
export function writeKeyFile(path: string, keys: SsbKeys): string {
  writeFileSync(path, keysFileText(keys), { mode: 0o600 })
  return path
}

export interface ReadyLine {
  event: 'ready'
  id: FeedId
  address: string
  name: string
  published: string[]
  web: number | null
  ms: number
}

/** A pub started as `node dist/pub/main.js`. */
export interface PubProcess {
  child: ChildProcess
  ready: Promise<ReadyLine>
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>
  output(): string
  /** Send a signal and wait for the exit; resolves with the exit code (or the signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>
}

/** Spawn the built pub with `env` (plus PATH); `ready` rejects if it exits first. */
export function spawnPub(env: Record<string, string>, nodeFlags: string[] = []): PubProcess {
  const child = spawn(process.execPath, [...nodeFlags, PUB_MAIN], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  let stdoutLines = ''
  const exited = new Promise<number | string>((resolveExit) => child.once('exit', (code, signal) => resolveExit(code ?? signal ?? -1)))
  const ready = new Promise<ReadyLine>((resolveReady, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      stdoutLines += chunk.toString()
      let nl: number
      while ((nl = stdoutLines.indexOf('\n')) !== -1) {
        const line = stdoutLines.slice(0, nl)
        stdoutLines = stdoutLines.slice(nl + 1)
        try {
          const event = JSON.parse(line) as { event?: string }
          if (event.event === 'ready') resolveReady(event as ReadyLine)
        } catch {
          // Not one of our JSON lines (a library's log output).
        }
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    void exited.then((code) => reject(new Error(`the pub exited (${code}) before it was ready:\n${output}`)))
  })
  ready.catch(() => undefined)
  return {
    child,
    ready,
    exited,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

/** Run the built health check against a data folder; resolves with its exit code and output. */
export function runHealthCheck(dataDir: string, env: Record<string, string> = {}): { code: number | null; output: string } {
  const out = spawnSync(process.execPath, [PUB_HEALTH, dataDir], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 10_000 })
  return { code: out.status, output: out.stdout + out.stderr }
}

/** Every message of a feed, as the sbot behind `client` has it. */
export async function feedMessages(client: SbotClient, id: FeedId): Promise<SsbMsg[]> {
  return (await collect(clientSource(client, 'createHistoryStream', { id, keys: true }))) as SsbMsg[]
}

/** The sequence number the sbot behind `client` has for each feed (ssb-ebt's clock). */
export function vectorClock(client: SbotClient): Promise<Record<string, number>> {
  return clientCall<Record<string, number>>(client, 'ebt.clock', { format: 'classic' })
}

/**
 * A db2 sbot in this process that holds `feeds` feeds of `perFeed` messages each (signed with their own keys) and
 * offers them over EBT: the replication source a pub ingests from.
 */
export interface FeedSource {
  sbot: Sbot
  dir: string
  feeds: SsbKeys[]
  total: number
  close(): Promise<void>
}

/** Create a replication source (writing its messages takes ~0.1-0.3 ms each). */
export async function startFeedSource(opts: { feeds: number; perFeed: number; contentBytes?: number }): Promise<FeedSource> {
  const { sbot, dir } = startSbot({ prefix: 'bc-src-', unixSocket: false, allowPrivate: true, hops: 0 })
  const feeds = Array.from({ length: opts.feeds }, () => generateKeys())
  // Messages of ordinary size (a short post): enough text that ingestion does real work per message.
  const text = 'x'.repeat(opts.contentBytes ?? 200)
  for (const feed of feeds) {
    for (let i = 1; i <= opts.perFeed; i++) {
      await new Promise<void>((res, rej) =>
        sbot.db.create({ content: { type: 'post', text: `${i} ${text}` }, keys: feed }, (err) => (err ? rej(err) : res())),
      )
    }
    // The source must replicate these feeds itself, or its EBT never offers them to peers.
    sbot.ebt.request(feed.id, true)
  }
  return {
    sbot,
    dir,
    feeds,
    total: opts.feeds * opts.perFeed,
    close: async () => {
      await closeSbot(sbot)
      await removeAfterLateWrites([dir])
    },
  }
}
