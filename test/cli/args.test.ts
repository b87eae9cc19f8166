import { describe, expect, it } from 'vitest'
import { parseCommandLine } from '../../src/cli/args.js'
import { defaultSsbDir, planConnection } from '../../src/cli/connect.js'
import { CliError, EXIT } from '../../src/cli/exit-codes.js'
import { clean, formatDuration, formatPrice } from '../../src/cli/format.js'
import { MAIN_NETWORK_CAPS } from '../../src/ssb/keys.js'
import { PROVIDER, feedId } from './messages.js'

function usageError(argv: string[]): string {
  try {
    parseCommandLine(argv)
  } catch (err) {
    expect(err).toBeInstanceOf(CliError)
    expect((err as CliError).code).toBe(EXIT.USAGE)
    return (err as CliError).message
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`)
}

describe('parseCommandLine', () => {
  it('reads global options wherever they stand', () => {
    expect(parseCommandLine(['--ssb-dir', '/x', 'pubs', '--json'])).toEqual({
      kind: 'run',
      global: { ssbDir: '/x', json: true },
      command: { name: 'pubs', connect: true },
    })
    expect(parseCommandLine(['pubs', '--ssb-dir', '/m', '--host', 'sbot.example', '--port', '26831', '--no-connect'])).toEqual({
      kind: 'run',
      global: { ssbDir: '/m', host: 'sbot.example', port: 26831, json: false },
      command: { name: 'pubs', connect: false },
    })
    expect(parseCommandLine(['status', '--remote', 'net:h:1~shs:k', '%abc', '--key-file', '/k'])).toEqual({
      kind: 'run',
      global: { remote: 'net:h:1~shs:k', keyFile: '/k', json: false },
      command: { name: 'status', pub: '%abc' },
    })
  })

  it('parses request with every option, checked by the protocol schemas', () => {
    const inv = parseCommandLine(['request', '--plan', 'small', '--name', 'My pub', '--provider', PROVIDER, '--private', '--watch', '--timeout', '2.5'])
    expect(inv).toEqual({
      kind: 'run',
      global: { json: false },
      command: { name: 'request', plan: 'small', pubName: 'My pub', provider: PROVIDER, private: true, watch: true, connect: true, timeoutMs: 2500 },
    })
    // Private unless --public says otherwise: a public request names the user as a customer.
    expect(parseCommandLine(['request'])).toMatchObject({ command: { name: 'request', private: true, watch: false } })
    expect(parseCommandLine(['request', '--public', '--watch', '--no-connect'])).toMatchObject({ command: { private: false, watch: true, connect: false } })
    expect(usageError(['request', '--public', '--private'])).toMatch(/--public or --private, not both/)
    expect(usageError(['request', '--no-connect'])).toMatch(/--no-connect goes with --watch/)
    expect(usageError(['request', '--plan', 'Not A Slug'])).toMatch(/--plan: expected lowercase letters/)
    expect(usageError(['request', '--provider', '@nope'])).toMatch(/--provider: expected a feed id/)
    expect(usageError(['request', '--name', 'x'.repeat(65)])).toMatch(/--name:/)
    expect(usageError(['request', '--timeout', '3'])).toMatch(/--timeout needs --watch/)
  })

  it('parses command verbs and their arguments; --version is a value only there', () => {
    expect(parseCommandLine(['command', 'mypub', 'invite', '--uses', '3'])).toMatchObject({
      command: { name: 'command', pub: 'mypub', verb: 'invite', uses: 3, wait: true },
    })
    expect(parseCommandLine(['command', 'mypub', 'upgrade', '--version', '2.1.0', '--no-wait'])).toMatchObject({
      command: { name: 'command', verb: 'upgrade', version: '2.1.0', wait: false },
    })
    expect(parseCommandLine(['command', 'mypub', 'stop', '--timeout', '9'])).toMatchObject({ command: { verb: 'stop', timeoutMs: 9000 } })
    expect(usageError(['command', 'mypub', 'explode'])).toMatch(/unknown verb "explode"/)
    expect(usageError(['command', 'mypub', 'stop', '--uses', '3'])).toMatch(/--uses goes with the invite verb/)
    expect(usageError(['command', 'mypub', 'invite', '--uses', 'many'])).toMatch(/--uses: expected a whole number/)
    expect(usageError(['command', 'mypub', 'invite', '--version', '1'])).toMatch(/--version goes with the upgrade verb/)
    expect(usageError(['command', 'mypub', 'stop', '--no-wait', '--timeout', '3'])).toMatch(/do not go together/)
    expect(usageError(['command', 'mypub'])).toMatch(/missing <verb>/)
  })

  it('validates join invites and watch timeouts', () => {
    const invite = `127.0.0.1:8008:${feedId('pub')}~c2VlZA==`
    expect(parseCommandLine(['join', invite])).toMatchObject({ command: { name: 'join', invite } })
    expect(usageError(['join', 'not an invite'])).toMatch(/invite code/)
    expect(parseCommandLine(['watch', 'p', '--timeout', '30'])).toMatchObject({ command: { name: 'watch', pub: 'p', timeoutMs: 30_000 } })
    expect(usageError(['watch', 'p', '--timeout', '0'])).toMatch(/--timeout: expected seconds/)
    expect(usageError(['watch', 'p', '--timeout', 'soon'])).toMatch(/--timeout: expected seconds/)
  })

  it('answers help and version, globally and per command', () => {
    expect(parseCommandLine([])).toEqual({ kind: 'help' })
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help' })
    expect(parseCommandLine(['help', 'watch'])).toEqual({ kind: 'help', topic: 'watch' })
    expect(parseCommandLine(['request', '-h'])).toEqual({ kind: 'help', topic: 'request' })
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' })
    expect(parseCommandLine(['pubs', '--version'])).toEqual({ kind: 'version' })
  })

  it('rejects unknown commands, unknown options, stray arguments and conflicting targets', () => {
    expect(usageError(['frobnicate'])).toMatch(/unknown command "frobnicate"/)
    expect(usageError(['pubs', '--plan', 'x'])).toMatch(/pubs: Unknown option '--plan'/)
    expect(usageError(['pubs', 'extra'])).toMatch(/unexpected argument "extra"/)
    expect(usageError(['status'])).toMatch(/missing <pub>/)
    expect(usageError(['--ssb-dir', '/a', '--remote', 'net:h:1~shs:k', 'pubs'])).toMatch(/not both/)
    expect(usageError(['--remote', 'net:h:1~shs:k', '--port', '8008', 'pubs'])).toMatch(/drop --host and --port/)
    expect(usageError(['pubs', '--port', '70000'])).toMatch(/--port: expected a port number/)
    expect(usageError(['pubs', '--port', 'x'])).toMatch(/--port: expected a port number/)
    expect(usageError(['connect'])).toMatch(/missing <pub>/)
    expect(usageError(['help', 'nope'])).toMatch(/unknown command "nope"/)
  })
})

describe('planConnection', () => {
  const serverKey = feedId('server').slice(1, -'.ed25519'.length)

  it("defaults to Patchwork's: the socket first, then shs on 127.0.0.1:8008 with the main network caps", () => {
    expect(planConnection({ dir: '/home/u/.ssb', socketExists: true, serverKey })).toEqual({
      caps: MAIN_NETWORK_CAPS,
      remotes: ['unix:/home/u/.ssb/socket~noauth', `net:127.0.0.1:8008~shs:${serverKey}`],
    })
  })

  it('tries every incoming shs net entry of the config after the socket, in order, without duplicates', () => {
    const configText = JSON.stringify({
      port: 1111,
      connections: {
        incoming: {
          net: [
            { host: '::', port: 8008, scope: 'public', transform: 'shs' },
            { port: 8009, scope: 'device', transform: 'shs' },
            { host: 'localhost', port: 8008, transform: 'shs' },
            { host: '::1', port: 8010, transform: 'shs' },
            { host: '127.0.0.1', transform: 'shs' },
            { host: '127.0.0.1', port: 8011, transform: 'noauth' },
          ],
          unix: [{ scope: 'device', transform: 'noauth' }],
        },
      },
    })
    expect(planConnection({ dir: '/d', configText, socketExists: true, serverKey }).remotes).toEqual([
      'unix:/d/socket~noauth',
      `net:127.0.0.1:8008~shs:${serverKey}`,
      `net:127.0.0.1:8009~shs:${serverKey}`,
      `net:[::1]:8010~shs:${serverKey}`,
    ])
  })

  it('dials only the address --host/--port name, defaulting the other half from the config', () => {
    const configText = JSON.stringify({ connections: { incoming: { net: [{ host: '127.0.0.1', port: 2222, transform: 'shs' }] } } })
    expect(planConnection({ dir: '/d', configText, socketExists: true, serverKey, host: 'sbot.example' }).remotes).toEqual([`net:sbot.example:2222~shs:${serverKey}`])
    // Manyverse desktop: no config, no socket, shs on 26831.
    expect(planConnection({ dir: '/m', socketExists: false, serverKey, port: 26831 })).toEqual({
      caps: MAIN_NETWORK_CAPS,
      remotes: [`net:127.0.0.1:26831~shs:${serverKey}`],
    })
  })

  it('takes host, port and caps from the config, the incoming net entry first', () => {
    const configText = JSON.stringify({
      caps: { shs: 'dGVzdC1jYXBzLXRlc3QtY2Fwcy10ZXN0LWNhcHMtdGU=' },
      port: 1111,
      connections: { incoming: { net: [{ host: '0.0.0.0', port: 2222, transform: 'shs' }] } },
    })
    expect(planConnection({ dir: '/d', configText, socketExists: false, serverKey })).toEqual({
      caps: 'dGVzdC1jYXBzLXRlc3QtY2Fwcy10ZXN0LWNhcHMtdGU=',
      remotes: [`net:127.0.0.1:2222~shs:${serverKey}`],
    })
    const legacy = planConnection({ dir: '/d', configText: '// my config\n{ "host": "192.0.2.5", "port": 3333 }', socketExists: false, serverKey })
    expect(legacy.remotes).toEqual([`net:192.0.2.5:3333~shs:${serverKey}`])
  })

  it('refuses a config that is not a JSON object', () => {
    expect(() => planConnection({ dir: '/d', configText: '[1]', socketExists: false, serverKey })).toThrow(/JSON object/)
  })

  it('follows $ssb_appname as ssb-config does', () => {
    expect(defaultSsbDir({}, '/home/u')).toBe('/home/u/.ssb')
    expect(defaultSsbDir({ ssb_appname: 'ssb-test' }, '/home/u')).toBe('/home/u/.ssb-test')
  })
})

describe('formatting', () => {
  it('prints prices in major units, zero-decimal currencies as they are', () => {
    expect(formatPrice({ price: 0, currency: 'eur', interval: 'month' })).toBe('free')
    expect(formatPrice({ price: 550, currency: 'eur', interval: 'month' })).toBe('5.50 EUR/month')
    expect(formatPrice({ price: 500, currency: 'jpy', interval: 'year' })).toBe('500 JPY/year')
  })

  it('prints durations coarsely', () => {
    expect([45_000, 12 * 60_000, 185 * 60_000, 52 * 3_600_000].map(formatDuration)).toEqual(['45s', '12m', '3h 5m', '2d 4h'])
  })

  it('strips terminal control characters from network text', () => {
    expect(clean('https://pay.example/\u001b[2Jx\u009b')).toBe('https://pay.example/[2Jx')
  })
})
