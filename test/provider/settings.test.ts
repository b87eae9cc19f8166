/** Provider settings: the engine addresses accepted and refused at load, and backoff bounds. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isLoopbackHost, parseEngine } from '../../src/drivers/engine-endpoint.js'
import { loadSettings } from '../../src/provider/settings.js'
import { buildOffer, pluginConfig } from '../../plugins/buttcloud/config.js'

const dir = mkdtempSync(join(tmpdir(), 'bc-settings-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const FP = `SHA256:${'A'.repeat(43)}`
const TLS = { ca: '/etc/buttcloud/ca.pem', cert: '/etc/buttcloud/cert.pem', key: '/etc/buttcloud/key.pem' }

let n = 0
/** Load a settings file whose runtime section is `runtime`. */
function load(runtime: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, `provider-${n++}.json`)
  writeFileSync(file, JSON.stringify({ path: join(dir, 'data'), host: '127.0.0.1', port: 0, runtime: { kind: 'swarm', ...runtime } }))
  return loadSettings(file, env)
}

describe('the image registry in the settings', () => {
  it.each([['registry.example.org'], ['198.51.100.1:5000'], ['registry.example.org:443/buttcloud']])('accepts %s', (registry) => {
    expect(load({ registry }).runtime.registry).toBe(registry)
  })

  it.each([
    ['a URL with a scheme', 'https://registry.example.org'],
    ['upper case', 'Registry.example.org'],
    ['an image name with a tag', 'registry.example.org/buttcloud-pub:1.0'],
    ['a space', 'registry example.org'],
  ])('refuses %s, naming the field', (_what, registry) => {
    expect(() => load({ registry })).toThrow(/registry: host\[:port\]\[\/path\]/)
  })
})

describe('engine addresses in the settings', () => {
  it.each([
    ['a unix socket', 'unix:///run/buttcloud/docker.sock'],
    ['a bare socket path', '/var/run/docker.sock'],
    ['plain tcp on 127.0.0.1', 'tcp://127.0.0.1:2375'],
    ['plain tcp on another loopback address', 'tcp://127.4.5.6:2375'],
    ['plain tcp on localhost', 'tcp://localhost:2375'],
    ['plain tcp on ::1', 'tcp://[::1]:2375'],
    ['TLS with client certificates', { url: 'tcp://hub2.example.net:2376', tls: TLS }],
    ['https with client certificates', { url: 'https://192.0.2.10:2376', tls: TLS }],
    ['ssh with a pinned host key and a key file', { url: 'ssh://docker@hub3.example.net:2222', ssh: { hostKey: FP, privateKey: '/etc/buttcloud/id_ed25519' } }],
    ['ssh with a pinned host key and the agent', { url: 'ssh://docker@hub3.example.net', ssh: { hostKey: FP } }],
  ])('accepts %s', (_what, engine) => {
    expect(load({ docker: engine, hubEngines: [engine] }).runtime.docker).toEqual(engine)
  })

  it.each([
    ['plain tcp to a remote host', 'tcp://hub2.example.net:2375', /plain tcp:\/\/ is an unauthenticated engine API, allowed on loopback only/],
    ['plain tcp to a remote address', 'tcp://192.0.2.10:2375', /allowed on loopback only/],
    ['plain http to a remote host', 'http://hub2.example.net', /allowed on loopback only/],
    ['a host that only looks like loopback', 'tcp://127.0.0.1.example.net:2375', /allowed on loopback only/],
    ['https without certificates', 'https://hub2.example.net:2376', /https needs tls \{ ca, cert, key \}/],
    ['TLS missing its key', { url: 'tcp://hub2.example.net:2376', tls: { ca: TLS.ca, cert: TLS.cert } }, /runtime\.docker: tls\.key: /],
    ['ssh without a pinned host key', 'ssh://docker@hub3.example.net', /ssh needs ssh\.hostKey/],
    ['ssh with a malformed host key', { url: 'ssh://docker@hub3.example.net', ssh: { hostKey: 'MD5:aa:bb' } }, /ssh needs ssh\.hostKey/],
    ['ssh without a user', { url: 'ssh://hub3.example.net', ssh: { hostKey: FP } }, /ssh needs a user/],
    ['TLS settings on an ssh address', { url: 'ssh://docker@hub3.example.net', ssh: { hostKey: FP }, tls: TLS }, /tls settings need a tcp:\/\/ address/],
    ['TLS settings on a socket', { url: 'unix:///var/run/docker.sock', tls: TLS }, /a local socket takes no tls or ssh settings/],
    ['an unknown scheme', 'npipe:////./pipe/docker_engine', /unknown scheme npipe:/],
  ])('refuses %s, with a clear message', (_what, engine, message) => {
    expect(() => load({ docker: engine })).toThrow(message)
    expect(() => load({ hubEngines: ['unix:///var/run/docker.sock', engine] })).toThrow(/runtime\.hubEngines\.1/)
  })

  it('holds DOCKER_HOST, the fallback when the file names no engine, to the same rules', () => {
    expect(() => load({}, { DOCKER_HOST: 'tcp://hub2.example.net:2375' })).toThrow(/invalid DOCKER_HOST.*allowed on loopback only/)
    expect(load({}, { DOCKER_HOST: 'unix:///var/run/docker.sock' }).runtime.docker).toBeUndefined()
    // A file that names its engine is not overridden by the environment.
    expect(load({ docker: '/var/run/docker.sock' }, { DOCKER_HOST: 'tcp://hub2.example.net:2375' }).runtime.docker).toBe('/var/run/docker.sock')
  })

  it('gives the default ports: 2375 plain, 2376 TLS, 22 ssh', () => {
    expect(parseEngine('tcp://127.0.0.1')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 2375 })
    expect(parseEngine({ url: 'tcp://hub2.example.net', tls: TLS })).toMatchObject({ kind: 'tls', port: 2376 })
    expect(parseEngine({ url: 'ssh://docker@hub3.example.net', ssh: { hostKey: FP } })).toMatchObject({ kind: 'ssh', port: 22, username: 'docker' })
  })

  it.each([
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['localhost', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['128.0.0.1', false],
    ['127.0.0.1.example.net', false],
    ['0.0.0.0', false],
    ['hub.example.net', false],
  ])('isLoopbackHost(%s) is %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback)
  })
})

describe('backoff settings', () => {
  it('takes a base and a cap, and refuses a base above the cap', () => {
    expect(load({ backoff: { baseMs: 500, maxMs: 60_000 } }).runtime.backoff).toEqual({ baseMs: 500, maxMs: 60_000 })
    expect(() => load({ backoff: { baseMs: 60_000, maxMs: 500 } })).toThrow(/backoff\.baseMs must not exceed backoff\.maxMs/)
    expect(() => load({ backoff: { baseMs: 0, maxMs: 500 } })).toThrow(/runtime\.backoff\.baseMs/)
  })
})

describe('the operator in the settings', () => {
  const operator = { name: 'Example Pubs Ltd', contact: 'help@pay.example', jurisdiction: 'Ireland' }
  /** Load a settings file whose buttcloud section is `section`. */
  function loadSection(section: Record<string, unknown>) {
    const file = join(dir, `provider-${n++}.json`)
    writeFileSync(file, JSON.stringify({ path: join(dir, 'data'), host: '127.0.0.1', port: 0, buttcloud: section }))
    return loadSettings(file, {})
  }

  it('reaches the published offer, checked against its schema', () => {
    const settings = loadSection({ operator })
    expect(buildOffer(pluginConfig(settings.buttcloud))).toMatchObject({ type: 'buttcloud/offer', operator })
    // Without one the offer is as before: no operator field at all.
    expect(buildOffer(pluginConfig(loadSection({}).buttcloud))).not.toHaveProperty('operator')
  })

  it('is refused at load when incomplete', () => {
    expect(() => loadSection({ operator: { name: 'Example Pubs Ltd', contact: 'help@pay.example' } })).toThrow(/jurisdiction/)
  })
})

describe('the payment site port from the environment', () => {
  /** Load a settings file with this web section. */
  function loadWeb(web: Record<string, unknown> | undefined, env: NodeJS.ProcessEnv) {
    const file = join(dir, `provider-${n++}.json`)
    writeFileSync(file, JSON.stringify({ path: join(dir, 'data'), host: '127.0.0.1', port: 0, ...(web ? { web } : {}) }))
    return loadSettings(file, env).web
  }

  it('BUTTCLOUD_WEB_PORT alone moves pay links that pointed at the site itself', () => {
    expect(loadWeb({ host: '127.0.0.1', port: 8119, publicUrl: 'http://127.0.0.1:8119' }, { BUTTCLOUD_WEB_PORT: '9119' })).toMatchObject({ port: 9119, publicUrl: 'http://127.0.0.1:9119' })
    expect(loadWeb(undefined, { BUTTCLOUD_WEB_PORT: '9120' })).toMatchObject({ port: 9120, publicUrl: 'http://127.0.0.1:9120' })
  })

  it('keeps a public URL behind a proxy, and BUTTCLOUD_PUBLIC_URL wins', () => {
    expect(loadWeb({ host: '127.0.0.1', port: 8119, publicUrl: 'https://pay.example.org' }, { BUTTCLOUD_WEB_PORT: '9119' })).toMatchObject({ port: 9119, publicUrl: 'https://pay.example.org' })
    expect(loadWeb({ host: '127.0.0.1', port: 8119, publicUrl: 'http://127.0.0.1:8119' }, { BUTTCLOUD_WEB_PORT: '9119', BUTTCLOUD_PUBLIC_URL: 'http://127.0.0.1:7000' })).toMatchObject({ port: 9119, publicUrl: 'http://127.0.0.1:7000' })
  })
})
