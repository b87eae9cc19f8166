/**
 * Regression test for the ssb-db2/ssb-classic leaks patched by applyDb2Patches (src/ssb/patches.ts): a message added to the database
 * must not stay reachable once it is stored. Unpatched, every added message object stayed in the heap for good
 * (a listener per add in ssb-db2's onceWhen, and ssb-classic's getMsgId Map), which OOM-killed pubs under limits.
 */
import { rmSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, describe, expect, it } from 'vitest'
import { dbOps } from '../../src/ssb/db2.js'
import { generateKeys } from '../../src/ssb/keys.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { applyDb2Patches } from '../../src/ssb/patches.js'
import { closeSbot, createSbot, type Sbot } from '../../src/ssb/server.js'
import { sbotConfig } from '../../src/ssb/config.js'
import { tempDir } from '../../testkit/pub-process.js'

// Exposes V8's gc() to this worker only, so the test can tell "unreachable" from "not yet collected".
setFlagsFromString('--expose_gc')
const gc = runInNewContext('gc') as () => void

const dirs: string[] = []
afterAll(async () => {
  // jitdb writes index files shortly after close.
  await new Promise((r) => setTimeout(r, 1500))
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function startSbot(): Sbot {
  const dir = tempDir('bc-leak-')
  dirs.push(dir)
  applyDb2Patches()
  return createSbot(sbotConfig({ path: dir, keys: generateKeys(), host: '127.0.0.1', port: 0, unixSocket: false }))
}

const call = <T>(fn: (cb: (err: Error | null, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))))

describe('ingestion memory', () => {
  it('lets messages go once ssb-db2 has stored them', async () => {
    const COUNT = 200
    const author = generateKeys()
    const source = startSbot()
    const target = startSbot()
    try {
      for (let i = 0; i < COUNT; i++) await call((cb) => source.db.create({ content: { type: 'post', text: `message ${i}` }, keys: author }, cb))
      const stored = await call<SsbMsg[]>((cb) => source.db.query(dbOps.where(dbOps.author(author.id)), dbOps.toCallback(cb)))
      const natives = stored.sort((a, b) => a.value.sequence - b.value.sequence).map((m) => JSON.stringify(m.value))
      expect(natives).toHaveLength(COUNT)

      const refs: Array<WeakRef<object>> = []
      for (const text of natives) {
        const msg = JSON.parse(text) as object
        refs.push(new WeakRef(msg))
        await call((cb) => target.db.add(msg, cb))
      }
      // ssb-db2 keeps the latest message of each feed as its feed state; everything older must be collectable.
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 20))
        gc()
      }
      const alive = refs.filter((ref) => ref.deref() !== undefined).length
      expect(alive).toBeLessThanOrEqual(3)
    } finally {
      await closeSbot(source)
      await closeSbot(target)
    }
  })
})
