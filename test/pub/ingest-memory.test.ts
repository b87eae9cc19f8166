/**
 * Regression test for the ssb-db2/ssb-classic leaks patched by applyDb2Patches (src/ssb/patches.ts): a message added to the database
 * must not stay reachable once it is stored. Unpatched, every added message object stayed in the heap for good
 * (a listener per add in ssb-db2's onceWhen, and ssb-classic's getMsgId Map), which OOM-killed pubs under limits.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, describe, expect, it } from 'vitest'
import { dbOps } from '../../src/ssb/db2.js'
import { generateKeys } from '../../src/ssb/keys.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { closeSbot, type Sbot } from '../../src/ssb/server.js'
import { removeAfterLateWrites, startSbot } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

// Exposes V8's gc() to this worker only, so the test can tell "unreachable" from "not yet collected".
setFlagsFromString('--expose_gc')
const gc = runInNewContext('gc') as () => void

const dirs: string[] = []
afterAll(() => removeAfterLateWrites(dirs))

function startLeakSbot(): Sbot {
  const { sbot, dir } = startSbot({ prefix: 'bc-leak-', unixSocket: false })
  dirs.push(dir)
  return sbot
}

const call = <T>(fn: (cb: (err: Error | null, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))))

describe('ingestion memory', () => {
  it('lets messages go once ssb-db2 has stored them', async () => {
    const COUNT = 200
    const author = generateKeys()
    const source = startLeakSbot()
    const target = startLeakSbot()
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
      // Collected once ssb-db2's pending work lets go of them: collect and count again until it has (a leak never does).
      const alive = await waitFor(
        'the stored messages to be collected',
        () => {
          gc()
          const count = refs.filter((ref) => ref.deref() !== undefined).length
          return count <= 3 ? count : undefined
        },
        { timeoutMs: 5_000, intervalMs: 20 },
      )
      expect(alive).toBeLessThanOrEqual(3)
    } finally {
      await closeSbot(source)
      await closeSbot(target)
    }
  })
})
