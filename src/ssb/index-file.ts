/**
 * One append-only file holding a custom index's entries and the log offset they cover: what a restart reads back
 * instead of re-reading (and re-decrypting) the log. Lines: a header (`H{"v":version}`), then chunks of entry lines
 * (`E<json>`), each chunk closed by a checkpoint (`C{"o":offset,"h":sha256 of the chunk's lines}`). A chunk counts only
 * once its checkpoint is there and its hash matches: a torn tail (a crash mid-write) or a damaged chunk is cut off
 * with everything after it, and the index reads the log again from the last good checkpoint. A header of another
 * version (or none) means nothing is kept: the index is rebuilt from the log.
 *
 * Written with one append per chunk, so the first start after a rebuild writes ~50 chunks at 100,000 entries where a
 * leveldb index wrote 100,000 records (and read them back one by one at each start: bench/coldstart).
 */
import { createHash } from 'node:crypto'
import { appendFileSync, closeSync, existsSync, openSync, readSync, truncateSync, writeFileSync } from 'node:fs'

export interface IndexFileRead {
  /** The log offset the entries handed over cover (-1: none). */
  offset: number
  /** How many entries were handed over. */
  entries: number
  /** Why part or all of the file was not used, when it was not (a torn tail, a damaged chunk, another version). */
  dropped?: string
}

const header = (version: number) => `H${JSON.stringify({ v: version })}\n`
const NEWLINE = 0x0a
const READ_BYTES = 1 << 20

/**
 * Read the file a chunk at a time (memory: one chunk, not the file), handing each good chunk's entries to `onChunk`,
 * up to the last good checkpoint at or below `maxOffset` (the log's end: a file ahead of its log covers messages
 * that are not there). Cuts the file back to that checkpoint, or rewrites the header, so later appends follow good data.
 */
export function readIndexFile<E>(file: string, version: number, maxOffset: number, onChunk: (entries: E[]) => void): IndexFileRead {
  const head = Buffer.from(header(version))
  if (!existsSync(file)) {
    writeFileSync(file, head, { mode: 0o600 })
    return { offset: -1, entries: 0 }
  }
  const fd = openSync(file, 'r')
  let offset = -1
  let count = 0
  let goodEnd = 0
  let dropped: string | undefined
  try {
    const first = Buffer.alloc(head.length)
    const got = readSync(fd, first, 0, head.length, 0)
    if (got < head.length || !first.equals(head)) {
      dropped = got === 0 ? undefined : 'written by another version'
    } else {
      goodEnd = head.length
      let position = head.length
      let rest = Buffer.alloc(0)
      let chunk: E[] = []
      let hash = createHash('sha256')
      const buf = Buffer.alloc(READ_BYTES)
      reading: for (;;) {
        const n = readSync(fd, buf, 0, READ_BYTES, position)
        if (n === 0) break
        position += n
        const data = rest.length ? Buffer.concat([rest, buf.subarray(0, n)]) : buf.subarray(0, n)
        let at = 0
        for (let end = data.indexOf(NEWLINE, at); end >= 0; end = data.indexOf(NEWLINE, at)) {
          const kind = data[at]
          if (kind === 0x45 /* E */) {
            hash.update(data.subarray(at, end + 1))
            try {
              chunk.push(JSON.parse(data.toString('utf8', at + 1, end)) as E)
            } catch {
              dropped = 'a damaged chunk'
              break reading
            }
          } else if (kind === 0x43 /* C */) {
            const mark = parseCheckpoint(data.toString('utf8', at + 1, end))
            if (!mark || mark.h !== hash.digest('hex')) {
              dropped = 'a damaged chunk'
              break reading
            }
            if (mark.o > maxOffset) {
              dropped = 'entries past the end of the log'
              break reading
            }
            onChunk(chunk)
            count += chunk.length
            offset = mark.o
            goodEnd = position - data.length + end + 1
            chunk = []
            hash = createHash('sha256')
          } else {
            dropped = 'a damaged line'
            break reading
          }
          at = end + 1
        }
        // Copied: the read buffer is reused.
        rest = Buffer.from(data.subarray(at))
      }
      if (!dropped && (chunk.length > 0 || rest.length > 0)) dropped = rest.length ? 'a torn last line' : 'a chunk without its checkpoint'
    }
  } finally {
    closeSync(fd)
  }
  if (goodEnd === 0) writeFileSync(file, head, { mode: 0o600 })
  else if (dropped) truncateSync(file, goodEnd)
  return { offset, entries: count, ...(dropped ? { dropped } : {}) }
}

function parseCheckpoint(json: string): { o: number; h: string } | undefined {
  try {
    const v = JSON.parse(json) as { o?: unknown; h?: unknown }
    return typeof v.o === 'number' && Number.isInteger(v.o) && v.o >= -1 && typeof v.h === 'string' ? { o: v.o, h: v.h } : undefined
  } catch {
    return undefined
  }
}

/**
 * A chunk's entry lines as they go into the file, gathered in one buffer reused from chunk to chunk. Kept as strings
 * until the chunk was written, 2,048 lines lived through several young-generation collections and were promoted: at an
 * index rebuild of 100,000 entries that was ~50 MB of old-generation garbage (bench/coldstart).
 */
export class ChunkLines {
  private buf = Buffer.allocUnsafe(1 << 16)
  private used = 0
  /** Entries gathered since the last write. */
  count = 0

  /** Add one entry, already JSON (which never holds a raw newline). */
  add(json: string): void {
    this.reserve(json.length * 3 + 2)
    this.buf[this.used++] = 0x45 /* E */
    this.used += this.buf.write(json, this.used, 'utf8')
    this.buf[this.used++] = NEWLINE
    this.count++
  }

  /** Append the gathered lines and their checkpoint at `offset` to `file` in one write, then start afresh. */
  appendTo(file: string, offset: number): void {
    const lines = this.buf.subarray(0, this.used)
    const mark = `C${JSON.stringify({ o: offset, h: createHash('sha256').update(lines).digest('hex') })}\n`
    this.reserve(mark.length)
    const end = this.used + this.buf.write(mark, this.used, 'utf8')
    appendFileSync(file, this.buf.subarray(0, end), { mode: 0o600 })
    this.clear()
  }

  /** Forget what was gathered. */
  clear(): void {
    this.used = 0
    this.count = 0
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.used + bytes))
    this.buf.copy(bigger, 0, 0, this.used)
    this.buf = bigger
  }
}

/** Append one chunk: its entries (already JSON), then its checkpoint at `offset`. */
export function appendIndexChunk(file: string, entriesJson: readonly string[], offset: number): void {
  const lines = new ChunkLines()
  for (const json of entriesJson) lines.add(json)
  lines.appendTo(file, offset)
}

/** Empty the file down to its header (ssb-db2 is rebuilding the index). */
export function resetIndexFile(file: string, version: number): void {
  writeFileSync(file, header(version), { mode: 0o600 })
}
