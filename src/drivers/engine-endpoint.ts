/**
 * Where a Docker engine is, and how it is reached. A remote engine's API is full control of that machine, so it is
 * reached only over TLS with client certificates, or over ssh with a pinned host key; plain `tcp://` (HTTP with no
 * authentication at all) is accepted only on a loopback address, where it never leaves the machine.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import Docker from 'dockerode'

/** An engine as the settings give it: a socket path or URL, or a URL with its TLS or ssh credentials (file paths). */
export type EngineSetting =
  | string
  | {
      url: string
      tls?: { ca: string; cert: string; key: string }
      ssh?: { hostKey: string; privateKey?: string }
    }

/** An engine setting, checked. */
export type EngineEndpoint =
  | { kind: 'socket'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'tls'; host: string; port: number; ca: string; cert: string; key: string }
  | { kind: 'ssh'; host: string; port: number; username: string; hostKey: string; privateKey?: string }

/** `ssh-keygen -lf` prints host key fingerprints in this form. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/

/** True for 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  if (h === 'localhost') return true
  if (isIP(h) === 4) return h.split('.')[0] === '127'
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h)
  return false
}

/** Check an engine setting and say how to reach it; throws with what is wrong and what to use instead. */
export function parseEngine(setting: EngineSetting): EngineEndpoint {
  const { url, tls, ssh } = typeof setting === 'string' ? { url: setting, tls: undefined, ssh: undefined } : setting
  if (url.startsWith('/') || url.startsWith('unix://')) {
    if (tls || ssh) throw new Error(`${url}: a local socket takes no tls or ssh settings`)
    return { kind: 'socket', path: url.replace(/^unix:\/\//, '') }
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Error(`${url}: not an engine address (unix:///path, tcp://host:port or ssh://user@host)`)
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1')
  if (!['tcp:', 'http:', 'https:', 'ssh:'].includes(parsed.protocol)) {
    throw new Error(`${url}: unknown scheme ${parsed.protocol} (use unix://, tcp:// or ssh://)`)
  }
  if (!host) throw new Error(`${url}: no host`)
  if (parsed.protocol === 'ssh:') {
    if (tls) throw new Error(`${url}: tls settings need a tcp:// address`)
    if (!parsed.username) throw new Error(`${url}: ssh needs a user (ssh://user@host)`)
    if (!ssh || !FINGERPRINT.test(ssh.hostKey)) {
      throw new Error(`${url}: ssh needs ssh.hostKey, the host key's SHA256 fingerprint (ssh-keygen -lf), so the engine's host is verified`)
    }
    return {
      kind: 'ssh',
      host,
      port: Number(parsed.port || 22),
      username: decodeURIComponent(parsed.username),
      hostKey: ssh.hostKey,
      ...(ssh.privateKey ? { privateKey: ssh.privateKey } : {}),
    }
  }
  if (ssh) throw new Error(`${url}: ssh settings need an ssh:// address`)
  if (tls) return { kind: 'tls', host, port: Number(parsed.port || 2376), ...tls }
  if (parsed.protocol === 'https:') throw new Error(`${url}: https needs tls { ca, cert, key } (client certificates)`)
  if (!isLoopbackHost(host)) {
    throw new Error(`${url}: plain tcp:// is an unauthenticated engine API, allowed on loopback only; use tls { ca, cert, key } or ssh://user@host`)
  }
  return { kind: 'tcp', host, port: Number(parsed.port || 2375) }
}

/** The host key's fingerprint as `ssh-keygen -lf` prints it. */
export function sshFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

function readCredential(file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new Error(`cannot read the engine's ${what} ${file}`, { cause: err })
  }
}

/** A Docker client for an engine setting, pinned to API 1.41 (Engine 20.10); reads TLS and ssh key files now. */
export function dockerClient(setting: EngineSetting): Docker {
  const common = { version: 'v1.41', timeout: 30_000 }
  const e = parseEngine(setting)
  switch (e.kind) {
    case 'socket':
      // host: undefined, or docker-modem takes the host from a DOCKER_HOST in the environment over the socket.
      return new Docker({ ...common, host: undefined, socketPath: e.path })
    case 'tcp':
      return new Docker({ ...common, host: e.host, port: e.port, protocol: 'http' })
    case 'tls':
      return new Docker({
        ...common,
        host: e.host,
        port: e.port,
        protocol: 'https',
        ca: readCredential(e.ca, 'CA certificate'),
        cert: readCredential(e.cert, 'client certificate'),
        key: readCredential(e.key, 'client key'),
      })
    case 'ssh': {
      const expected = Buffer.from(e.hostKey)
      const sshOptions = {
        ...(e.privateKey ? { privateKey: readCredential(e.privateKey, 'ssh key') } : { agent: process.env.SSH_AUTH_SOCK }),
        // Pinned: a host presenting any other key is refused before anything is sent.
        hostVerifier: (key: Buffer) => {
          const got = Buffer.from(sshFingerprint(key))
          return got.length === expected.length && timingSafeEqual(got, expected)
        },
      }
      return new Docker({ ...common, protocol: 'ssh', host: e.host, port: e.port, username: e.username, sshOptions })
    }
  }
}
