/**
 * Drop entries from a tar stream as it passes, without unpacking it: Docker's archive API reads a whole folder and
 * has no exclude list, so the Swarm driver leaves a pub's keyring out of its backup with this.
 *
 * Tar is 512-byte blocks: a header (name at 0, size in octal at 124, type at 156, ustar prefix at 345), then the
 * data padded to a block. A long name comes in an extension entry just before its header (pax `x` with a
 * `path=` record, or GNU `L`), so extensions are held back until the entry they describe is kept or dropped.
 */
import { Transform, type TransformCallback } from 'node:stream'

const BLOCK = 512

/** A Transform that passes a tar stream on without the entries whose path `drop` matches (a leading `./` removed). */
export function tarWithout(drop: (path: string) => boolean): Transform {
  let buffered: Buffer = Buffer.alloc(0)
  /** Bytes of the current entry's data (padded) still to pass on or skip. */
  let remaining = 0
  let skipping = false
  /** Extension entries waiting for the header they describe, and the long path they give. */
  let held: Buffer[] = []
  let longPath: string | undefined
  /** The extension whose data is being read into `held` (its type), if any. */
  let extension: { type: string; data: Buffer[]; left: number } | undefined
  let ended = false

  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      try {
        for (;;) {
          if (ended) {
            this.push(buffered)
            buffered = Buffer.alloc(0)
            break
          }
          if (remaining > 0) {
            const n = Math.min(remaining, buffered.length)
            if (n === 0) break
            const part = buffered.subarray(0, n)
            if (extension) {
              extension.data.push(part)
              held.push(part)
            } else if (!skipping) this.push(part)
            buffered = buffered.subarray(n)
            remaining -= n
            if (remaining === 0 && extension) {
              longPath = extensionPath(extension.type, Buffer.concat(extension.data).subarray(0, extension.left)) ?? longPath
              extension = undefined
            }
            continue
          }
          if (buffered.length < BLOCK) break
          const header = buffered.subarray(0, BLOCK)
          buffered = buffered.subarray(BLOCK)
          if (header.every((b) => b === 0)) {
            // The end-of-archive blocks: everything from here on is passed as it is.
            ended = true
            this.push(header)
            continue
          }
          const type = String.fromCharCode(header[156]!)
          const size = readSize(header)
          const padded = Math.ceil(size / BLOCK) * BLOCK
          if (type === 'x' || type === 'L') {
            held.push(header)
            extension = { type, data: [], left: size }
            remaining = padded
            if (padded === 0) extension = undefined
            continue
          }
          const path = (longPath ?? headerPath(header)).replace(/^(\.\/)+/, '')
          skipping = type !== 'g' && drop(path)
          if (!skipping) {
            for (const h of held) this.push(h)
            this.push(header)
          }
          held = []
          longPath = undefined
          remaining = padded
        }
        done()
      } catch (err) {
        done(err as Error)
      }
    },
  })
}

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length)
  const end = field.indexOf(0)
  return field.subarray(0, end === -1 ? length : end).toString('utf8')
}

function headerPath(header: Buffer): string {
  const name = cString(header, 0, 100)
  const ustar = header.subarray(257, 262).toString('latin1') === 'ustar'
  const prefix = ustar ? cString(header, 345, 155) : ''
  return prefix ? `${prefix}/${name}` : name
}

function readSize(header: Buffer): number {
  // Base-256 (the high bit set) for sizes past 8 GiB; octal text otherwise.
  if (header[124]! & 0x80) {
    let n = 0
    for (let i = 125; i < 136; i++) n = n * 256 + header[i]!
    return n
  }
  const text = cString(header, 124, 12).trim()
  const size = text === '' ? 0 : parseInt(text, 8)
  if (!Number.isFinite(size)) throw new Error('not a tar stream: a header has no size')
  return size
}

/** The path an extension entry gives the next entry: pax `path=` records, or a GNU long name. */
function extensionPath(type: string, data: Buffer): string | undefined {
  if (type === 'L') return cString(data, 0, data.length)
  let path: string | undefined
  let at = 0
  while (at < data.length) {
    const space = data.indexOf(0x20, at)
    if (space === -1) break
    const length = parseInt(data.subarray(at, space).toString('latin1'), 10)
    if (!Number.isFinite(length) || length <= 0) break
    const record = data.subarray(space + 1, at + length - 1).toString('utf8')
    if (record.startsWith('path=')) path = record.slice(5)
    at += length
  }
  return path
}
