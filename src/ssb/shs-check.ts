/**
 * A complete secret handshake (shs v1) with an SSB server, and nothing more: it proves that a server of this network
 * (caps) holding the given identity accepts connections on that port. The client is a fresh throwaway key each
 * time, so the server sees an anonymous peer that leaves at once. Only a complete handshake: a half one (a hello and
 * a hang-up) makes multiserver print the failure and its stack on the server's stderr every time.
 */
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { Duplex } from 'pull-stream'
import { pull } from './pull.js'

const require = createRequire(import.meta.url)

interface ShsKeys {
  publicKey: Buffer
  secretKey: Buffer
}
const shs = require('secret-handshake') as {
  toKeys(seed: Buffer): ShsKeys
  createClient(keys: ShsKeys, appKey: Buffer, timeoutMs: number): (server: Buffer, cb: (err: Error | null, stream?: Duplex<Buffer, Buffer>) => void) => Duplex<Buffer, Buffer>
}
const toPull = require('stream-to-pull-stream') as { duplex(socket: NodeJS.ReadWriteStream): Duplex<Buffer, Buffer> }

/** Resolves once the server at host:port completed a handshake as `serverId` on the network `capsBase64`. */
export function shsHandshake(host: string, port: number, capsBase64: string, serverId: string, timeoutMs = 3000): Promise<void> {
  const serverKey = Buffer.from(serverId.replace(/^@/, '').replace(/\.ed25519$/, ''), 'base64')
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    let done = false
    const timer = setTimeout(() => finish(new Error(`no handshake with ${host}:${port} within ${timeoutMs} ms`)), timeoutMs)
    function finish(err?: Error): void {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve()
    }
    socket.on('error', (err) => finish(new Error(`cannot reach ${host}:${port}: ${err.message}`)))
    socket.on('connect', () => {
      const client = shs.createClient(shs.toKeys(randomBytes(32)), Buffer.from(capsBase64, 'base64'), timeoutMs)(serverKey, (err) =>
        finish(err ? new Error(`no handshake with ${serverId} at ${host}:${port}: ${err.message}`) : undefined),
      )
      const net = toPull.duplex(socket)
      pull(net.source, client, net.sink)
    })
  })
}
