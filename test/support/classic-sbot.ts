/**
 * A classic ssb-server 16 (the server Patchwork embeds) as a child process: the user's sbot in end-to-end tests.
 * docs/ssb-stack.md: its close(true) never calls back, so it runs in its own process and is ended by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectClient, type SbotClient } from '../../src/ssb/client.js'
import { keysFileText, generateKeys, type SsbKeys } from '../../src/ssb/keys.js'
import { multiserverAddress, type FeedId } from '../../src/protocol/ids.js'
import { freePort } from '../../testkit/ports.js'
import { Fatal, waitFor } from '../../testkit/wait.js'

const require = createRequire(import.meta.url)

export interface ClassicSbot {
  id: FeedId
  keys: SsbKeys
  /** The ~/.ssb-like folder: config, secret, log. Point the CLI at it with --ssb-dir. */
  dir: string
  port: number
  address: string
  /** A muxrpc client with the server's own key (full rights, as Patchwork has). */
  client: SbotClient
  child: ChildProcess
  /** Server output so far, for failing tests to show. */
  output(): string
  stop(): Promise<void>
}

/** node's arguments for another classic-stack server in `dir` on 127.0.0.1:`port` (its `secret` is there already). */
export type ServerCommand = (dir: string, port: number) => string[] | Promise<string[]>

/** Start a classic ssb-server (or, with `server`, another classic-stack sbot) on 127.0.0.1 in a temp folder; resolves once it answers whoami. */
export async function startClassicSbot(opts: { caps?: string; keep?: boolean; server?: ServerCommand } = {}): Promise<ClassicSbot> {
  const dir = mkdtempSync(join(tmpdir(), 'bc-classic-'))
  const port = await freePort()
  const keys = generateKeys()
  writeFileSync(join(dir, 'secret'), keysFileText(keys), { mode: 0o600 })
  const config: Record<string, unknown> = {
    path: dir,
    host: '127.0.0.1',
    port,
    allowPrivate: true,
    // No LAN broadcast (ssb-local): tests talk to 127.0.0.1 only.
    gossip: { local: false, connections: 3 },
    connections: {
      incoming: {
        net: [{ host: '127.0.0.1', port, scope: ['device', 'local', 'public'], transform: 'shs' }],
        unix: [{ scope: 'device', transform: 'noauth' }],
      },
      outgoing: { net: [{ transform: 'shs' }] },
    },
    logging: { level: 'notice' },
  }
  if (opts.caps) config.caps = { shs: opts.caps }
  writeFileSync(join(dir, 'config'), JSON.stringify(config, null, 2))

  const args = opts.server ? await opts.server(dir, port) : [require.resolve('ssb-server/bin.js'), 'start', '--config', join(dir, 'config'), '--path', dir]
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ssb_appname: 'ssb' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)

  const address = multiserverAddress('127.0.0.1', port, keys.id)
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
    if (!opts.keep) rmSync(dir, { recursive: true, force: true })
  }

  let client: SbotClient
  try {
    client = await waitFor(
      'ssb-server to answer',
      () => {
        if (child.exitCode !== null) throw new Fatal(`ssb-server exited with ${child.exitCode}:\n${output}`)
        return connectClient(keys, address, { caps: opts.caps })
      },
      { timeoutMs: 20_000, intervalMs: 150 },
    )
  } catch (err) {
    await stop()
    if (err instanceof Fatal) throw err
    throw new Error(`ssb-server did not answer within 20 s:\n${output}`, { cause: err })
  }
  return {
    id: keys.id,
    keys,
    dir,
    port,
    address,
    client,
    child,
    output: () => output,
    stop: async () => {
      await new Promise<void>((resolve) => client.close(() => resolve()))
      await stop()
    },
  }
}
