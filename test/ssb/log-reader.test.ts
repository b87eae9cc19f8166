/**
 * The catch-up's own reader of ssb-db2's log file gives exactly the records the log's own stream gives (offsets and
 * bytes, a deleted record as none) over several blocks, from the start, from an offset inside a later block, and up
 * to an offset short of the end.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLogRecords } from '../../src/ssb/log-reader.js'
import { generateKeys, keysFileText } from '../../src/ssb/keys.js'
import { applyDb2Patches } from '../../src/ssb/patches.js'
import { closeSbot, createSbot } from '../../src/ssb/server.js'
import { sbotConfig } from '../../src/ssb/config.js'
import { LATE_INDEX_WRITES_MS } from '../../testkit/sbots.js'

type Rec = { offset: number; value?: Buffer }
interface RawLog {
  filename: string
  blockSize: number
  since: { value: number }
  onDrain(cb: () => void): void
  onDeletesFlushed(cb: () => void): void
  stream(opts: { gt: number; decrypt: false }): { pipe(sink: { paused: boolean; write(r: { offset: number; value?: Buffer | null }): void; end(): void }): void }
}

const fromStream = (log: RawLog, after: number, until: number) =>
  new Promise<Rec[]>((resolve) => {
    const out: Rec[] = []
    log.stream({ gt: after, decrypt: false }).pipe({
      paused: false,
      write: (r) => {
        if (r.offset <= until) out.push({ offset: r.offset, ...(r.value ? { value: Buffer.from(r.value) } : {}) })
      },
      end: () => resolve(out),
    })
  })

const fromFile = (log: RawLog, after: number, until: number) =>
  new Promise<{ records: Rec[]; last: number }>((resolve) => {
    const records: Rec[] = []
    readLogRecords(log.filename, log.blockSize, after, until, (r) => records.push({ offset: r.offset, ...(r.value ? { value: Buffer.from(r.value) } : {}) }), (last) => resolve({ records, last }))
  })

describe('readLogRecords', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bc-logreader-'))
  afterAll(async () => {
    await new Promise((r) => setTimeout(r, LATE_INDEX_WRITES_MS))
    rmSync(dir, { recursive: true, force: true })
  })

  it('reads what the log\'s stream reads', async () => {
    const keys = generateKeys()
    writeFileSync(join(dir, 'secret'), keysFileText(keys), { mode: 0o600 })
    applyDb2Patches()
    const sbot = createSbot(sbotConfig({ path: dir, keys, host: '127.0.0.1', port: 0, allowPrivate: true }))
    try {
      const db = sbot.db as unknown as {
        create(o: object, cb: (err: unknown, msg: { key: string }) => void): void
        del(key: string, cb: (err: unknown) => void): void
        getLog(): RawLog
      }
      const keysMade: string[] = []
      for (let i = 0; i < 300; i++) {
        const content = i % 3 === 0 ? { type: 'test', i, text: 'b'.repeat(300), recps: [keys.id] } : { type: 'test', i, text: 'p'.repeat(i * 3) }
        const msg = await new Promise<{ key: string }>((resolve, reject) =>
          db.create({ content, ...(i % 3 === 0 ? { encryptionFormat: 'box' } : {}) }, (err, m) => (err ? reject(err) : resolve(m))),
        )
        keysMade.push(msg.key)
      }
      await new Promise<void>((resolve, reject) => db.del(keysMade[10]!, (err) => (err ? reject(err) : resolve())))
      const log = db.getLog()
      await new Promise<void>((resolve) => log.onDeletesFlushed(() => resolve()))
      await new Promise<void>((resolve) => log.onDrain(() => resolve()))
      const end = log.since.value

      const all = await fromStream(log, -1, end)
      expect(all).toHaveLength(300)
      expect(all.filter((r) => !r.value)).toHaveLength(1)
      expect(Math.floor(end / log.blockSize)).toBeGreaterThanOrEqual(2)
      const whole = await fromFile(log, -1, end)
      expect(whole.records).toEqual(all)
      expect(whole.last).toBe(end)

      // From a record inside the second block, up to one inside the last.
      const after = all.find((r) => r.offset > log.blockSize + 100)!.offset
      const until = all[all.length - 5]!.offset
      const part = await fromFile(log, after, until)
      expect(part.records).toEqual(all.filter((r) => r.offset > after && r.offset <= until))
      expect(part.last).toBe(until)
      // Nothing to read: the last offset is handed back as it was.
      expect(await fromFile(log, end, end)).toEqual({ records: [], last: end })
    } finally {
      await closeSbot(sbot)
    }
  })
})
