/**
 * The `ip` package every SSB module here requires is overridden (package.json) to neoip, a fork of ip with the
 * advisories fixed. Classic ssb-server 16's gossip scheduler calls `isPrivate` on peers without a host, and
 * ssb-invite on host names: ip 1.1.9 and 2.x throw there (crashing the server), ip 1.1.8 misreads `127.1`.
 * This checks the copy each of those modules actually loads.
 */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'

interface IpModule {
  isPrivate(addr: unknown): boolean
  isLoopback(addr: unknown): boolean
  isPublic(addr: unknown): boolean
}

const require = createRequire(import.meta.url)
/** The `ip` a package resolves, from that package's own folder. */
const ipOf = (pkg: string): IpModule => createRequire(require.resolve(`${pkg}/package.json`))('ip') as IpModule
const USERS = ['ssb-server', 'ssb-gossip', 'ssb-invite', 'ssb-conn', 'ssb-ref', 'non-private-ip']

describe('the ip package the SSB stack loads', () => {
  it.each(USERS)('as %s loads it: never throws on a missing host or a host name', (pkg) => {
    const ip = ipOf(pkg)
    for (const host of [undefined, 'localhost', 'pub.example.org', '']) {
      expect(() => ip.isPrivate(host)).not.toThrow()
      expect(() => ip.isLoopback(host)).not.toThrow()
    }
    expect(ip.isPrivate('pub.example.org')).toBe(false)
  })

  it('classifies the short and hex loopback forms the old ip called public', () => {
    const ip = ipOf('ssb-invite')
    for (const addr of ['127.1', '0x7f.1', '127.0.0.1', '::ffff:127.0.0.1']) {
      expect(ip.isLoopback(addr)).toBe(true)
      expect(ip.isPublic(addr)).toBe(false)
    }
  })
})
