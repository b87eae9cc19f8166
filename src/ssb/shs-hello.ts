/**
 * The first exchange of the secret handshake (shs v1), and nothing more: a client hello (an ephemeral curve25519 key
 * and its HMAC under the network key) and the server's hello in answer, checked with the same key. A server answers
 * only a hello made with its own network key, so an answer proves that an SSB server of this network accepts
 * connections on that port, for ~0.2 ms of CPU (no ed25519 signatures, no muxrpc). The server then waits for the
 * client's authentication, which never comes: the socket is closed and the server drops the half-open handshake.
 */
import { createHmac, generateKeyPairSync, timingSafeEqual } from 'node:crypto'
import { connect } from 'node:net'

/** HMAC-SHA-512 cut to 32 bytes: libsodium's crypto_auth, which shs uses for hellos. */
function auth(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha512', key).update(data).digest().subarray(0, 32)
}

/** A fresh ephemeral x25519 public key (32 raw bytes). */
function ephemeralPublicKey(): Buffer {
  const der = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' })
  return der.subarray(der.length - 32)
}

/** Resolves once the shs server at host:port answers our hello with a valid hello for `capsBase64`; rejects otherwise. */
export function shsHello(host: string, port: number, capsBase64: string, timeoutMs = 3000): Promise<void> {
  const caps = Buffer.from(capsBase64, 'base64')
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    let answer = Buffer.alloc(0)
    let done = false
    let ours: Buffer = Buffer.alloc(0)
    const timer = setTimeout(() => finish(new Error(`no shs answer from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs)
    function finish(err?: Error): void {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve()
    }
    socket.on('error', (err) => finish(new Error(`cannot reach ${host}:${port}: ${err.message}`)))
    socket.on('close', () => finish(new Error(`${host}:${port} closed the connection without a shs answer (another network key?)`)))
    socket.on('connect', () => {
      const pk = ephemeralPublicKey()
      ours = pk
      socket.write(Buffer.concat([auth(caps, pk), pk]))
    })
    socket.on('data', (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk])
      if (answer.length < 64) return
      // Our own hello sent back (an echo) carries a valid HMAC too: a server's hello has a key of its own.
      const theirs = answer.subarray(32, 64)
      const ok = !theirs.equals(ours) && timingSafeEqual(answer.subarray(0, 32), auth(caps, theirs))
      finish(ok ? undefined : new Error(`${host}:${port} answered with a hello that is not of this network`))
    })
  })
}
