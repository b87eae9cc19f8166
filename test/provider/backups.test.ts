/** The owner's backup, end to end with the local runtime: the reply's link downloads the pub's data over the site. */
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { publish } from '../../src/ssb/adapter.js'
import { freePort } from '../support/ports.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings, waitFor, type TestPeer } from '../support/sbots.js'

type Reply = { command: string; ok: boolean; result?: { backup?: { url: string; bytes: number; expires: number } } }

describe('backups', () => {
  let provider: Awaited<ReturnType<typeof startTestProvider>>
  let user: TestPeer

  beforeAll(async () => {
    const [web, pub] = [await freePort(), await freePort()]
    const settings = testProviderSettings({ runtime: { kind: 'local', ports: { first: pub, last: pub } } })
    provider = await startTestProvider({ ...settings, web: { ...settings.web, port: web, publicUrl: `http://127.0.0.1:${web}` } })
    user = startPeer()
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
  })
  afterAll(async () => {
    await user?.stop()
    await provider?.stop()
  })

  it('replies privately with an unguessable link that downloads the pub data as a gzipped tar', async () => {
    const req = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', recps: [user.id, provider.id] })
    await waitFor(
      async () =>
        (await messagesOfType<{ request: string; state: string }>(user.sbot, 'buttcloud/status')).find(
          (m) => m.value.content.request === req.key && m.value.content.state === 'up',
        ),
      60_000,
      'the pub to be up',
    )
    const cmd = await publish(user.sbot.db, { type: 'buttcloud/command', version: 1, request: req.key, verb: 'backup', recps: [user.id, provider.id] })
    const reply = await waitFor(
      async () => (await messagesOfType<Reply>(user.sbot, 'buttcloud/reply')).find((m) => m.value.content.command === cmd.key),
      60_000,
      'the reply to backup',
    )
    const backup = reply.value.content.result?.backup
    expect(backup?.url).toMatch(new RegExp(`^${provider.siteUrl}/backups/[0-9a-f]{32}\\.tar\\.gz$`))
    expect(backup!.expires).toBeGreaterThan(Date.now())

    const res = await fetch(backup!.url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/gzip')
    const body = Buffer.from(await res.arrayBuffer())
    expect(body.length).toBe(backup!.bytes)
    // A tar inside: its first header names a path of the pub's data folder, and "ustar" sits at offset 257.
    const tar = gunzipSync(body)
    expect(tar.subarray(257, 262).toString()).toBe('ustar')
    // The pub's key is not in its backup.
    expect(tar.toString('latin1')).not.toMatch(/"private":/)

    const guess = await fetch(`${provider.siteUrl}/backups/${'0'.repeat(32)}.tar.gz`)
    expect(guess.status).toBe(404)
    const traversal = await fetch(`${provider.siteUrl}/backups/..%2Fsecret`)
    expect(traversal.status).toBe(404)
  })
})
