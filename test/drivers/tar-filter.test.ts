/** The tar filter the Swarm driver backs up through, on archives GNU tar makes (ustar, pax and GNU long names). */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { afterAll, describe, expect, it } from 'vitest'
import { tarWithout } from '../../src/drivers/tar-filter.js'

const dir = mkdtempSync(join(tmpdir(), 'bc-tar-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const long = `${'deep/'.repeat(30)}index-with-a-name-well-past-one-hundred-bytes.bin`
const data = join(dir, 'data')
for (const [path, text] of [
  ['db2/log.bipf', 'log '.repeat(300)],
  [long, 'long name'],
  ['keyring/CURRENT', 'MANIFEST-000002'],
  [`keyring/${'k'.repeat(120)}`, 'secret with a long name'],
  ['conn.json', '{}'],
] as const) {
  mkdirSync(join(data, path, '..'), { recursive: true })
  writeFileSync(join(data, path), text)
}

/** Make a tar of the data folder in `format`, filter it, and list and unpack what is left. */
async function filtered(format: string): Promise<{ names: string[]; out: string }> {
  const archive = execFileSync('tar', ['-c', `--format=${format}`, '-C', data, '.'], { maxBuffer: 1 << 24 })
  // Fed in awkward pieces, as a socket would: headers and data split across chunks.
  const pieces = [] as Buffer[]
  for (let i = 0; i < archive.length; i += 333) pieces.push(archive.subarray(i, i + 333))
  const kept = await buffer(Readable.from(pieces).pipe(tarWithout((path) => path.split('/')[0] === 'keyring')))
  const file = join(dir, `${format}.tar`)
  writeFileSync(file, kept)
  const out = join(dir, `out-${format}`)
  mkdirSync(out)
  execFileSync('tar', ['-xf', file, '-C', out])
  return { names: execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter(Boolean), out }
}

describe('tarWithout', () => {
  for (const format of ['gnu', 'pax', 'ustar']) {
    it(`drops the keyring and keeps everything else intact (${format})`, async () => {
      if (format === 'ustar') {
        // ustar cannot hold a 120-byte file name: only the short part of the test applies.
        rmSync(join(data, 'keyring', 'k'.repeat(120)))
        rmSync(join(data, long.split('/')[0]!), { recursive: true })
      }
      const { names, out } = await filtered(format)
      expect(names.filter((n) => n.includes('keyring'))).toEqual([])
      expect(names).toContain('./db2/log.bipf')
      expect(names).toContain('./conn.json')
      expect(readFileSync(join(out, 'db2/log.bipf'), 'utf8')).toBe('log '.repeat(300))
      if (format !== 'ustar') expect(readFileSync(join(out, long), 'utf8')).toBe('long name')
    })
  }
})
