/**
 * A web port someone else holds costs the pub its page, never its SSB service: the pub process starts, answers
 * whoami to its master, and says in its ready line why there is no web view.
 */
import { createServer, type Server } from 'node:net'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { whoami } from '../../src/drivers/pub-client.js'
import { multiserverAddress } from '../../src/protocol/ids.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { freePort } from '../../testkit/ports.js'
import { assertPubBuilt, spawnPub, tempDir, type PubProcess } from '../../testkit/pub-process.js'

describe('a pub whose web port is taken', () => {
  const dir = tempDir('bc-webtaken-')
  const owner = generateKeys()
  let holder: Server | undefined
  let pub: PubProcess | undefined

  afterAll(async () => {
    await pub?.stop('SIGKILL')
    await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves SSB without the page and says why', async () => {
    assertPubBuilt()
    const port = await freePort()
    const webPort = await freePort()
    holder = createServer()
    await new Promise<void>((resolve) => holder!.listen(webPort, '127.0.0.1', () => resolve()))
    pub = spawnPub({
      PUB_DATA: join(dir, 'data'),
      PUB_HOST: '127.0.0.1',
      PUB_PORT: String(port),
      PUB_OWNER: owner.id,
      PUB_NAME: 'No page',
      PUB_WEB_PORT: String(webPort),
    })
    const ready = (await pub.ready) as unknown as { id: string; web: number | null; webError?: string }
    expect(ready.web).toBeNull()
    expect(ready.webError).toMatch(new RegExp(`web view cannot listen on 127\\.0\\.0\\.1:${webPort}.*EADDRINUSE`))
    expect(await whoami(owner, multiserverAddress('127.0.0.1', port, ready.id as never))).toBe(ready.id)
  })
})
