/**
 * Provider identity backup and restore, with real sbots and the built operator tool (`node dist/src/provider/
 * identity.js`): a provider with pubs is backed up while it runs, posts more afterwards (which a user's sbot holds),
 * and dies; a fresh data folder restored from the backup refuses to start until it has fetched the newer messages
 * from that user, then carries on from the peer's latest message (no fork) with every pub and placement known (the
 * placements and members from the backup's private journals).
 * The runtime is the orchestrator on the in-memory engine: what matters here is the provider's feed.
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { ProviderBackup } from '../../src/provider/identity-store.js'
import { RECORDS_FILE } from '../../plugins/buttcloud/private-records.js'
import { MEMBERS_FILE } from '../../src/ssb/private-members.js'
import type { ProviderSettings } from '../../src/provider/settings.js'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { collect, type Source } from '../../src/ssb/pull.js'
import type { Sbot } from '../../src/ssb/server.js'
import { inMemoryRuntime } from '../orchestrator/fakes.js'
import { freePort } from '../../testkit/ports.js'
import { startNode } from '../support/processes.js'
import { joinWithInvite, messagesOfType, removeLater, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

const TOOL = resolve('dist/src/provider/identity.js')
const work = mkdtempSync(join(tmpdir(), 'bc-identity-'))
removeLater(work)


/** Write settings where the tool reads them. */
function configFile(name: string, settings: ProviderSettings): string {
  const file = join(work, name)
  writeFileSync(file, JSON.stringify(settings))
  return file
}

/** Run the built tool to its end: exit code and output. */
async function tool(...args: string[]): Promise<{ code: number | null; output: string }> {
  return toolWith({}, ...args)
}
async function toolWith(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; output: string }> {
  const child = startNode(TOOL, args, { BUTTCLOUD_CONFIG: '', ...env })
  const code = await new Promise<number | null>((done) => child.child.once('exit', (c) => done(c)))
  return { code, output: child.output() }
}

const latestOf = async (sbot: Sbot, id: FeedId) => (await call<{ sequence: number }>(sbot.getFeedState as never, id)).sequence
const feedOf = (sbot: Sbot, id: FeedId) =>
  collect((sbot.createHistoryStream as (o: object) => Source<unknown>)({ id })) as Promise<Array<{ key: MsgId; value: { sequence: number; previous: MsgId | null } }>>
const statusOf = async (user: Sbot, request: MsgId) =>
  (await messagesOfType<{ request: MsgId; state: string }>(user, 'buttcloud/status')).filter((m) => m.value.content.request === request).at(-1)?.value.content.state

const cleanup: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined)
})

describe('provider identity backup and restore', () => {
  it('restores a provider from its backup on a new folder, catches up from a peer, and never forks its feed', async () => {
    expect(existsSync(TOOL), 'run `npm run build` first (npm test does)').toBe(true)
    const settings1 = testProviderSettings()
    const config1 = configFile('provider-1.json', settings1)
    const p1 = await startTestProvider(settings1, { runtime: inMemoryRuntime() })
    cleanup.push(() => p1.stop())
    const user: TestPeer = startPeer()
    cleanup.push(() => user.stop())
    await joinWithInvite(user.sbot, await p1.createInvite(1), p1.address)

    const request = async (name: string) =>
      (await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: p1.id, plan: 'free', name, recps: [user.id, p1.id] })).key
    const before = [await request('one'), await request('two')]
    for (const r of before) await waitFor(`${r} up`, async () => ((await statusOf(user.sbot, r)) === 'up' ? true : undefined), { timeoutMs: 30_000 })
    await p1.api.settled()

    // Backed up while the provider runs.
    const backupFile = join(work, 'backup', 'provider.json')
    const backedUp = await tool('backup', backupFile, '--config', config1)
    expect(backedUp.output).toMatch(/from the running provider/)
    expect(backedUp.code).toBe(0)
    expect(statSync(backupFile).mode & 0o777).toBe(0o600)
    const backup = ProviderBackup.parse(JSON.parse(readFileSync(backupFile, 'utf8')))
    expect(backup.id).toBe(p1.id)
    expect(backup.messages.length).toBe(await latestOf(p1.sbot, p1.id))
    // Placements are the provider's private records: in the backup's journal, none on its feed.
    const journaled = (backup.journals?.[RECORDS_FILE] ?? '').split('\n').filter((l) => l.includes('"buttcloud/placement"'))
    expect(journaled.length).toBe(2)
    expect(backup.messages.length).toBeGreaterThan(0)
    expect((await messagesOfType(p1.sbot, 'buttcloud/placement')).length).toBe(0)

    // After the backup a second customer joins by invite and gets a pub: a member the backup's journal lacks.
    const newcomer: TestPeer = startPeer()
    cleanup.push(() => newcomer.stop())
    await joinWithInvite(newcomer.sbot, await p1.createInvite(1), p1.address)
    const late = (await publish(newcomer.sbot.db, { type: 'buttcloud/request', version: 1, provider: p1.id, plan: 'free', name: 'late', recps: [newcomer.id, p1.id] })).key
    await waitFor(`${late} up`, async () => ((await statusOf(newcomer.sbot, late)) === 'up' ? true : undefined), { timeoutMs: 30_000 })

    // After the backup the provider posts more (a restart's reply and statuses), which the user holds.
    const restart = await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request: before[1], verb: 'restart', recps: [user.id, p1.id] })
    await waitFor('the reply to restart', async () => ((await messagesOfType<{ command: MsgId }>(user.sbot, 'buttcloud/reply')).some((m) => m.value.content.command === restart.key) ? true : undefined), { timeoutMs: 30_000 })
    await p1.api.settled()
    const oldLatest = await latestOf(p1.sbot, p1.id)
    expect(oldLatest).toBeGreaterThan(backup.messages.length)
    await waitFor("the user to hold the provider's latest", async () => ((await latestOf(user.sbot, p1.id)) === oldLatest ? true : undefined), { timeoutMs: 20_000 })
    const placements1 = new Map(p1.api.ledger().placements())
    expect([...placements1.keys()].sort()).toEqual([...before, late].sort())
    await p1.stop({ keepData: true })

    // A restore never overwrites a folder that holds a provider.
    const refused = await tool('restore', backupFile, '--config', config1, '--no-peer-has-newer')
    expect(refused.code).toBe(3)
    expect(refused.output).toMatch(/already holds a key/)

    // A new machine: a fresh folder. With its only peer unreachable it restores but does not catch up...
    const settings2 = { ...settings1, path: join(work, 'restored') }
    const config2 = configFile('provider-2.json', settings2)
    const nobody = `net:127.0.0.1:${await freePort()}~shs:${user.id.slice(1, -8)}`
    const stuck = await tool('restore', backupFile, '--config', config2, '--peer', nobody, '--timeout-ms', '1500')
    expect(stuck.output).toMatch(/not caught up/)
    expect(stuck.code).toBe(4)
    expect(statSync(join(settings2.path, 'secret')).mode & 0o777).toBe(0o600)
    // ...and the provider refuses to start (so publishes nothing) until it has.
    await expect(startTestProvider(settings2, { runtime: inMemoryRuntime() })).rejects.toThrow(/has not caught up with its peers/)

    const userAddress = user.sbot.getAddress()!.split(';')[0]!
    const caught = await tool('catch-up', '--config', config2, '--peer', userAddress, '--timeout-ms', '30000')
    expect(caught.output).toMatch(new RegExp(`caught up at sequence ${oldLatest}\\b`))
    expect(caught.code).toBe(0)
    // The customer who joined after the backup is a member again: the provider wrote to it (its pub's statuses).
    expect(caught.output).toMatch(/1 member\(s\) who joined after the backup recovered/)
    expect(readFileSync(join(settings2.path, MEMBERS_FILE), 'utf8')).toContain(`"feed":"${newcomer.id}"`)

    const p2 = await startTestProvider(settings2, { runtime: inMemoryRuntime() })
    cleanup.push(() => p2.stop())
    expect(p2.id).toBe(p1.id)
    // Every pub is known, with the placement the old machine recorded. The placements are its own records (restored
    // from the backup's journal); the requests are the user's, replicated once the two are connected (the user is a
    // member in the restored journal, so it is replicated without any follow).
    expect(await call(p2.sbot.friends.isFollowing, { source: p2.id, dest: user.id })).toBe(false)
    // The placement made after the backup is not in its journal (the in-memory engine here is new: nothing runs to adopt).
    expect(new Map(p2.api.ledger().placements())).toEqual(new Map([...placements1].filter(([r]) => r !== late)))
    await call(user.sbot.conn.connect, p2.address)
    await call(newcomer.sbot.conn.connect, p2.address)
    // The newcomer's request arrives: the restored provider replicates it as a member, without any follow.
    const everyPub = [...before, late].sort()
    await waitFor('the restored provider to know every pub', () => {
      const known = p2.api.ledger().records().map((r) => r.request).sort()
      return known.length === everyPub.length ? known : undefined
    }, { timeoutMs: 30_000 })
    expect(p2.api.ledger().records().map((r) => r.request).sort()).toEqual(everyPub)

    // Its first new message follows the peer's latest: sequence latest + 1, linked to it.
    await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request: before[0], verb: 'stop', recps: [user.id, p2.id] })
    await waitFor("the restored provider's reply at the user", async () => ((await latestOf(user.sbot, p2.id)) > oldLatest ? true : undefined), { timeoutMs: 30_000 })
    const atUser = await feedOf(user.sbot, p2.id)
    const atProvider = await feedOf(p2.sbot, p2.id)
    const next = atUser.find((m) => m.value.sequence === oldLatest + 1)!
    expect(next.value.previous).toBe(atUser.find((m) => m.value.sequence === oldLatest)!.key)
    expect(atProvider.find((m) => m.value.sequence === oldLatest + 1)?.key).toBe(next.key)
    const replies = await messagesOfType<{ command: MsgId; ok: boolean }>(user.sbot, 'buttcloud/reply')
    expect(replies.some((m: SsbMsg<{ ok: boolean }>) => m.value.author === p2.id && m.value.content.ok)).toBe(true)

    // On a machine with no settings file, restore writes the backed-up one (0600); the data folder comes from it or,
    // as here, from BUTTCLOUD_DATA. The operator's statement that no peer is ahead lets it finish without peers.
    const config3 = join(work, 'machine-3', 'provider.json')
    const data3 = join(work, 'restored-3')
    const third3 = await toolWith({ BUTTCLOUD_DATA: data3 }, 'restore', backupFile, '--config', config3, '--no-peer-has-newer')
    expect(third3.code).toBe(0)
    expect(statSync(config3).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(config3, 'utf8'))).toEqual(backup.settings)
    expect(existsSync(join(data3, 'restore-pending.json'))).toBe(false)
  })

  it('prints its help, and exits 2 on a bad command line', async () => {
    const help = await tool('--help')
    expect(help.code).toBe(0)
    expect(help.output).toMatch(/Exit codes: 0 done/)
    expect((await tool('frobnicate')).code).toBe(2)
    expect((await tool('restore', join(work, 'none.json'))).code).toBe(2)
    expect((await tool('backup', '--bogus')).code).toBe(2)
  })
})
