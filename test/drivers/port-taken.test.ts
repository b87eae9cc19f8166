/**
 * A taken port is not a crash loop (local runtime, real pub processes): a plain listener holds the first port of the
 * range before anyone asks; the pub placed there exits with the port-taken code, the provider records a new
 * placement on a free port, and the owner gets "up" with the new address, where the pub answers. The listener is
 * never touched, and the next pub is not placed on the taken port.
 */
import type { Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { whoami } from '../../src/drivers/pub-client.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import type { TestPeer } from '../../testkit/sbots.js'
import { holdPort, nextStatus, startProviderAndUser, statuses, type TestProvider } from './helpers.js'

const FIRST = 29360

describe('a pub whose port is taken on its hub', () => {
  let provider: TestProvider
  let providerKeys: SsbKeys
  let user: TestPeer
  let squatter: Server

  beforeAll(async () => {
    assertPubBuilt()
    squatter = await holdPort(FIRST)
    ;({ provider, providerKeys, user } = await startProviderAndUser({
      kind: 'local',
      hubAddress: '127.0.0.1',
      ports: { first: FIRST, last: FIRST + 9 },
      settleMs: 20_000,
      statsIntervalMs: 0,
    }))
  })

  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
    await new Promise<void>((resolve) => (squatter ? squatter.close(() => resolve()) : resolve()))
  })

  const request = (name: string) => publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', name, recps: [user.id, provider.id] })

  it('is moved to a free port, and the owner gets "up" with the new address', async () => {
    const msg = await request('squatted pub')
    const up = await nextStatus(user.sbot, msg.key, 0, (s) => s.state === 'up', '"up" on another port', 60_000)
    expect(up.pub!.address).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:${FIRST + 1}~shs:`))
    expect(await whoami(providerKeys, up.pub!.address as never)).toBe(up.pub!.id)
    // Never reported as a crash loop, and the listener still holds its port.
    const seen = await statuses(user.sbot, msg.key)
    expect(seen.filter((s) => /crash loop/.test(s.reason ?? ''))).toEqual([])
    expect(squatter.listening).toBe(true)
    expect(squatter.address()).toMatchObject({ port: FIRST })
  })

  it('does not hand the taken port to the next pub', async () => {
    const msg = await request('next pub')
    const up = await nextStatus(user.sbot, msg.key, 0, (s) => s.state === 'up', '"up" for the next pub', 60_000)
    expect(up.pub!.address).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:${FIRST + 2}~shs:`))
  })
})
