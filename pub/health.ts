/**
 * Health check: exits 0 only when the pub answers a muxrpc `whoami` over its unix socket with its own id.
 *
 * It speaks the packet-stream framing itself (a 9-byte header and a JSON body) with nothing but node:net, because
 * Docker runs it inside the pub's container, within the pub's memory limit, every few seconds: loading the SSB stack
 * (ssb-client and its dependencies) would cost tens of MB and a few hundred ms per probe. The socket uses the
 * no-auth transform, so there is no handshake before the first frame.
 *
 * Usage: node health.js [dataDir]  (default $PUB_DATA or /data); PUB_KEY_FILE, when set, names the expected id.
 */
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const FEED_RE = /^@[A-Za-z0-9+/]{43}=\.ed25519$/
// Flag bits of a packet-stream header: body type in the low two bits, then `end` and `stream`.
const TYPE_JSON = 2
const FLAG_END = 4

/** Ask the pub behind `socketPath` for its id; resolves with it, rejects on silence, errors or a malformed answer. */
export function whoamiOverSocket(socketPath: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath)
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    let buffered = Buffer.alloc(0)
    let done = false

    function finish(err: Error | null, id?: string): void {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve(id!)
    }

    socket.on('error', (err) => finish(new Error(`cannot reach ${socketPath}: ${err.message}`)))
    socket.on('close', () => finish(new Error('the pub closed the connection without answering')))
    socket.on('connect', () => socket.write(frame(1, { name: ['whoami'], args: [], type: 'async' })))
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      // The server may send its own requests first; skip every frame that is not the answer to request 1.
      while (buffered.length >= 9) {
        const flags = buffered[0]!
        const length = buffered.readUInt32BE(1)
        const req = buffered.readInt32BE(5)
        if (buffered.length < 9 + length) return
        const body = buffered.subarray(9, 9 + length)
        buffered = buffered.subarray(9 + length)
        if (req !== -1) continue
        try {
          if ((flags & 3) !== TYPE_JSON) throw new Error('whoami answered with a non-JSON body')
          const value = JSON.parse(body.toString('utf8')) as { id?: unknown; message?: unknown }
          if (flags & FLAG_END) throw new Error(`whoami failed: ${String(value.message ?? 'unknown error')}`)
          if (typeof value.id !== 'string' || !FEED_RE.test(value.id)) throw new Error('whoami answered without a feed id')
          finish(null, value.id)
        } catch (err) {
          finish(err as Error)
        }
        return
      }
    })
  })
}

function frame(req: number, body: object): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8')
  const head = Buffer.alloc(9)
  head[0] = TYPE_JSON
  head.writeUInt32BE(json.length, 1)
  head.writeInt32BE(req, 5)
  return Buffer.concat([head, json])
}

/** The feed id inside an ssb-keys secret file (comment lines, then JSON), or undefined when unreadable. */
export function idFromKeyFile(path: string): string | undefined {
  try {
    const json = readFileSync(path, 'utf8').replace(/^\s*#.*$/gm, '')
    const id = (JSON.parse(json) as { id?: unknown }).id
    return typeof id === 'string' ? id : undefined
  } catch {
    return undefined
  }
}

async function main(): Promise<void> {
  const dataDir = process.argv[2] ?? process.env.PUB_DATA ?? '/data'
  const keyFile = process.env.PUB_KEY_FILE || join(dataDir, 'secret')
  const expected = idFromKeyFile(keyFile)
  try {
    const id = await whoamiOverSocket(join(dataDir, 'socket'))
    if (expected !== undefined && id !== expected) throw new Error(`the pub answered as ${id}, expected ${expected}`)
    process.stdout.write(`healthy: ${id}\n`)
    process.exit(0)
  } catch (err) {
    process.stderr.write(`unhealthy: ${(err as Error).message}\n`)
    process.exit(1)
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main()
