/**
 * The owner's backup, end to end with the local runtime: the reply's link downloads the pub's data over the site
 * (without its keyring), from a folder of its own; after its expiry it is refused and swept by the timer; a destroy
 * deletes the pub's archives.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backupDirFromSettings } from '../../src/provider/runtime-from-settings.js'
import { objectName } from '../../src/planner/index.js'
import type { MsgId } from '../../src/protocol/ids.js'
import { publish } from '../../src/ssb/db2.js'
import { commandAndReply, nextStatus } from '../drivers/helpers.js'
import { notPrivate } from '../support/files.js'
import { freePort } from '../../testkit/ports.js'
import { joinWithInvite, removeLater, startPeer, startTestProvider, testProviderSettings, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

type Backup = { url: string; bytes: number; expires: number }
const TTL_MS = 4000

describe('backups', () => {
  let provider: Awaited<ReturnType<typeof startTestProvider>>
  let user: TestPeer
  let request: MsgId
  let shelf: string

  beforeAll(async () => {
    const [web, pub] = [await freePort(), await freePort()]
    const settings = testProviderSettings({ runtime: { kind: 'local', ports: { first: pub, last: pub }, backupTtlMs: TTL_MS, statsIntervalMs: 0 } })
    provider = await startTestProvider({ ...settings, web: { ...settings.web, port: web, publicUrl: `http://127.0.0.1:${web}` } })
    shelf = backupDirFromSettings(provider.settings)
    user = startPeer()
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
    const req = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', recps: [user.id, provider.id] })
    request = req.key
    await nextStatus(user.sbot, request, 0, (s) => s.state === 'up', 'the pub to be up', 60_000)
  })
  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
  })

  async function backup(): Promise<Backup> {
    const reply = await commandAndReply(user, provider.id, request, 'backup', 60_000)
    expect(reply.ok, JSON.stringify(reply.error)).toBe(true)
    return reply.result!.backup as Backup
  }

  it('replies privately with an unguessable link that downloads the pub data, without its keyring, as a gzipped tar', async () => {
    const made = await backup()
    expect(made.url).toMatch(new RegExp(`^${provider.siteUrl}/backups/[0-9a-f]{32}\\.tar\\.gz$`))
    expect(made.expires).toBeGreaterThan(Date.now())

    const res = await fetch(made.url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/gzip')
    const body = Buffer.from(await res.arrayBuffer())
    expect(body.length).toBe(made.bytes)
    const downloaded = join(mkdtempSync(join(tmpdir(), 'bc-dl-')), 'backup.tar.gz')
    removeLater(join(downloaded, '..'))
    writeFileSync(downloaded, body)
    const names = execFileSync('tar', ['-tzf', downloaded], { encoding: 'utf8' }).split('\n').filter(Boolean)
    expect(names).toContain('./db2/log.bipf')
    // The pub has a keyring (secrets derived from its key), and a key file beside its data: neither is in the archive.
    expect(existsSync(join(provider.settings.path, 'pubs', objectName(request), 'data', 'keyring'))).toBe(true)
    expect(names.filter((n) => /(^|\/)(keyring|secret|key)(\/|$)/.test(n))).toEqual([])
    expect(execFileSync('tar', ['-xzOf', downloaded], { encoding: 'latin1', maxBuffer: 1 << 26 })).not.toMatch(/"private":/)

    // On its own shelf beside the provider's data folder, not in it, and private like it.
    expect(shelf).not.toContain(`${provider.settings.path}/`)
    expect(existsSync(join(shelf, made.url.split('/').pop()!))).toBe(true)
    expect(notPrivate(shelf)).toEqual([])

    const guess = await fetch(`${provider.siteUrl}/backups/${'0'.repeat(32)}.tar.gz`)
    expect(guess.status).toBe(404)
    const traversal = await fetch(`${provider.siteUrl}/backups/..%2Fsecret`)
    expect(traversal.status).toBe(404)
  })

  it('refuses a download after its expiry (410, with the reason), and the timer sweeps the archive without another backup', async () => {
    const made = await backup()
    const name = made.url.split('/').pop()!
    await waitFor('the backup to expire', async () => (Date.now() > made.expires ? true : undefined), { timeoutMs: TTL_MS + 5000 })
    const res = await fetch(made.url)
    expect(res.status).toBe(410)
    expect(await res.text()).toMatch(/This backup expired on .*Ask your pub for a new one/)
    await waitFor('the sweep to delete the archive', async () => (existsSync(join(shelf, name)) ? undefined : true), { timeoutMs: 10_000 })
  })

  it("deletes the pub's archives when it is destroyed", async () => {
    const made = await backup()
    const name = made.url.split('/').pop()!
    expect(existsSync(join(shelf, name))).toBe(true)
    const destroy = await commandAndReply(user, provider.id, request, 'destroy')
    expect(destroy.ok).toBe(true)
    await waitFor('the archive to be deleted', async () => (existsSync(join(shelf, name)) ? undefined : true), { timeoutMs: 20_000 })
    expect(readdirSync(shelf).filter((n) => n.endsWith('.tar.gz'))).toEqual([])
    expect((await fetch(made.url)).status).toBe(404)
  })
})
