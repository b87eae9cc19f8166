/**
 * What the CLI's end-to-end tests share: the BUILT bin as a child process, a db2 sbot as the user's own sbot, and a
 * stand-in provider (a db2 sbot that publishes hand-built, schema-checked offers, statuses and replies boxed to the
 * user). The real provider is tested elsewhere; here the provider's side is scripted so every CLI path is reachable.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkOutgoing, type ButtcloudContent, type ContentOf, type MessageType } from '../../src/protocol/index.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { closeSbot, type Sbot } from '../../src/ssb/server.js'
import { removeLater, startSbot } from '../../testkit/sbots.js'
import { freePort } from '../../testkit/ports.js'
import { waitFor } from '../../testkit/wait.js'

export const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url))

/** Fail loudly when the build is missing: these tests exist to run the compiled output. */
export function requireBuild(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`)
}

export interface BinResult {
  code: number | null
  stdout: string
  stderr: string
}

/** A running bin: its output so far and its result once it exits. */
export interface BinRun {
  stdout(): string
  result: Promise<BinResult>
}

/** Start the built CLI with these arguments. */
export function startBin(args: string[], opts: { killAfterMs?: number } = {}): BinRun {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  // A CLI that hangs must not hang the suite: kill it, and the test sees a null exit code.
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 30_000)
  const result = new Promise<BinResult>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(killer)
      resolve({ code, stdout, stderr })
    }),
  )
  return { stdout: () => stdout, result }
}

/** Run the built CLI to completion. */
export function runBin(args: string[], opts: { killAfterMs?: number } = {}): Promise<BinResult> {
  return startBin(args, opts).result
}

/** A db2 sbot in a temp folder with a `secret` file, as a user's ~/.ssb would have one. */
export interface Db2Node {
  sbot: Sbot
  keys: SsbKeys
  id: FeedId
  dir: string
  /** The message with this id, decrypted when it was boxed to this node; undefined until it has arrived. */
  message(id: MsgId): Promise<SsbMsg | undefined>
  close(): Promise<void>
}

/**
 * Start a db2 sbot on 127.0.0.1 on a free port. Only one server per process can have a unix socket (multiserver's
 * unix transport keeps a module-wide "started" flag), so only the user's node asks for one.
 */
export async function startDb2Node(label: string, opts: { socket: boolean } = { socket: true }): Promise<Db2Node> {
  // ssb-invite writes the listening port into its codes, so the port is chosen up front rather than 0.
  const port = await freePort()
  const { sbot, keys, dir } = startSbot({ prefix: `bc-cli-${label}-`, port, allowPrivate: true, unixSocket: opts.socket })
  // The unix socket appears once the server listens; the CLI finds the folder ready only then.
  if (opts.socket) await waitFor(`${label} to listen on its socket`, () => (existsSync(join(dir, 'socket')) ? true : undefined), { timeoutMs: 10_000 })
  return {
    sbot,
    keys,
    id: keys.id,
    dir,
    message: (id) => call<SsbMsg>(sbot.db.getMsg, id).catch(() => undefined),
    close: async () => {
      await closeSbot(sbot)
      // ssb-db2 may still write index files just after close: the folder goes when the test process ends.
      removeLater(dir)
    },
  }
}

/** The stand-in provider: a db2 node that publishes ButtCloud messages through the protocol's outgoing gate. */
export interface StandInProvider extends Db2Node {
  invite(): Promise<string>
  /** Publish schema-checked content; boxed (box1) when it carries recps. */
  post<T extends MessageType>(type: T, content: ContentOf<T>): Promise<SsbMsg>
}

/** Start a stand-in provider. */
export async function startStandInProvider(): Promise<StandInProvider> {
  const node = await startDb2Node('provider', { socket: false })
  return {
    ...node,
    invite: () => call<string>(node.sbot.invite.create, { uses: 1 }),
    post: (type, content) => {
      const checked: ButtcloudContent = checkOutgoing(type, content)
      return publish(node.sbot.db, checked)
    },
  }
}

/** Parse stderr under --json: every line must be a JSON object. */
export function jsonLines(stderr: string): unknown[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as unknown
      } catch (err) {
        throw new Error(`a stderr line is not JSON: ${line}`, { cause: err })
      }
    })
}

/** Parse a bin's stdout as JSON, showing the whole run when it is not JSON. */
export function json<T>(r: BinResult): T {
  try {
    return JSON.parse(r.stdout) as T
  } catch (err) {
    throw new Error(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`, { cause: err })
  }
}
