/**
 * A remote engine over TLS with client certificates. A second Docker engine cannot run beside the tests' shared Swarm
 * engine here (dockerd writes fixed paths under /run and /var/lib/docker), so an HTTPS server that verifies client
 * certificates against a CA this test makes with openssl stands in for the engine's API: it shows the Swarm driver,
 * built from the settings, presents the configured client certificate and checks the engine's, and that clients
 * without the right certificate are refused.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { driverFromSettings } from '../../src/provider/runtime-from-settings.js'
import { dockerClient } from '../../src/drivers/engine-endpoint.js'
import { testProviderSettings } from '../../testkit/sbots.js'

const dir = mkdtempSync(join(tmpdir(), 'bc-engine-tls-'))
const file = (name: string) => join(dir, name)

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' })
}

/** A CA, and a certificate it signs for `cn` with the given extensions. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`))
}
function issue(ca: string, name: string, cn: string, ext: string): void {
  writeFileSync(file(`${name}.ext`), `${ext}\n`)
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`,
    '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`))
  openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${ca}.pem`), '-CAkey', file(`${ca}.key`), '-CAcreateserial',
    '-days', '1', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`))
}

let server: Server
let port: number
/** Who reached the stand-in engine: the client certificate's CN and the path asked for. */
const seen: Array<{ cn: string; path: string }> = []

beforeAll(async () => {
  makeCa('ca')
  makeCa('rogue-ca')
  issue('ca', 'engine', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth')
  issue('ca', 'provider', 'buttcloud-provider', 'extendedKeyUsage=clientAuth')
  issue('rogue-ca', 'rogue', 'buttcloud-provider', 'extendedKeyUsage=clientAuth')
  server = createServer(
    { key: readFileSync(file('engine.key')), cert: readFileSync(file('engine.pem')), ca: readFileSync(file('ca.pem')), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      seen.push({ cn: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN), path: req.url ?? '' })
      res.setHeader('content-type', 'application/json')
      // Enough of the engine's API for the driver's hub listing: a swarm with no nodes and no tasks.
      if (req.url?.startsWith('/v1.41/nodes') || req.url?.startsWith('/v1.41/tasks')) return void res.end('[]')
      if (req.url?.startsWith('/v1.41/version')) return void res.end(JSON.stringify({ ApiVersion: '1.41', Version: 'stand-in' }))
      res.statusCode = 404
      res.end(JSON.stringify({ message: 'not in the stand-in' }))
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()))
  rmSync(dir, { recursive: true, force: true })
})

const tls = (prefix: string, ca = 'ca') => ({ ca: file(`${ca}.pem`), cert: file(`${prefix}.pem`), key: file(`${prefix}.key`) })

describe('a remote engine over TLS', () => {
  it('is reached by the Swarm driver built from the settings, with the client certificate they name', async () => {
    const settings = testProviderSettings({
      runtime: { kind: 'swarm', docker: { url: `tcp://127.0.0.1:${port}`, tls: tls('provider') }, buildImage: false },
    })
    const driver = driverFromSettings(settings)!
    try {
      seen.length = 0
      expect(await driver.listHubs()).toEqual([])
      expect(seen.map((s) => s.path.split('?')[0]).sort()).toEqual(['/v1.41/nodes', '/v1.41/tasks'])
      expect(seen.every((s) => s.cn === 'buttcloud-provider')).toBe(true)
    } finally {
      rmSync(settings.path, { recursive: true, force: true })
      await driver.close()
    }
  })

  it('refuses a client without a certificate, and one whose certificate another CA signed', async () => {
    seen.length = 0
    const bare = new Docker({ protocol: 'https', host: '127.0.0.1', port, ca: readFileSync(file('ca.pem')), version: 'v1.41', timeout: 5000 })
    await expect(bare.version()).rejects.toThrow(/certificate required|socket hang up|ECONNRESET/)
    await expect(dockerClient({ url: `tcp://127.0.0.1:${port}`, tls: tls('rogue') }).version()).rejects.toThrow(/unknown ca|socket hang up|ECONNRESET/)
    expect(seen).toEqual([])
    // The same call with the right certificate goes through: the refusals above were the certificates.
    expect(await dockerClient({ url: `tcp://127.0.0.1:${port}`, tls: tls('provider') }).version()).toMatchObject({ Version: 'stand-in' })
  })

  it('refuses an engine whose certificate its CA did not sign', async () => {
    seen.length = 0
    await expect(dockerClient({ url: `tcp://127.0.0.1:${port}`, tls: tls('provider', 'rogue-ca') }).version()).rejects.toThrow(/certificate/i)
    expect(seen).toEqual([])
  })

  it('says which credential file it cannot read', () => {
    expect(() => dockerClient({ url: 'tcp://127.0.0.1:1', tls: { ...tls('provider'), key: file('missing.key') } })).toThrow(/cannot read the engine's client key .*missing\.key/)
  })
})
