/**
 * The durable journal the provider keeps its private records in: entries come back in order after a reopen, a line
 * torn by a crash mid-append is dropped (and cut off the file, so the next append starts a clean line), a corrupt
 * line in the middle refuses to open, and the file is its owner's alone.
 */
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Journal, journalText } from '../../src/ssb/journal.js'
import { removeLater } from '../../testkit/sbots.js'

type Entry = { n: number }
const parse = (v: unknown): Entry => {
  if (typeof (v as Entry | null)?.n !== 'number') throw new Error('expected { n }')
  return v as Entry
}

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bc-journal-'))
  removeLater(dir)
  return join(dir, 'private', 'j.jsonl')
}

describe('journal', () => {
  it('keeps entries across a reopen, in order, in a file only its owner can read', () => {
    const file = tempFile()
    const j = Journal.open(file, parse)
    expect(j.entries()).toEqual([])
    j.append({ n: 1 })
    j.append({ n: 2 })
    j.close()
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(statSync(join(file, '..')).mode & 0o777).toBe(0o700)
    const again = Journal.open(file, parse)
    expect(again.entries()).toEqual([{ n: 1 }, { n: 2 }])
    again.close()
  })

  it('drops a line torn by a crash, and appends after it on a clean line', () => {
    const file = tempFile()
    const j = Journal.open(file, parse)
    j.append({ n: 1 })
    j.close()
    appendFileSync(file, '{"n":')
    expect(journalText(file)).toBe('{"n":1}\n')
    const reopened = Journal.open(file, parse)
    expect(reopened.entries()).toEqual([{ n: 1 }])
    reopened.append({ n: 2 })
    reopened.close()
    expect(readFileSync(file, 'utf8')).toBe('{"n":1}\n{"n":2}\n')
  })

  it('refuses to open over a corrupt line rather than guess', () => {
    const file = tempFile()
    Journal.open(file, parse).close()
    writeFileSync(file, '{"n":1}\n{"m":2}\n{"n":3}\n')
    expect(() => Journal.open(file, parse)).toThrow(/line 2 is not a journal entry: expected \{ n \}/)
  })
})
