/**
 * The box1 key cache's in-memory table: every record added or read from the file is found by its hash, ours or not
 * with its key, through growth of both the records and the slots; a later record for the same hash wins; a torn last
 * record of the file is not taken; a hash never added is not found.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Box1KeyTable } from '../../src/ssb/box1-key-table.js'

const HASH = 16
const RECORD = HASH + 1 + 33

function record(ours: boolean): Buffer {
  const r = Buffer.alloc(RECORD)
  randomBytes(HASH).copy(r, 0)
  if (ours) {
    r[HASH] = 1
    randomBytes(33).copy(r, HASH + 1)
  }
  return r
}
const hashOf = (r: Buffer) => r.toString('latin1', 0, HASH)

function expectHolds(table: Box1KeyTable, records: Buffer[]): void {
  const key = Buffer.alloc(33)
  for (const r of records) {
    const n = table.find(hashOf(r))
    expect(n).toBeGreaterThanOrEqual(0)
    expect(table.isOurs(n)).toBe(r[HASH] === 1)
    table.copyKey(n, key)
    expect(key.equals(r.subarray(HASH + 1))).toBe(true)
  }
}

describe('the box1 key table', () => {
  it('finds every record added, through growth, and nothing else', () => {
    const table = new Box1KeyTable(HASH, RECORD)
    const records = Array.from({ length: 5000 }, (_, i) => record(i % 3 !== 0))
    for (const r of records) table.add(r)
    expect(table.size).toBe(5000)
    expectHolds(table, records)
    for (let i = 0; i < 1000; i++) expect(table.find(hashOf(record(true)))).toBe(-1)
  })

  it('reads the file\'s whole records (a later one for the same hash winning) and grows on from there', () => {
    const records = Array.from({ length: 3000 }, (_, i) => record(i % 2 === 0))
    const replaced = Buffer.from(records[7]!)
    replaced[HASH] = 0
    replaced.fill(0, HASH + 1)
    const torn = record(true)
    const file = Buffer.concat([...records, replaced, torn.subarray(0, RECORD - 5)])
    const table = new Box1KeyTable(HASH, RECORD, file)
    expect(table.size).toBe(3001)
    expectHolds(table, [...records.slice(0, 7), replaced, ...records.slice(8)])
    expect(table.find(hashOf(torn))).toBe(-1)
    const more = Array.from({ length: 3000 }, () => record(true))
    for (const r of more) table.add(r)
    expectHolds(table, [...records.slice(8), ...more])
  })
})
