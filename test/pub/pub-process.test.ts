/**
 * The hosted pub as a plain process (`node dist/pub/main.js`, as in its image): it serves, passes its health check,
 * describes itself once, lets only its masters make invites, and a classic ssb-server 16 can join it.
 */
import { createServer, type Server } from 'node:net'
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInvite, whoami } from '../../src/drivers/pub-client.js'
import { InviteCode, multiserverAddress, type FeedId } from '../../src/protocol/ids.js'
import { PUB_EXIT } from '../../src/protocol/pub-exit.js'
import { clientCall, connectClient, type SbotClient } from '../../src/ssb/client.js'
import { generateKeys, loadKeys, type SsbKeys } from '../../src/ssb/keys.js'
import { startClassicSbot, type ClassicSbot } from '../support/classic-sbot.js'
import { freePort } from '../../testkit/ports.js'
import { notPrivate } from '../support/files.js'
import { assertPubBuilt, feedMessages, runHealthCheck, spawnPub, tempDir, writeKeyFile, type PubProcess } from '../../testkit/pub-process.js'
import { waitFor } from '../../testkit/wait.js'

describe('the pub as a plain process', () => {
  const owner = generateKeys()
  const provider = generateKeys()
  const stranger = generateKeys()
  const pubKeys = generateKeys()
  const dir = tempDir('bc-pub-')
  const keyFile = writeKeyFile(join(dir, 'provided-key'), pubKeys)
  const dataDir = join(dir, 'data')
  let env: Record<string, string>
  let pub: PubProcess
  let address: string
  let classic: ClassicSbot | undefined

  beforeAll(async () => {
    assertPubBuilt()
    const port = await freePort()
    const webPort = await freePort()
    env = {
      PUB_DATA: dataDir,
      PUB_HOST: '127.0.0.1',
      PUB_PORT: String(port),
      PUB_OWNER: owner.id,
      PUB_PROVIDER: provider.id,
      PUB_NAME: 'Plain process pub',
      PUB_KEY_FILE: keyFile,
      PUB_WEB_PORT: String(webPort),
    }
    address = multiserverAddress('127.0.0.1', port, pubKeys.id)
    // A data folder an older version left readable to all, started under the usual loose umask: the pub fixes both.
    process.umask(0o022)
    mkdirSync(join(dataDir, 'old'), { recursive: true, mode: 0o755 })
    writeFileSync(join(dataDir, 'old', 'left-behind'), 'x', { mode: 0o644 })
    chmodSync(dataDir, 0o755)
    pub = spawnPub(env)
    await pub.ready
  })

  afterAll(async () => {
    await pub?.stop('SIGKILL')
    await classic?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps its data folder private: 0700 folders and 0600 files, its keyring and what it found there included', async () => {
    await pub.ready
    expect(existsSync(join(dataDir, 'keyring'))).toBe(true)
    expect(existsSync(join(dataDir, 'old', 'left-behind'))).toBe(true)
    expect(notPrivate(dataDir)).toEqual([])
  })

  it('starts with the provided key, serves SSB and passes its health check', async () => {
    const ready = await pub.ready
    expect(ready.id).toBe(pubKeys.id)
    expect(ready.address).toBe(address)
    expect(await whoami(provider, address)).toBe(pubKeys.id)
    await expect(whoami(stranger, address)).rejects.toThrow(/not in list of allowed methods/)

    const health = runHealthCheck(dataDir, { PUB_KEY_FILE: keyFile })
    expect(health.output).toContain(pubKeys.id)
    expect(health.code).toBe(0)
  })

  it('fails its health check when the pub answers with another id than its key file', () => {
    const other = writeKeyFile(join(dir, 'other-key'), generateKeys())
    const health = runHealthCheck(dataDir, { PUB_KEY_FILE: other })
    expect(health.code).toBe(1)
    expect(health.output).toMatch(/answered as .* expected/)
  })

  it('fails its health check when no pub answers on the socket', () => {
    const empty = tempDir('bc-nopub-')
    try {
      const health = runHealthCheck(empty)
      expect(health.code).toBe(1)
      expect(health.output).toMatch(/unhealthy: cannot reach/)
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it('serves its public web view without secrets', async () => {
    const ready = await pub.ready
    const res = await fetch(`http://127.0.0.1:${ready.web}/json`)
    expect(await res.json()).toEqual({ name: 'Plain process pub', id: pubKeys.id, address, owner: owner.id })
    const page = await (await fetch(`http://127.0.0.1:${ready.web}/`)).text()
    expect(page).toContain(address)
    expect(page).not.toContain(pubKeys.private)
  })

  it('publishes its about and follows its owner exactly once, also across a restart', async () => {
    expect((await pub.ready).published).toEqual(['about', 'contact'])
    const countSelfDescription = async () => {
      const client = await connectClient(stranger, address)
      try {
        const msgs = await feedMessages(client, pubKeys.id)
        const contents = msgs.map((m) => m.value.content as { type: string; about?: string; name?: string; contact?: string; following?: boolean })
        return {
          abouts: contents.filter((c) => c.type === 'about' && c.about === pubKeys.id && c.name === 'Plain process pub').length,
          follows: contents.filter((c) => c.type === 'contact' && c.contact === owner.id && c.following === true).length,
          total: contents.length,
        }
      } finally {
        client.close(() => undefined)
      }
    }
    expect(await countSelfDescription()).toEqual({ abouts: 1, follows: 1, total: 2 })

    expect(await pub.stop('SIGTERM')).toBe(0)
    pub = spawnPub(env)
    expect((await pub.ready).published).toEqual([])
    expect(await countSelfDescription()).toEqual({ abouts: 1, follows: 1, total: 2 })
  })

  it('lets the owner and the provider make invites over muxrpc, and refuses anyone else', async () => {
    const fromOwner = await createInvite(owner, address, { note: 'owner test' })
    const fromProvider = await createInvite(provider, address)
    for (const code of [fromOwner, fromProvider]) {
      expect(InviteCode.parse(code)).toBe(code)
      expect(code.startsWith(`127.0.0.1:${env.PUB_PORT}:${pubKeys.id}~`)).toBe(true)
    }
    await expect(createInvite(stranger, address)).rejects.toThrow(/not in list of allowed methods|permission|not allowed/i)
  })

  it('an invite from the owner (ssb-client with the owner key) is accepted by a classic ssb-server 16, which then has the pub feed', async () => {
    classic = await startClassicSbot()
    const ownerClient: SbotClient = await connectClient(owner, address)
    let code: string
    try {
      code = await clientCall<string>(ownerClient, 'invite.create', { uses: 1 })
    } finally {
      ownerClient.close(() => undefined)
    }
    await clientCall(classic.client, 'invite.accept', code)

    const pubFeed = await waitFor('the classic server to replicate the pub feed', async () => {
          const value = await (() => feedMessages(classic!.client, pubKeys.id as FeedId))()
          return ((msgs) => msgs.length >= 3)(value) ? value : undefined
        }, { timeoutMs: 30_000 })
    const types = pubFeed.map((m) => (m.value.content as { type: string; contact?: string }).type)
    expect(types.slice(0, 2)).toEqual(['about', 'contact'])
    // Accepting the invite made the pub follow the classic user: its third message.
    expect(pubFeed.some((m) => (m.value.content as { contact?: string }).contact === classic!.id)).toBe(true)
  })

  it('exits cleanly (code 0) on SIGTERM', async () => {
    const started = Date.now()
    expect(await pub.stop('SIGTERM')).toBe(0)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(pub.output()).toMatch(/"event":"stopped"/)
  })
})

describe('a pub started without a key file', () => {
  it('creates its key in the data folder, keeps it across restarts, and serves no web view unless asked', async () => {
    assertPubBuilt()
    const dir = tempDir('bc-nokey-')
    const owner = generateKeys()
    const env = { PUB_DATA: join(dir, 'data'), PUB_HOST: '127.0.0.1', PUB_PORT: String(await freePort()), PUB_OWNER: owner.id, PUB_NAME: 'Own key pub' }
    try {
      let pub = spawnPub(env)
      const first = await pub.ready
      expect(first.web).toBeNull()
      expect(loadKeys(join(dir, 'data', 'secret')).id).toBe(first.id)
      expect(runHealthCheck(join(dir, 'data')).code).toBe(0)
      expect(await pub.stop('SIGTERM')).toBe(0)

      pub = spawnPub(env)
      expect((await pub.ready).id).toBe(first.id)
      expect(await pub.stop('SIGTERM')).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('the pub refuses to start with a clear message', () => {
  let dir: string
  let keys: SsbKeys
  beforeAll(() => {
    assertPubBuilt()
    dir = tempDir('bc-bad-')
    keys = generateKeys()
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const base = (port: number) => ({ PUB_DATA: join(dir, 'data'), PUB_HOST: '127.0.0.1', PUB_PORT: String(port), PUB_OWNER: keys.id, PUB_NAME: 'Bad pub' })

  it('without an owner', async () => {
    const { PUB_OWNER: _omit, ...env } = base(await freePort())
    const pub = spawnPub(env)
    expect(await pub.exited).toBe(1)
    expect(pub.output()).toMatch(/cannot start: PUB_OWNER is required/)
  })

  it('when the provided key file is missing', async () => {
    const pub = spawnPub({ ...base(await freePort()), PUB_KEY_FILE: join(dir, 'no-such-key') })
    expect(await pub.exited).toBe(1)
    expect(pub.output()).toMatch(/cannot read the pub key from PUB_KEY_FILE/)
  })

  it('when its port is taken', async () => {
    const blocker: Server = createServer()
    const port = await new Promise<number>((res) => blocker.listen(0, '127.0.0.1', () => res((blocker.address() as { port: number }).port)))
    try {
      const pub = spawnPub(base(port))
      expect(await pub.exited).toBe(PUB_EXIT.portTaken)
      expect(pub.output()).toMatch(/port is in use/)
    } finally {
      blocker.close()
    }
  })
})
