/**
 * The pub's in-process health check and the cheap probe Docker runs on it: the pub writes until when it counts as
 * healthy, the image's HEALTHCHECK command (run here with /bin/sh, as in the container) passes on that file, goes
 * stale when the pub hangs and passes again when it resumes; the check proves SSB (a secret handshake completed as
 * the pub on its network), not a live process, and prints nothing; a health file left by an earlier run never vouches for a pub that cannot start.
 */
import { spawnSync } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DATA_DIR, PUB_HEALTHCHECK } from '../../pub/image/constants.js'
import { PUB_EXIT } from '../../src/protocol/pub-exit.js'
import { shsHandshake } from '../../src/ssb/shs-check.js'
import { generateKeys, MAIN_NETWORK_CAPS } from '../../src/ssb/keys.js'
import { freePort } from '../../testkit/ports.js'
import { assertPubBuilt, spawnPub, tempDir, writeKeyFile, type PubProcess } from '../../testkit/pub-process.js'
import { waitFor } from '../../testkit/wait.js'

/** Docker's probe, pointed at this data folder instead of the image's /data. */
function probe(dataDir: string): number | null {
  const [, shell, flag, script] = PUB_HEALTHCHECK
  return spawnSync(shell!, [flag!, script!.replaceAll(DATA_DIR, dataDir)], { encoding: 'utf8' }).status
}

describe('the pub checks itself', () => {
  const dir = tempDir('bc-self-')
  const dataDir = join(dir, 'data')
  const pubKeys = generateKeys()
  let pub: PubProcess
  let port: number

  beforeAll(async () => {
    assertPubBuilt()
    port = await freePort()
    pub = spawnPub({
      PUB_DATA: dataDir,
      PUB_HOST: '127.0.0.1',
      PUB_PORT: String(port),
      PUB_OWNER: generateKeys().id,
      PUB_NAME: 'Self-checking pub',
      PUB_KEY_FILE: writeKeyFile(join(dir, 'key'), pubKeys),
      PUB_SELF_CHECK_MS: '1000',
    })
    await pub.ready
  })

  afterAll(async () => {
    if (pub) {
      process.kill(pub.child.pid!, 'SIGCONT')
      await pub.stop('SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('writes a health file three intervals ahead before it says it is ready, and the probe passes on it', () => {
    const until = Number(readFileSync(join(dataDir, 'health'), 'utf8'))
    const now = Date.now() / 1000
    expect(until).toBeGreaterThan(now)
    expect(until).toBeLessThanOrEqual(Math.ceil(now + 3))
    expect(probe(dataDir)).toBe(0)
  })

  it('turns unhealthy when the pub hangs, and healthy again when it resumes', async () => {
    process.kill(pub.child.pid!, 'SIGSTOP')
    try {
      await waitFor('the probe to fail on a hung pub', () => probe(dataDir) === 1, { timeoutMs: 10_000, intervalMs: 200 })
    } finally {
      process.kill(pub.child.pid!, 'SIGCONT')
    }
    await waitFor('the probe to pass again', () => probe(dataDir) === 0, { timeoutMs: 10_000, intervalMs: 200 })
  })

  it('proves SSB on the port: a handshake as the pub on its network passes; another key, network or a plain listener fail', async () => {
    await expect(shsHandshake('127.0.0.1', port, MAIN_NETWORK_CAPS, pubKeys.id)).resolves.toBeUndefined()
    await expect(shsHandshake('127.0.0.1', port, MAIN_NETWORK_CAPS, generateKeys().id, 2000)).rejects.toThrow(/no handshake/)
    await expect(shsHandshake('127.0.0.1', port, Buffer.alloc(32, 7).toString('base64'), pubKeys.id, 2000)).rejects.toThrow(/no handshake/)
    const echo: Server = createServer((socket) => socket.pipe(socket))
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
    try {
      const echoPort = (echo.address() as { port: number }).port
      // An echo sends our own hello back, which carries a valid HMAC: the handshake must still fail.
      await expect(shsHandshake('127.0.0.1', echoPort, MAIN_NETWORK_CAPS, pubKeys.id, 2000)).rejects.toThrow(/no handshake/)
    } finally {
      await new Promise<void>((resolve) => echo.close(() => resolve()))
    }
  })

  it('checks itself without a line on its stderr (a half handshake would print one every interval)', async () => {
    const before = pub.output().length
    const at = Number(readFileSync(join(dataDir, 'health'), 'utf8'))
    await waitFor('two more self-checks', () => Number(readFileSync(join(dataDir, 'health'), 'utf8')) >= at + 2, { timeoutMs: 10_000, intervalMs: 200 })
    expect(pub.output().slice(before)).not.toMatch(/server error|Error/)
  })
})

describe('a health file from an earlier run', () => {
  it('is removed at start, so a pub that cannot start (its port taken: exit 98) is never healthy', async () => {
    assertPubBuilt()
    const dir = tempDir('bc-stale-')
    const dataDir = join(dir, 'data')
    const squatter = createServer()
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve))
    try {
      const port = (squatter.address() as { port: number }).port
      spawnSync('mkdir', ['-p', dataDir])
      writeFileSync(join(dataDir, 'health'), `${Math.ceil(Date.now() / 1000) + 3600}\n`)
      expect(probe(dataDir)).toBe(0)
      const pub = spawnPub({ PUB_DATA: dataDir, PUB_HOST: '127.0.0.1', PUB_PORT: String(port), PUB_OWNER: generateKeys().id, PUB_NAME: 'Squatted' })
      expect(await pub.exited).toBe(PUB_EXIT.portTaken)
      expect(pub.output()).toMatch(/cannot start: .*the port is in use/)
      expect(existsSync(join(dataDir, 'health'))).toBe(false)
      expect(probe(dataDir)).not.toBe(0)
    } finally {
      squatter.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
