/**
 * The provider's index file (src/ssb/db2-index.ts, src/ssb/index-file.ts) gives a restart exactly the ledger a full
 * read of the log gives: after a clean restart, after the file is damaged in its middle, cut short, or deleted (each
 * then read again from the log, from its last good checkpoint or from the start). The first ledger is built as messages
 * arrive (ssb-db2 opens the boxed ones); the rebuilt ones by the index's own catch-up (it opens them itself).
 */
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Db2 } from '../../src/ssb/db2.js'
import { generateKeys, type SsbKeys } from '../../src/ssb/keys.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { startTestProvider, testProviderSettings } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

type Provider = Awaited<ReturnType<typeof startTestProvider>>
let running: Provider | undefined
afterEach(async () => {
  await running?.stop()
  running = undefined
})

function create(db: Db2, keys: SsbKeys, content: Record<string, unknown>): Promise<SsbMsg> {
  return new Promise((resolve, reject) =>
    db.create({ content, keys, ...(content.recps ? { encryptionFormat: 'box' as const } : {}) }, (err, msg) => (err ? reject(err) : resolve(msg!))),
  )
}

/** The ledger's whole state as the operator and the planner see it, once the provider has settled. */
async function stateOf(p: Provider): Promise<string> {
  await p.api.settled()
  await new Promise<void>((resolve) => p.sbot.db.onDrain('buttcloud', () => resolve()))
  const ledger = p.api.ledger()
  return JSON.stringify({ size: ledger.size, records: ledger.records(), placements: [...ledger.placements()] })
}

describe('the index file across restarts', () => {
  it('a restart, a damaged file, a torn one and a deleted one all give the ledger a full read of the log gives', async () => {
    const settings = testProviderSettings()
    let p = (running = await startTestProvider(settings))
    const provider = p.id
    // Owners' boxed requests and commands, written into the provider's log as replication would; one malformed request.
    for (let o = 0; o < 3; o++) {
      const owner = generateKeys()
      const recps = [owner.id, provider]
      for (let i = 0; i < 2; i++) {
        const req = await create(p.sbot.db, owner, { type: 'buttcloud/request', version: 1, provider, plan: 'free', name: `pub ${o}.${i}`, recps })
        for (const verb of ['stop', 'start']) await create(p.sbot.db, owner, { type: 'buttcloud/command', version: 1, request: req.key, verb, recps })
      }
      await create(p.sbot.db, owner, { type: 'buttcloud/request', version: 1, provider, plan: 'no such plan', recps })
      await create(p.sbot.db, owner, { type: 'buttcloud/request', version: 1, provider, name: 42, recps })
      // A question by private post, and a request boxed to someone else (which the provider cannot open).
      await create(p.sbot.db, owner, { type: 'post', text: 'pubs', recps })
      await create(p.sbot.db, owner, { type: 'buttcloud/request', version: 1, provider, plan: 'free', recps: [owner.id, generateKeys().id] })
    }
    // A public request, as an older CLI posted them.
    await create(p.sbot.db, generateKeys(), { type: 'buttcloud/request', version: 1, provider, plan: 'free', name: 'in the open' })
    await waitFor('every request in the ledger', () => (p.api.ledger().size.requests === 7 ? true : undefined), { timeoutMs: 30_000 })
    const first = await stateOf(p)
    expect(JSON.parse(first).records).toHaveLength(7)
    const file = join(settings.path, 'db2', 'indexes', 'buttcloud.entries')
    expect(existsSync(file)).toBe(true)

    const restart = async () => {
      await p.stop({ keepData: true })
      p = running = await startTestProvider(settings)
      return stateOf(p)
    }
    expect(await restart()).toBe(first)

    // A byte changed in the first chunk: the whole file is read again from the log.
    const text = readFileSync(file, 'utf8')
    const at = text.indexOf('buttcloud/request')
    expect(at).toBeGreaterThan(0)
    writeFileSync(file, text.slice(0, at) + 'buttcloud/requesT' + text.slice(at + 'buttcloud/request'.length))
    expect(await restart()).toBe(first)
    expect(readFileSync(file, 'utf8')).not.toContain('buttcloud/requesT')

    // Cut short mid-line (a crash mid-write).
    appendFileSync(file, 'E{"ok":true,"m":{"key":"%')
    expect(await restart()).toBe(first)

    // Gone: rebuilt from the whole log.
    rmSync(file)
    expect(await restart()).toBe(first)
  })
})
