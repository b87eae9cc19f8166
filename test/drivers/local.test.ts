/**
 * The local runtime end to end: the same planner running pubs as supervised child processes of the built pub.
 * Request -> "up" at the owner -> the invite works -> stop -> start (data kept) -> destroy (data kept for the
 * retention period, then purged); and a crashed pub process is reported down and restarted.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { whoami } from '../../src/drivers/pub-client.js'
import { backupDirFromSettings } from '../../src/provider/runtime-from-settings.js'
import { objectName } from '../../src/planner/index.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { SsbKeys } from '../../src/ssb/keys.js'
import { assertPubBuilt } from '../../testkit/pub-process.js'
import { notPrivate } from '../support/files.js'
import type { TestPeer } from '../../testkit/sbots.js'
import { archiveNames, commandAndReply, expectInviteWorks, nextStatus, pubFeed, startProviderAndUser, statuses, type TestProvider } from './helpers.js'
import { waitFor } from '../../testkit/wait.js'

describe('the local runtime', () => {
  let provider: TestProvider
  let providerKeys: SsbKeys
  let user: TestPeer
  let request: MsgId
  let pub: { id: string; address: string }
  let folder: string
  let messages = 0

  const command = (verb: string) => publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request, verb, recps: [user.id, provider.id] })

  beforeAll(async () => {
    assertPubBuilt()
    ;({ provider, providerKeys, user } = await startProviderAndUser({
      kind: 'local',
      hubAddress: '127.0.0.1',
      ports: { first: 29300, last: 29349 },
      retentionMs: 3000,
      settleMs: 20_000,
      statsIntervalMs: 0,
    },
    // A plan that replicates out to two hops from the owner: the local driver hands that to the pub as PUB_HOPS.
    { plans: [{ id: 'free', name: 'Free', memoryMiB: 128, price: 0, currency: 'usd', interval: 'month', hops: 2 }] }))
  })

  afterAll(async () => {
    await user?.stop()
    // Closing the provider closes the runtime, which stops its pub processes.
    await provider?.stop()
  })

  it('runs a requested pub as a child process: "up" at the owner, reachable, with a working invite', async () => {
    const msg = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', name: 'local pub', recps: [user.id, provider.id] })
    request = msg.key
    const up = await nextStatus(user.sbot, request, 0, (s) => s.state === 'up', '"up"')
    pub = up.pub!
    expect(pub.address).toMatch(/^net:127\.0\.0\.1:293\d\d~shs:/)
    expect(await whoami(providerKeys, pub.address as never)).toBe(pub.id)
    const rpc = await call<{ id: string }>(user.sbot.conn.connect, pub.address)
    expect(rpc.id).toBe(pub.id)

    // The key is a 0600 file beside the data folder, never inside it (backups archive the data folder).
    folder = join(provider.settings.path, 'pubs', objectName(request))
    expect(statSync(join(folder, 'key')).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(join(folder, 'key'), 'utf8').replace(/^#.*$/gm, '')).id).toBe(pub.id)
    expect(existsSync(join(folder, 'data', 'secret'))).toBe(false)
    // Its folder, data, log and keyring are the provider's user's alone.
    expect(existsSync(join(folder, 'data', 'keyring'))).toBe(true)
    expect(notPrivate(folder)).toEqual([])
    const environ = readFileSync(`/proc/${readFileSync(join(folder, 'pid'), 'utf8').trim()}/environ`, 'utf8').split('\0')
    expect(environ).toContain('PUB_HOPS=2')

    await expectInviteWorks(providerKeys, pub, up.invite!)
    messages = (await pubFeed(providerKeys, pub)).length
    expect(messages).toBeGreaterThan(0)
  })

  it('answers stats with a fresh sample and backup with a downloadable archive of the data folder', async () => {
    const stats = await commandAndReply(user, provider.id, request, 'stats')
    expect(stats.ok).toBe(true)
    expect(stats.result!.stats.samples).toBeGreaterThanOrEqual(1)
    expect(stats.result!.stats.memory.maxBytes).toBeGreaterThan(10 * 1024 * 1024)
    expect(stats.result!.stats.memory.limitBytes).toBe(128 * 1024 * 1024)

    const backup = await commandAndReply(user, provider.id, request, 'backup')
    expect(backup.ok).toBe(true)
    const { url, bytes, expires } = backup.result!.backup as { url: string; bytes: number; expires: number }
    const token = /\/backups\/([0-9a-f]{32}\.tar\.gz)$/.exec(url)![1]!
    const file = join(backupDirFromSettings(provider.settings), token)
    expect(statSync(file).size).toBe(bytes)
    expect(expires).toBeGreaterThan(Date.now())
    // The pub's log is in it; its key is not (it lives beside the data folder).
    const names = archiveNames(file)
    expect(names.some((n) => /db2\/log\.bipf$/.test(n))).toBe(true)
    expect(names.some((n) => /(^|\/)(key|secret)$/.test(n))).toBe(false)
    // Nor is its db2 keyring, which holds secrets derived from the key.
    expect(existsSync(join(folder, 'data', 'keyring'))).toBe(true)
    expect(names.filter((n) => /(^|\/)keyring(\/|$)/.test(n))).toEqual([])
  })

  it('restarts a crashed pub process, reporting it down meanwhile', async () => {
    const before = (await statuses(user.sbot, request)).length
    const pid = Number(readFileSync(join(folder, 'pid'), 'utf8'))
    process.kill(pid, 'SIGKILL')
    const down = await nextStatus(user.sbot, request, before, (s) => s.state === 'down', '"down" after the crash')
    expect(down.reason).toBe('exited: exit code 137')
    await nextStatus(user.sbot, request, before, (s) => s.state === 'up', '"up" after the restart')
    expect(Number(readFileSync(join(folder, 'pid'), 'utf8'))).not.toBe(pid)
    expect(await whoami(providerKeys, pub.address as never)).toBe(pub.id)
  })

  it('stops and starts with the data kept', async () => {
    let before = (await statuses(user.sbot, request)).length
    await command('stop')
    await nextStatus(user.sbot, request, before, (s) => s.state === 'stopped', '"stopped"')
    await waitFor('the pub process to end', async () => (existsSync(join(folder, 'pid')) ? undefined : true), { timeoutMs: 10_000 })
    await expect(whoami(providerKeys, pub.address as never, { timeoutMs: 1000 })).rejects.toThrow()

    before = (await statuses(user.sbot, request)).length
    await command('start')
    const up = await nextStatus(user.sbot, request, before, (s) => s.state === 'up', '"up" after start')
    expect(up.pub).toEqual(pub)
    expect((await pubFeed(providerKeys, pub)).length).toBe(messages)
  })

  it('destroys the pub: the process ends at once, the data folder after the retention period', async () => {
    const before = (await statuses(user.sbot, request)).length
    await command('destroy')
    await nextStatus(user.sbot, request, before, (s) => s.state === 'destroyed', '"destroyed"')
    await expect(whoami(providerKeys, pub.address as never, { timeoutMs: 1000 })).rejects.toThrow()
    expect(existsSync(join(folder, 'key'))).toBe(false)
    expect(existsSync(join(folder, 'data'))).toBe(true)
    await waitFor('the data folder to be purged', async () => (existsSync(folder) ? undefined : true), { timeoutMs: 20_000 })
  })
})
