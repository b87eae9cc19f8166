/**
 * The provider's own records (placements, releases, payment facts): what only the provider reads. They live in a
 * journal in its data folder (`private/records.jsonl`, src/ssb/journal.ts), not on its feed, which every customer
 * replicates; the identity backup carries the file. Each entry holds the same content the feed used to carry, parsed
 * by the same schemas when read back, and reaches the ledger as the same `Received` record, so the fold is unchanged.
 * Records an older provider published on its feed stay there and are still read from it (docs/PROTOCOL.md).
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { z } from 'zod'
import type { ControlLedger } from '../../src/control/ledger.js'
import { crashPoint } from '../../src/faults/crash-point.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { parseContent, type ButtcloudContent, type Received } from '../../src/protocol/parse.js'
import { Journal, journalText } from '../../src/ssb/journal.js'

/** Where the records journal lives, under the data folder. */
export const RECORDS_FILE = join('private', 'records.jsonl')

/** The record types that live in the journal. */
export const PRIVATE_RECORD_TYPES = ['buttcloud/placement', 'buttcloud/release', 'buttcloud/payment'] as const
export type PrivateRecordType = (typeof PRIVATE_RECORD_TYPES)[number]

const Entry = z.strictObject({
  /** Orders the provider's records as feed sequences did: the first one continues after the feed's last. */
  seq: z.number().int().min(1),
  /** When it was written: the receive time the ledger sees. */
  at: z.number(),
  content: z.looseObject({ type: z.enum(PRIVATE_RECORD_TYPES) }),
})
type Entry = z.infer<typeof Entry>

/** The provider's private records: read back into the ledger at start, written (durably) before anyone acts on them. */
export interface PrivateRecords {
  /** Write one record; it is on disk and in the ledger when this resolves. */
  write(content: ButtcloudContent & { type: PrivateRecordType }): Promise<void>
  close(): void
}

/**
 * Open the journal under `dataPath` and hand every record in it to the ledger. `feedLatest` gives the provider's
 * latest feed sequence, asked once, for the very first record: sequences then stay above every record an older
 * provider put on its feed (the ledger keeps the lowest-sequence placement of a pub as its first).
 */
export function openPrivateRecords(opts: {
  dataPath: string
  ledger: ControlLedger
  feedLatest: () => Promise<number>
  now: () => number
}): PrivateRecords {
  const { ledger } = opts
  const provider = ledger.provider
  const journal = Journal.open(join(opts.dataPath, RECORDS_FILE), (value) => Entry.parse(value))
  for (const entry of journal.entries()) {
    const received = toReceived(provider, entry)
    if (!received) throw new Error(`${RECORDS_FILE}: record ${entry.seq} fails its schema`)
    ledger.add(received)
  }
  let last = journal.entries().at(-1)?.seq
  // One write at a time: sequences are handed out in the order records reach the disk.
  let queue: Promise<unknown> = Promise.resolve()
  return {
    write(content) {
      const done = queue.then(async () => {
        const seq = (last ?? (await opts.feedLatest())) + 1
        const entry: Entry = { seq, at: opts.now(), content }
        const received = toReceived(provider, entry)
        if (!received) throw new Error(`refusing to record an invalid ${content.type}`)
        journal.append(entry)
        last = seq
        crashPoint(`published:${content.type}`)
        ledger.add(received)
      })
      queue = done.catch(() => undefined)
      return done
    },
    close: () => journal.close(),
  }
}

/** The journal entry as the ledger's record, its content checked by the protocol schema; undefined when it fails. */
function toReceived(provider: FeedId, entry: Entry): Received | undefined {
  const parsed = parseContent(entry.content)
  if (!parsed.ok) return undefined
  return { key: recordKey(provider, entry.seq), author: provider, sequence: entry.seq, timestamp: entry.at, receivedAt: entry.at, private: true, content: parsed.content }
}

/** A stable id per record, shaped like a message id (the ledger keys what it has seen by id); never on any feed. */
function recordKey(provider: FeedId, seq: number): MsgId {
  return `%${createHash('sha256').update(`buttcloud/private-record:${provider}:${seq}`).digest('base64')}.sha256` as MsgId
}

/** The records in the journal under `dataPath`, read without opening it for writing (for tools and tests). */
export function readPrivateRecords(dataPath: string): Array<{ seq: number; at: number; content: ButtcloudContent }> {
  const text = journalText(join(dataPath, RECORDS_FILE))
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => Entry.parse(JSON.parse(line)) as { seq: number; at: number; content: ButtcloudContent })
}
