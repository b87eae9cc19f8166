/**
 * Reads ssb-db2's log file (async-append-only-log 4) record by record, into one reused buffer (16 blocks a read), for
 * the provider index's catch-up (src/ssb/db2-index.ts). The log's own stream reads each 64 KiB block into a fresh
 * buffer and keeps it in its block cache: at an index rebuild of a 100 MB log that was ~100 MB of buffers, many of them
 * promoted to the old generation by the time the cache let go, and ~50-70 MB of them still uncollected when the
 * provider was ready (bench/coldstart). Records here are views of the reused buffer: a reader must be done with one
 * before it returns.
 *
 * The format (async-append-only-log's record.js): a block holds records, each a UInt16LE length and that many bytes;
 * a length of 0 ends the block; a deleted record is all zeros. Only records up to `until` (the log's `since`: the
 * offset of the last record written to disk) are read.
 */
import { open, read, close } from 'node:fs'

/** Blocks read at once: 1 MiB reads, ~100 of them for a 100 MB log. */
const BLOCKS_PER_READ = 16

/** What the reader is handed: the record's log offset and its bytes (undefined for a deleted record). */
export type LogRecordSink = (record: { offset: number; value?: Buffer }) => void

/**
 * Read the records with offsets in (`after`, `until`] and hand them to `onRecord` in log order. Calls back with the
 * offset of the last record handed over (or `after`): a read error or a record that does not fit its block ends the
 * reading early, and whoever reads on (ssb-db2's own scan) starts from there.
 */
export function readLogRecords(file: string, blockSize: number, after: number, until: number, onRecord: LogRecordSink, done: (last: number) => void): void {
  let last = after
  if (until <= after) return done(last)
  open(file, 'r', (err, fd) => {
    if (err) return done(last)
    const buf = Buffer.allocUnsafe(blockSize * BLOCKS_PER_READ)
    const finish = () => close(fd, () => done(last))
    /** Hand over one block's records; false once reading is over. */
    const readBlock = (block: Buffer, blockStart: number): boolean => {
      let at = 0
      while (at + 2 <= block.length) {
        const length = block.readUInt16LE(at)
        if (length === 0) break
        const offset = blockStart + at
        if (offset > until) return false
        const end = at + 2 + length
        if (end > block.length) return false
        if (offset > after) {
          const data = block.subarray(at + 2, end)
          onRecord({ offset, value: isZero(data) ? undefined : data })
          last = offset
        }
        if (offset === until) return false
        at = end
      }
      return blockStart + blockSize <= until
    }
    const readFrom = (start: number): void => {
      read(fd, buf, 0, buf.length, start, (err, bytes) => {
        if (err || bytes === 0) return finish()
        // One block per turn of the event loop, as the log's stream goes: what a block's records queued (the index hands
        // entries over in a microtask) is taken before the next block, so it dies young instead of being promoted.
        const next = (at: number): void => {
          if (at >= bytes) {
            // A short read: the file ends (or the last block is not whole) and nothing past it can be read.
            if (bytes < buf.length) return finish()
            return readFrom(start + bytes)
          }
          if (!readBlock(buf.subarray(at, Math.min(at + blockSize, bytes)), start + at)) return finish()
          setImmediate(next, at + blockSize)
        }
        next(0)
      })
    }
    readFrom(after < 0 ? 0 : after - (after % blockSize))
  })
}

/** A deleted record: async-append-only-log overwrites its bytes with zeros. */
function isZero(data: Buffer): boolean {
  if (data.length === 0 || data[0] !== 0) return false
  for (let i = 1; i < data.length; i++) if (data[i] !== 0) return false
  return true
}
