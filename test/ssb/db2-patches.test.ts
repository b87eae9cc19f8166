/**
 * applyDb2Patches is explicit and guarded: it must run before ssb-db2 loads, or the leaks stay (a module that
 * destructured the leaky helper keeps it). Each case runs in a fresh Node process, so the module cache is clean.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const PATCHES = fileURLToPath(new URL('../../src/ssb/patches.ts', import.meta.url))

/** Run `before` (CommonJS), then applyDb2Patches, in a fresh process; its stdout and whether it threw. */
function runFresh(before: string, after = ''): Promise<{ code: number | null; out: string; err: string }> {
  const script = `${before}; import(${JSON.stringify(PATCHES)}).then((m) => { m.applyDb2Patches(); ${after}; console.log('patched') }, (e) => { console.error(e.message); process.exit(3) }).catch((e) => { console.error(e.message); process.exit(3) })`
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '-e', script], { timeout: 30_000 }, (error, out, err) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err }),
    )
  })
}

describe('applyDb2Patches', () => {
  it('patches ssb-db2 and ssb-classic when it runs first', async () => {
    const r = await runFresh(
      '',
      "const onceWhen = require('ssb-db2/utils.js').onceWhen; const getMsgId = require('ssb-classic/format.js').getMsgId; " +
        "if (!String(onceWhen).includes('answered') || String(getMsgId).includes('_msgIdCache')) throw new Error('not patched')",
    )
    expect(r.err).toBe('')
    expect(r.out.trim()).toBe('patched')
  })

  it("caps async-append-only-log's block cache (its own 1,024 blocks held ~90 MB after reading a 100 MB log)", async () => {
    const r = await runFresh(
      '',
      "const { createRequire } = require('node:module'); const logRequire = createRequire(createRequire(require.resolve('ssb-db2/log.js')).resolve('async-append-only-log')); " +
        "const Cache = logRequire('@alloc/quick-lru'); const log = new Cache({ maxSize: 1024 }); const other = new Cache({ maxSize: 5 }); " +
        "if (log.maxSize !== m.LOG_CACHE_BLOCKS || other.maxSize !== 5) throw new Error('not capped: ' + log.maxSize + ' ' + other.maxSize)",
    )
    expect(r.err).toBe('')
    expect(r.out.trim()).toBe('patched')
  })

  it('keeps the block being written in the capped cache: a record read back after a scan, before its write, is there', async () => {
    // A log of 45 blocks on disk; one more record waits in memory (a long write timeout), then 40 other blocks are
    // read (an index query), then the new record is read. With only the cap, its block had left the cache and was
    // read from disk, where it is not yet: "Record has been deleted".
    const dir = mkdtempSync(join(tmpdir(), 'bc-logcache-'))
    try {
      const r = await runFresh(
        '',
        "const { createRequire } = require('node:module'); const logRequire = createRequire(createRequire(require.resolve('ssb-db2/log.js')).resolve('async-append-only-log')); " +
          `const log = logRequire('./index.js')(${JSON.stringify(join(dir, 'log'))}, { blockSize: 65536, writeTimeout: 1500, codec: { encode: (s) => Buffer.from(s), decode: (b) => b.toString(), buffer: true } }); ` +
          'const p = (f, ...a) => new Promise((res, rej) => f(...a, (e, v) => (e ? rej(e) : res(v)))); ' +
          "(async () => { const offsets = []; for (let i = 0; i < 45 * 60; i++) offsets.push(await p(log.append, 'x'.repeat(1000) + i)); await p(log.onDrain); " +
          "const fresh = await p(log.append, 'fresh'); for (let b = 0; b < 40; b++) await p(log.get, offsets[b * 60]); " +
          "const got = await p(log.get, fresh).catch((e) => 'error: ' + e.message); const old = await p(log.get, offsets[3]); " +
          "console.log(JSON.stringify({ got, old: old === 'x'.repeat(1000) + 3 })); await p(log.close) })().catch((e) => { console.error(e.message); process.exit(4) })",
      )
      expect(r.err).toBe('')
      expect(JSON.parse(r.out.split('\n').find((line) => line.startsWith('{')) ?? '{}')).toEqual({ got: 'fresh', old: true })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses to run once async-append-only-log has been loaded', async () => {
    const r = await runFresh("require(require('node:module').createRequire(require.resolve('ssb-db2/log.js')).resolve('async-append-only-log'))")
    expect(r.code).toBe(3)
    expect(r.err).toMatch(/must run before ssb-db2 loads, but .*async-append-only-log\/index\.js/)
  })

  it('refuses to run once ssb-db2 has been loaded', async () => {
    const r = await runFresh("require('ssb-db2')")
    expect(r.code).toBe(3)
    expect(r.err).toMatch(/must run before ssb-db2 loads, but .*core\.js/)
  })

  it('refuses to run once ssb-classic has been loaded', async () => {
    const r = await runFresh("require('ssb-classic/format.js')")
    expect(r.code).toBe(3)
    expect(r.err).toMatch(/ssb-classic.*format\.js was loaded first/)
  })
})
