import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IngestGate, PACED_NET, usePacedNet } from '../../pub/ingest-pacing.js'
import { startPub } from '../../pub/server.js'
import { readSettings } from '../../pub/settings.js'
import { connectClient } from '../../src/ssb/client.js'
import { generateKeys } from '../../src/ssb/keys.js'
import type { Source } from '../../src/ssb/pull.js'
import { sbotConfig } from '../../src/ssb/config.js'
import { freePort } from '../../testkit/ports.js'
import { startFeedSource, tempDir, vectorClock } from '../../testkit/pub-process.js'
import { waitFor } from '../../testkit/wait.js'

describe('ingest gate', () => {
  it('runs reads at once below the high mark, holds them at it, and releases them at the low mark', () => {
    const gate = new IngestGate({ high: 3, low: 1 })
    const ran: string[] = []
    gate.added()
    gate.added()
    gate.whenOpen(() => ran.push('a'))
    gate.added()
    gate.whenOpen(() => ran.push('b'))
    gate.whenOpen(() => ran.push('c'))
    expect(ran).toEqual(['a'])
    expect(gate.pauses).toBe(2)
    gate.done()
    expect(ran).toEqual(['a'])
    gate.done()
    expect(ran).toEqual(['a', 'b', 'c'])
    expect(gate.backlog).toBe(1)
    expect(gate.maxBacklog).toBe(3)
  })

  it('paces a pull-stream source: no read while closed, aborts pass through', async () => {
    const gate = new IngestGate({ high: 1, low: 0 })
    let reads = 0
    const inner: Source<number> = (abort, cb) => {
      if (abort) return cb(abort)
      reads++
      cb(null, reads)
    }
    const paced = gate.pace(inner)
    gate.added()
    const got: number[] = []
    paced(null, (_end, n) => got.push(n as number))
    expect(reads).toBe(0)
    gate.done()
    expect(got).toEqual([1])
    let aborted: unknown
    paced(true, (end) => (aborted = end))
    expect(aborted).toBe(true)
  })

  it('moves net connections onto the paced transport and leaves the unix socket alone', () => {
    const config = usePacedNet(sbotConfig({ path: '/tmp/x', keys: generateKeys(), host: '127.0.0.1', port: 1 }))
    expect(Object.keys(config.connections.incoming).sort()).toEqual([PACED_NET, 'unix'].sort())
    expect(Object.keys(config.connections.outgoing)).toEqual([PACED_NET])
  })
})

describe('a pub with a small ingest backlog', () => {
  it('holds its peers back and still replicates everything', async () => {
    const owner = generateKeys()
    const dir = tempDir('bc-pace-')
    const source = await startFeedSource({ feeds: 1, perFeed: 1500 })
    const settings = readSettings({
      PUB_DATA: join(dir, 'data'),
      PUB_HOST: '127.0.0.1',
      PUB_PORT: String(await freePort()),
      PUB_OWNER: owner.id,
      PUB_NAME: 'Paced pub',
      PUB_INGEST_BACKLOG: '50,10',
    })
    const pub = await startPub(settings)
    try {
      const feed = source.feeds[0]!.id
      await new Promise((resolve, reject) => pub.sbot.friends.follow(feed, { state: true }, (err) => (err ? reject(err) : resolve(null))))
      await new Promise((resolve, reject) => source.sbot.conn.connect(pub.address, (err) => (err ? reject(err) : resolve(null))))
      const client = await connectClient(owner, pub.address)
      try {
        await waitFor('the pub to have the whole feed', async () => {
          const value = await (() => vectorClock(client))()
          return ((clock) => clock[feed] === 1500)(value) ? value : undefined
        }, { timeoutMs: 60_000 })
      } finally {
        client.close(() => undefined)
      }
      const ingest = pub.ingest()!
      expect(ingest.pauses).toBeGreaterThan(0)
      // One TCP read may carry up to ~64 KB of messages past the mark before the gate closes.
      expect(ingest.maxBacklog).toBeLessThan(50 + 200)
      expect(ingest.backlog).toBe(0)
    } finally {
      await pub.close()
      await source.close()
      // source.close already waited out jitdb's late index writes for both servers.
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
