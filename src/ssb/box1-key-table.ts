/**
 * The box1 key cache's answers in memory (src/ssb/box1-key-cache.ts): its file's records as they are on disk, in one
 * buffer, found through an open-addressing table of record numbers. A Map from hash strings to key strings held two
 * strings per message (~12 MB and 200,000 allocations at 100,000 messages, read back at every start); this holds the
 * file's bytes and four bytes a slot.
 *
 * A record: the ciphertext's hash prefix (`hashBytes`), one byte (1: ours, 0: not ours), the message key (its length
 * byte and 32 bytes; zeros when not ours).
 */
export class Box1KeyTable {
  private records: Buffer
  private count = 0
  /** Record number + 1 per slot (0: empty); a power of two, at least twice the records. */
  private slots: Int32Array

  constructor(
    private readonly hashBytes: number,
    private readonly recordBytes: number,
    /** The file's content: whole records are taken (a torn last one is not), later ones winning over earlier ones. */
    file: Buffer = Buffer.alloc(0),
  ) {
    const whole = Math.floor(file.length / recordBytes)
    this.records = Buffer.allocUnsafe(Math.max(whole, 1024) * recordBytes)
    file.copy(this.records, 0, 0, whole * recordBytes)
    this.slots = new Int32Array(slotsFor(whole))
    for (let n = 0; n < whole; n++) this.place(n)
    this.count = whole
  }

  /** How many records are held. */
  get size(): number {
    return this.count
  }

  /** The record number for a hash prefix given as a latin1 string of `hashBytes` characters, or -1. */
  find(hash: string): number {
    const mask = this.slots.length - 1
    for (let slot = bucket(hash) & mask; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot]!
      if (held === 0) return -1
      if (this.matches(held - 1, hash)) return held - 1
    }
  }

  /** Whether record `n` says the ciphertext is ours. */
  isOurs(n: number): boolean {
    return this.records[n * this.recordBytes + this.hashBytes] === 1
  }

  /** Copy record `n`'s key (length byte and message key) into `into`. */
  copyKey(n: number, into: Buffer): void {
    const at = n * this.recordBytes + this.hashBytes + 1
    this.records.copy(into, 0, at, at + this.recordBytes - this.hashBytes - 1)
  }

  /** Add a record (bytes as in the file); one for a hash already held replaces it. */
  add(record: Buffer): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow()
    if ((this.count + 1) * this.recordBytes > this.records.length) {
      const bigger = Buffer.allocUnsafe(this.records.length * 2)
      this.records.copy(bigger, 0, 0, this.count * this.recordBytes)
      this.records = bigger
    }
    record.copy(this.records, this.count * this.recordBytes, 0, this.recordBytes)
    this.place(this.count)
    this.count++
  }

  /** Put record `n` into its slot, or into the slot of the record with the same hash. */
  private place(n: number): void {
    const hash = this.records.toString('latin1', n * this.recordBytes, n * this.recordBytes + this.hashBytes)
    const mask = this.slots.length - 1
    for (let slot = bucket(hash) & mask; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot]!
      if (held === 0 || this.matches(held - 1, hash)) {
        this.slots[slot] = n + 1
        return
      }
    }
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2)
    for (let n = 0; n < this.count; n++) this.place(n)
  }

  private matches(n: number, hash: string): boolean {
    const at = n * this.recordBytes
    for (let i = 0; i < this.hashBytes; i++) if (this.records[at + i] !== hash.charCodeAt(i)) return false
    return true
  }
}

/** The first four bytes of a hash prefix (a SHA-256: evenly spread already). */
function bucket(hash: string): number {
  return (hash.charCodeAt(0) | (hash.charCodeAt(1) << 8) | (hash.charCodeAt(2) << 16) | (hash.charCodeAt(3) << 24)) >>> 0
}

function slotsFor(records: number): number {
  let slots = 2048
  while (slots < records * 2) slots *= 2
  return slots
}
