/**
 * EBT catch-up under a steady stream of new messages (src/ssb/ebt-catch-up.ts): a member who is behind on the
 * provider's feed gets it while the provider keeps posting more often than ssb-db2's index flush debounce. Without
 * the hook, ssb-db2 answers ssb-ebt's reads of old messages only once the log is quiet, and the member got nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { Sbot } from '../../src/ssb/server.js'
import { joinWithInvite, startPeer, startTestProvider, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>

const seqOf = async (sbot: Sbot, id: string) => (await call<{ sequence: number } | null>(sbot.getFeedState as never, id))?.sequence ?? 0

describe('EBT catch-up while the log keeps growing', () => {
  let provider: Provider
  let user: TestPeer
  let posting: NodeJS.Timeout | undefined

  beforeAll(async () => {
    provider = await startTestProvider()
    user = startPeer()
  })
  afterAll(async () => {
    clearInterval(posting)
    await user?.stop()
    await provider?.stop()
  })

  it("a member behind on the provider's feed catches up while the provider posts every 10 ms", async () => {
    // The provider posts faster than its index's flush debounce (50 ms) for the whole test; the member joins after
    // it began, so the provider's messages from before the member's notes reach it only through catch-up reads.
    posting = setInterval(() => void publish(provider.sbot.db, { type: 'test/noise', at: Date.now() }).catch(() => undefined), 10)
    await waitFor('the provider to have posted', async () => ((await seqOf(provider.sbot, provider.id)) >= 50 ? true : undefined), { timeoutMs: 10_000 })
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
    const target = await seqOf(provider.sbot, provider.id)
    await waitFor("the provider's feed at the member", async () => ((await seqOf(user.sbot, provider.id)) >= target ? true : undefined), { timeoutMs: 15_000 })
    expect(await seqOf(user.sbot, provider.id)).toBeGreaterThanOrEqual(target)
  })
})
