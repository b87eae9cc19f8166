/**
 * A durable append-only journal: one JSON value per line in one file, each append written and fsynced before it
 * returns, so a record the caller acts on survives a killed process and a power cut. The provider keeps what only it
 * reads here (docs/PROTOCOL.md, "Where things live"), not on its feed, because every customer replicates that feed.
 * A line cut short by a crash was never acknowledged to anyone: it is dropped (and cut off the file) when the journal
 * is opened. Any other line that does not parse is corruption, and opening refuses rather than guess.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

export class Journal<T> {
  private fd: number | undefined

  private constructor(
    private readonly file: string,
    private readonly kept: T[],
    fd: number,
  ) {
    this.fd = fd
  }

  /** Open (or create, 0600 in a 0700 folder) the journal at `file`; `parse` checks each line's value, throwing when it is wrong. */
  static open<T>(file: string, parse: (value: unknown) => T): Journal<T> {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    const created = !existsSync(file)
    const fd = openSync(file, 'a+', 0o600)
    if (created) fsyncDir(dirname(file))
    const text = readFileSync(file, 'utf8')
    const complete = text.lastIndexOf('\n') + 1
    if (complete < text.length) {
      // The tail of an append the process died in: never acknowledged, so never acted on.
      ftruncateSync(fd, Buffer.byteLength(text.slice(0, complete)))
      fsyncSync(fd)
    }
    const entries = text
      .slice(0, complete)
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line, i) => {
        try {
          return parse(JSON.parse(line))
        } catch (err) {
          closeSync(fd)
          throw new Error(`${file}: line ${i + 1} is not a journal entry: ${err instanceof Error ? err.message : String(err)}`)
        }
      })
    return new Journal(file, entries, fd)
  }

  /** Every entry, oldest first. */
  entries(): readonly T[] {
    return this.kept
  }

  /** Append one entry; it is on disk when this returns. */
  append(entry: T): void {
    if (this.fd === undefined) throw new Error(`${this.file} is closed`)
    writeSync(this.fd, `${JSON.stringify(entry)}\n`)
    fsyncSync(this.fd)
    this.kept.push(entry)
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}

/** The journal file's complete lines, for a backup (a torn last line is left out, as opening would drop it). */
export function journalText(file: string): string {
  if (!existsSync(file)) return ''
  const text = readFileSync(file, 'utf8')
  return text.slice(0, text.lastIndexOf('\n') + 1)
}

/** A new file's name is durable only once its folder is synced. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
