/**
 * The custom index's file (src/ssb/index-file.ts): chunks count only with a matching checkpoint, so a torn tail, a
 * damaged chunk, chunks past the log's end and a file of another version are cut off (the index then reads the log
 * again from the last good checkpoint), and what follows a cut is appended after good data.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, appendFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ChunkLines, appendIndexChunk, readIndexFile, resetIndexFile } from '../../src/ssb/index-file.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function file(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bc-index-file-'))
  dirs.push(dir)
  return join(dir, 'test.entries')
}
const json = (xs: object[]) => xs.map((x) => JSON.stringify(x))
function read(f: string, version = 1, maxOffset = Number.MAX_SAFE_INTEGER) {
  const got: unknown[] = []
  const r = readIndexFile<unknown>(f, version, maxOffset, (es) => got.push(...es))
  return { ...r, got }
}

describe('index file', () => {
  it('reads back every chunk in order with the last offset, and starts empty (0600) when absent', () => {
    const f = file()
    expect(read(f)).toEqual({ offset: -1, entries: 0, got: [] })
    expect(statSync(f).mode & 0o777).toBe(0o600)
    appendIndexChunk(f, json([{ a: 1 }, { a: 'two\nlines' }]), 100)
    appendIndexChunk(f, [], 150)
    appendIndexChunk(f, json([{ a: 3 }]), 200)
    expect(read(f)).toEqual({ offset: 200, entries: 3, got: [{ a: 1 }, { a: 'two\nlines' }, { a: 3 }] })
  })

  it('gathers chunks in one reused buffer: past its first size, with multi-byte text, and empty again after a write', () => {
    const f = file()
    read(f)
    const lines = new ChunkLines()
    const first = Array.from({ length: 300 }, (_, i) => ({ i, text: `ü€😀 ${'x'.repeat(i * 3)}` }))
    for (const e of first) lines.add(JSON.stringify(e))
    expect(lines.count).toBe(300)
    lines.appendTo(f, 1000)
    expect(lines.count).toBe(0)
    lines.add(JSON.stringify({ after: 'the write' }))
    lines.appendTo(f, 2000)
    expect(read(f)).toEqual({ offset: 2000, entries: 301, got: [...first, { after: 'the write' }] })
    // Past the buffer's first 64 KiB: the chunk grew it and still hashed and read back whole.
    expect(statSync(f).size).toBeGreaterThan(1 << 16)
  })

  it('cuts a torn last line, and what is appended next follows the good data', () => {
    const f = file()
    read(f)
    appendIndexChunk(f, json([{ a: 1 }]), 100)
    const good = statSync(f).size
    appendFileSync(f, 'E{"a":2}\nC{"o":2')
    expect(read(f)).toMatchObject({ offset: 100, got: [{ a: 1 }], dropped: 'a torn last line' })
    expect(statSync(f).size).toBe(good)
    appendIndexChunk(f, json([{ a: 2 }]), 200)
    expect(read(f)).toEqual({ offset: 200, entries: 2, got: [{ a: 1 }, { a: 2 }] })
  })

  it('cuts a chunk whose bytes changed, and everything after it', () => {
    const f = file()
    read(f)
    appendIndexChunk(f, json([{ a: 1 }]), 100)
    appendIndexChunk(f, json([{ a: 22 }]), 200)
    appendIndexChunk(f, json([{ a: 3 }]), 300)
    writeFileSync(f, readFileSync(f, 'utf8').replace('{"a":22}', '{"a":23}'))
    expect(read(f)).toMatchObject({ offset: 100, got: [{ a: 1 }], dropped: 'a damaged chunk' })
    expect(read(f)).toEqual({ offset: 100, entries: 1, got: [{ a: 1 }] })
  })

  it('cuts entries without a checkpoint, and chunks past the end of the log', () => {
    const f = file()
    read(f)
    appendIndexChunk(f, json([{ a: 1 }]), 100)
    appendIndexChunk(f, json([{ a: 2 }]), 200)
    expect(read(f, 1, 150)).toMatchObject({ offset: 100, got: [{ a: 1 }], dropped: 'entries past the end of the log' })
    appendFileSync(f, 'E{"a":2}\n')
    expect(read(f)).toMatchObject({ offset: 100, got: [{ a: 1 }], dropped: 'a chunk without its checkpoint' })
  })

  it('keeps nothing of a file written by another version, or of one reset', () => {
    const f = file()
    read(f, 1)
    appendIndexChunk(f, json([{ a: 1 }]), 100)
    expect(read(f, 2)).toEqual({ offset: -1, entries: 0, got: [], dropped: 'written by another version' })
    appendIndexChunk(f, json([{ a: 1 }]), 100)
    expect(read(f, 2)).toEqual({ offset: 100, entries: 1, got: [{ a: 1 }] })
    resetIndexFile(f, 2)
    expect(read(f, 2)).toEqual({ offset: -1, entries: 0, got: [] })
  })
})
