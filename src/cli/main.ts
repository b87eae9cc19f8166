#!/usr/bin/env node
/**
 * The `buttcloud` command: how a Patchwork user talks to ButtCloud. Patchwork has no composer for custom message
 * types, so this posts them through the user's own running sbot and reads the answers from its log.
 */
import type { Connection } from './connect.js'
import { EXIT } from './exit-codes.js'
import type { Io } from './format.js'
import { runCli } from './run.js'

function processIo(): Io {
  return {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
    errRaw: (text) => void process.stderr.write(text),
    errIsTTY: Boolean(process.stderr.isTTY),
    now: () => Date.now(),
  }
}

async function main(): Promise<void> {
  let conn: Connection | undefined
  process.once('SIGINT', () => {
    // Leave the spinner's line and let go of the sbot; the command itself is abandoned.
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
    const exit = () => process.exit(EXIT.INTERRUPTED)
    if (conn) conn.close().then(exit, exit)
    else exit()
  })
  const code = await runCli(process.argv.slice(2), processIo(), (c) => (conn = c))
  // Live muxrpc streams and ssb-client's timers can outlive the connection by a while; the answer is already out.
  process.exit(code)
}

await main()
