import { describe, expect, it } from 'vitest'
import { readSettings, SettingsError } from '../../pub/settings.js'
import { generateKeys } from '../../src/ssb/keys.js'

const owner = generateKeys().id
const provider = generateKeys().id
const base = { PUB_OWNER: owner, PUB_NAME: 'My pub', PUB_EXTERNAL_HOST: 'pub.example.org' }
const noFiles = (path: string): string => {
  throw new Error(`unexpected read of ${path}`)
}

describe('pub settings', () => {
  it('fills defaults for a minimal environment', () => {
    const s = readSettings(base, noFiles)
    expect(s).toMatchObject({
      dataDir: '/data',
      host: '0.0.0.0',
      port: 8008,
      externalHost: 'pub.example.org',
      inviteHost: 'pub.example.org',
      allowPrivate: false,
      owner,
      provider: undefined,
      name: 'My pub',
      caps: undefined,
      keyFile: undefined,
      web: null,
      hops: 1,
      blobMaxBytes: 5 * 1024 * 1024,
      maxCpu: undefined,
    })
  })

  it('paces ingestion with a quarter of the backlog when the heap is small (a 64 MiB limit), unless told otherwise', () => {
    const MiB = 1024 * 1024
    expect(readSettings(base, noFiles, 60 * MiB).pacing).toEqual({ high: 400, low: 100 })
    expect(readSettings(base, noFiles, 31 * MiB).pacing).toEqual({ high: 100, low: 25 })
    expect(readSettings({ ...base, PUB_INGEST_BACKLOG: '300,50' }, noFiles, 31 * MiB).pacing).toEqual({ high: 300, low: 50 })
    expect(readSettings({ ...base, PUB_INGEST_BACKLOG: 'off' }, noFiles, 31 * MiB).pacing).toBeNull()
  })

  it('reads every variable, and the caps from a file', () => {
    const caps = Buffer.alloc(32, 7).toString('base64')
    const s = readSettings(
      {
        ...base,
        PUB_DATA: '/srv/pub',
        PUB_HOST: '127.0.0.1',
        PUB_PORT: '9000',
        PUB_INVITE_HOST: '127.0.0.1',
        PUB_PROVIDER: provider,
        PUB_CAPS_FILE: '/run/secrets/caps',
        PUB_KEY_FILE: '/run/secrets/pub-key',
        PUB_WEB_PORT: '9001',
        PUB_HOPS: '2',
        PUB_BLOBS_MAX: '1048576',
        PUB_DB2_THROTTLES: '20,100,100',
        PUB_MAX_CPU: '80',
      },
      (path) => (path === '/run/secrets/caps' ? `${caps}\n` : noFiles(path)),
    )
    expect(s).toMatchObject({
      dataDir: '/srv/pub',
      host: '127.0.0.1',
      port: 9000,
      inviteHost: '127.0.0.1',
      allowPrivate: true,
      provider,
      caps,
      keyFile: '/run/secrets/pub-key',
      web: { host: '127.0.0.1', port: 9001 },
      hops: 2,
      blobMaxBytes: 1048576,
      throttles: { addBatch: 20, flushDebounce: 100, writeTimeout: 100 },
      maxCpu: 80,
    })
  })

  it('takes the listen host as the external host when it is not a wildcard', () => {
    const { PUB_EXTERNAL_HOST: _omit, ...env } = base
    expect(readSettings({ ...env, PUB_HOST: '127.0.0.1' }, noFiles).externalHost).toBe('127.0.0.1')
  })

  const rejects: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ['no owner', { PUB_OWNER: undefined }, /PUB_OWNER is required/],
    ['a malformed owner', { PUB_OWNER: '@nope' }, /PUB_OWNER must be a feed id/],
    ['a malformed provider', { PUB_PROVIDER: owner.slice(1) }, /PUB_PROVIDER must be a feed id/],
    ['no name', { PUB_NAME: undefined }, /PUB_NAME is required/],
    ['a name with a newline', { PUB_NAME: 'two\nlines' }, /PUB_NAME is not a valid name/],
    ['a wildcard host and no external host', { PUB_EXTERNAL_HOST: undefined }, /PUB_EXTERNAL_HOST is required/],
    ['a port out of range', { PUB_PORT: '70000' }, /PUB_PORT must be between 1 and 65535/],
    ['a port that is not a number', { PUB_PORT: '80a' }, /PUB_PORT must be a whole number/],
    ['the web view on the SSB port', { PUB_HOST: '127.0.0.1', PUB_WEB_PORT: '8008' }, /PUB_WEB_PORT must differ/],
    ['bad caps', { PUB_CAPS: 'short' }, /PUB_CAPS must be base64 of 32 bytes/],
    ['a relative key file', { PUB_KEY_FILE: 'secret' }, /PUB_KEY_FILE must be an absolute path/],
    ['a host with spaces', { PUB_EXTERNAL_HOST: 'a b' }, /PUB_EXTERNAL_HOST must be an IP address or a host name/],
    ['a non-boolean allowPrivate', { PUB_ALLOW_PRIVATE: 'maybe' }, /PUB_ALLOW_PRIVATE must be true or false/],
    ['a blob maximum below 1 KiB', { PUB_BLOBS_MAX: '100' }, /PUB_BLOBS_MAX must be between 1024 and/],
    ['two throttles', { PUB_DB2_THROTTLES: '10,50' }, /PUB_DB2_THROTTLES must be three numbers/],
    ['a disk allowance of 0 MiB', { PUB_DISK_MIB: '0' }, /PUB_DISK_MIB must be between 1/],
    ['a fractional disk allowance', { PUB_DISK_MIB: '1.5' }, /PUB_DISK_MIB must be a whole number/],
    ['a disk check more often than every 50 ms', { PUB_DISK_CHECK_MS: '10' }, /PUB_DISK_CHECK_MS must be between 50/],
    ['a data folder too long for a unix socket', { PUB_DATA: `/${'d'.repeat(120)}` }, /PUB_DATA is too long/],
  ]
  for (const [what, change, message] of rejects) {
    it(`rejects ${what}`, () => {
      const env: Record<string, string | undefined> = { ...base, ...change }
      expect(() => readSettings(env, noFiles)).toThrow(SettingsError)
      expect(() => readSettings(env, noFiles)).toThrow(message)
    })
  }

  it('reads the disk allowance: the default 1 GiB, the plan\'s MiB, KiB for small trials, or off', () => {
    expect(readSettings(base, noFiles).disk).toEqual({ allowedBytes: 1024 * 1024 * 1024, checkMs: 30_000 })
    expect(readSettings({ ...base, PUB_DISK_MIB: '2', PUB_DISK_CHECK_MS: '500' }, noFiles).disk).toEqual({ allowedBytes: 2 * 1024 * 1024, checkMs: 500 })
    expect(readSettings({ ...base, PUB_DISK_MIB: '2', PUB_DISK_KIB: '640' }, noFiles).disk).toEqual({ allowedBytes: 640 * 1024, checkMs: 30_000 })
    expect(readSettings({ ...base, PUB_DISK_MIB: 'off' }, noFiles).disk).toBeNull()
  })

  it('names the caps file when it cannot be read', () => {
    expect(() => readSettings({ ...base, PUB_CAPS_FILE: '/nope' }, noFiles)).toThrow(/PUB_CAPS_FILE: cannot read \/nope/)
  })
})
