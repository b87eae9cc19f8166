/**
 * The built `buttcloud` bin against our own db2 stack as the user's sbot (over its unix socket, and over shs with
 * --remote), with the scripted stand-in provider; plus the exit codes that need no sbot at all.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { publish, queryTypes } from '../../src/ssb/db2.js'
import { generateKeys, keysFileText } from '../../src/ssb/keys.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { collect } from '../../src/ssb/pull.js'
import { parseMessage, type ContentOf } from '../../src/protocol/index.js'
import { multiserverAddress, type MsgId } from '../../src/protocol/ids.js'
import type { PubView } from '../../src/cli/view.js'
import { freePort } from '../../testkit/ports.js'
import { OFFER } from './messages.js'
import { json, jsonLines, requireBuild, runBin, startBin, startDb2Node, startStandInProvider, type Db2Node, type StandInProvider } from './support.js'
import { waitFor } from '../../testkit/wait.js'

describe('buttcloud against a db2 sbot', () => {
  let user: Db2Node
  let provider: StandInProvider
  let requestId: MsgId

  beforeAll(async () => {
    requireBuild()
    ;[user, provider] = await Promise.all([startDb2Node('user'), startStandInProvider()])
  })
  afterAll(async () => {
    await Promise.all([user?.close(), provider?.close()])
  })

  const cli = (...args: string[]) => runBin([...args, '--ssb-dir', user.dir])
  const recps = () => [user.id, provider.id]
  const status = (state: 'awaiting-payment' | 'queued' | 'failed', extra: { reason?: string; paymentUrl?: string } = {}) =>
    provider.post('buttcloud/status', { type: 'buttcloud/status', version: 1, request: requestId, state, ...extra, recps: recps() })

  it('joins over the unix socket and asks the db2 sbot to connect to the provider', async () => {
    const offer = await provider.post('buttcloud/offer', OFFER)
    const joined = await cli('join', await provider.invite(), '--json')
    expect(joined.code, joined.stderr).toBe(0)
    expect(json(joined)).toEqual({ joined: true, provider: provider.id, address: provider.sbot.getAddress()!.split(';')[0] })
    // Only a live connection (conn.connect, made by join) brings the offer over: a db2 sbot does not dial by itself.
    await waitFor('the offer to reach the user', () => user.message(offer.key))
  })

  it('join exits 1 when the invite cannot be used', async () => {
    const nobody = `127.0.0.1:${await freePort()}:${generateKeys().id}~${Buffer.alloc(32, 1).toString('base64')}`
    const r = await cli('join', nobody)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('the invite was not accepted')
  })

  it('request --private --watch publishes a boxed request and stops at awaiting-payment with the link (exit 6)', async () => {
    const running = startBin(['request', '--plan', 'small', '--name', 'db2 pub', '--private', '--watch', '--timeout', '20', '--ssb-dir', user.dir])
    const request = await waitFor('the request to reach the provider', () => requestOnProvider('db2 pub'))
    requestId = request.key
    expect(request.meta?.private).toBe(true)
    expect(parseMessage(request).ok).toBe(true)
    expect(request.value.content).toEqual({ type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'small', name: 'db2 pub', recps: recps() })

    await waitFor('watch to catch up', () => (running.stdout().includes('Watching') ? true : undefined))
    await status('awaiting-payment', { paymentUrl: 'https://pay.example/checkout/abc' })
    const done = await running.result
    expect(done.code, done.stdout + done.stderr).toBe(6)
    expect(done.stderr).toContain(`Requested ${requestId}`)
    expect(done.stdout).toContain('waits for payment; pay here:\nhttps://pay.example/checkout/abc')
  })

  it('watch times out with exit 4 while the pub is queued, and exits 1 with the reason when it fails', async () => {
    const queued = await status('queued')
    await waitFor('the queued status', () => user.message(queued.key))
    const waiting = await cli('watch', 'db2 pub', '--timeout', '1', '--json')
    expect(waiting.code).toBe(4)
    expect(json<PubView>(waiting)).toMatchObject({ id: requestId, state: 'queued' })
    // Under --json, stderr is JSON lines too: the commentary as notes, then the error.
    const lines = jsonLines(waiting.stderr)
    expect(lines[0]).toEqual({ note: expect.stringMatching(/^Watching %\S+ \(db2 pub\): queued for/) })
    expect(lines.at(-1)).toEqual({ error: { code: 'timeout', exit: 4, message: expect.stringMatching(/^still queued after 1\.0s/) } })

    const failed = await status('failed', { reason: 'no capacity left' })
    await waitFor('the failed status', () => user.message(failed.key))
    const ended = await cli('watch', requestId)
    expect(ended.code).toBe(1)
    expect(ended.stderr).toContain('db2 pub failed: no capacity left')
  })

  it('reaches an sbot with no config and no socket (as Manyverse desktop keeps its folder) with --port', async () => {
    // The stand-in provider's folder holds only its secret; its sbot listens with shs on 127.0.0.1, no socket.
    const port = Number(/^net:127\.0\.0\.1:(\d+)~/.exec(provider.sbot.getAddress()!)![1])
    const guessed = await runBin(['offers', '--ssb-dir', provider.dir, '--json'])
    expect(guessed.code).toBe(3)
    expect(jsonLines(guessed.stderr).at(-1)).toEqual({ error: { code: 'sbot-unreachable', exit: 3, message: expect.stringContaining('net:127.0.0.1:8008') } })
    const told = await runBin(['offers', '--ssb-dir', provider.dir, '--port', String(port), '--json'])
    expect(told.code, told.stderr).toBe(0)
    expect(json<Array<{ provider: string }>>(told)).toEqual([expect.objectContaining({ provider: provider.id })])
  })

  it('reads over shs with --remote and --key-file; statuses that fail the schema change nothing', async () => {
    // Published around the outgoing gate, as a buggy or hostile provider could.
    const bad = [
      { type: 'buttcloud/status', version: 2, request: requestId, state: 'up', recps: recps() },
      { type: 'buttcloud/status', version: 1, request: requestId, state: 'up', recps: recps(), note: 'extra field' },
      { type: 'buttcloud/status', version: 1, request: requestId, state: 'exploded', recps: recps() },
    ]
    for (const content of bad) {
      const m = await publish(provider.sbot.db, content)
      await waitFor('the malformed status', () => user.message(m.key))
    }
    const secret = join(user.dir, 'secret')
    const r = await runBin(['pubs', '--json', '--remote', user.sbot.getAddress()!.split(';')[0]!, '--key-file', secret])
    expect(r.code, r.stderr).toBe(0)
    const [pub] = json<PubView[]>(r)
    expect(pub).toMatchObject({ id: requestId, name: 'db2 pub', plan: 'small', private: true, state: 'failed', reason: 'no capacity left' })
    expect(pub!.history.map((h) => h.state)).toEqual(['awaiting-payment', 'queued', 'failed'])
  })

  it('command --no-wait publishes a valid private command and returns its id', async () => {
    const r = await cli('command', 'db2 pub', 'upgrade', '--version', '2.0.1', '--no-wait', '--json')
    expect(r.code, r.stderr).toBe(0)
    const { command } = json<{ command: MsgId }>(r)
    const got = await waitFor('the command to reach the provider', async () => {
      const msgs = (await collect(queryTypes(provider.sbot.db, ['buttcloud/command'], { live: 'old' }))) as SsbMsg<ContentOf<'buttcloud/command'>>[]
      return msgs.find((m) => m.key === command)
    })
    expect(got.meta?.private).toBe(true)
    expect(got.value.content).toEqual({ type: 'buttcloud/command', version: 1, request: requestId, verb: 'upgrade', args: { version: '2.0.1' }, recps: recps() })
  })

  /** The provider's decrypted copy of the user's request with this name. */
  async function requestOnProvider(name: string): Promise<SsbMsg<ContentOf<'buttcloud/request'>> | undefined> {
    const msgs = (await collect(queryTypes(provider.sbot.db, ['buttcloud/request'], { live: 'old' }))) as SsbMsg<ContentOf<'buttcloud/request'>>[]
    return msgs.find((m) => m.value.author === user.id && m.value.content.name === name)
  }
})

describe('buttcloud without a reachable sbot', () => {
  let dir: string
  let port: number
  const keys = generateKeys()

  beforeAll(async () => {
    requireBuild()
    dir = mkdtempSync(join(tmpdir(), 'bc-cli-nosbot-'))
    port = await freePort()
    writeFileSync(join(dir, 'secret'), keysFileText(keys), { mode: 0o600 })
    writeFileSync(join(dir, 'config'), JSON.stringify({ connections: { incoming: { net: [{ host: '127.0.0.1', port, transform: 'shs' }] } } }))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('exits 3 when nothing listens where the folder says, or at --remote', async () => {
    const local = await runBin(['pubs', '--ssb-dir', dir])
    expect(local.code).toBe(3)
    expect(local.stderr).toContain(`cannot reach your sbot`)
    expect(local.stderr).toContain(`net:127.0.0.1:${port}`)

    const remote = await runBin(['offers', '--remote', multiserverAddress('127.0.0.1', port, keys.id), '--key-file', join(dir, 'secret')])
    expect(remote.code).toBe(3)
  })

  it('exits 3 when the folder has no key', async () => {
    const r = await runBin(['pubs', '--ssb-dir', join(dir, 'missing')])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('no SSB key at')
  })

  it('--help exits 0 and lists the commands and exit codes; a bad command line exits 2', async () => {
    const help = await runBin(['--help'])
    expect(help.code).toBe(0)
    for (const word of ['join <invite>', 'request', 'watch <pub>', 'command <pub> <verb>', 'Exit codes:', '3    cannot reach your sbot']) {
      expect(help.stdout).toContain(word)
    }
    const page = await runBin(['command', '--help'])
    expect(page.code).toBe(0)
    expect(page.stdout).toContain('Usage: buttcloud command <pub> <verb>')
    const version = await runBin(['--version'])
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    const bad = await runBin(['pubs', '--bogus'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("Unknown option '--bogus'")
  })

  it('under --json, a failure is one JSON error on stderr with its exit code', async () => {
    const unreachable = await runBin(['pubs', '--ssb-dir', dir, '--json'])
    expect(unreachable.code).toBe(3)
    expect(unreachable.stdout).toBe('')
    expect(jsonLines(unreachable.stderr)).toEqual([{ error: { code: 'sbot-unreachable', exit: 3, message: expect.stringContaining('cannot reach your sbot') } }])
    const usage = await runBin(['pubs', '--bogus', '--json'])
    expect(usage.code).toBe(2)
    expect(jsonLines(usage.stderr)).toEqual([{ error: { code: 'usage', exit: 2, message: expect.stringContaining("Unknown option '--bogus'") } }])
  })
})
