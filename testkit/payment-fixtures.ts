/**
 * In-memory stand-ins for the provider's side of the payment site (ledger, directory, log) and a sample offer.
 * The benchmark uses them too, so they live here rather than inside one test.
 */
import { randomBytes } from 'node:crypto'
import type { MsgId } from '../src/protocol/ids.js'
import type { Offer } from '../src/protocol/offer.js'
import type { PaymentFact } from '../src/protocol/payment.js'
import type { Directory, DirectoryEntry, Ledger, Logger } from '../web/types.js'
import { OWNER, PROVIDER, REQUEST } from './payment-ids.js'

export const LINK_SECRET = randomBytes(32).toString('hex')
export const WEBHOOK_SECRET = `whsec_test${randomBytes(16).toString('hex')}`

export const OFFER: Offer = {
  type: 'buttcloud/offer',
  version: 1,
  name: 'ButtCloud Test',
  plans: [
    { id: 'small', name: 'Small', memoryMiB: 128, price: 500, currency: 'eur', interval: 'month' },
    { id: 'free', name: 'Free', memoryMiB: 64, price: 0, currency: 'eur', interval: 'month' },
  ],
  terms: 'https://pay.example/terms',
}

export const ENTRY: DirectoryEntry = { request: REQUEST, owner: OWNER, plan: 'small', name: 'Our Pub', state: 'awaiting-payment' }

export interface MemoryLedgerOptions {
  /** Time a record takes, like publishing to a log (ms). */
  delayMs?: number
  /**
   * false: check and store are not one step (like an index that lags its log), so two concurrent records of one
   * event can both store it. The site must not let that happen; this makes a test able to tell.
   */
  atomic?: boolean
}

/** A ledger that keeps facts in memory and counts how often each event took effect. */
export class MemoryLedger implements Ledger {
  readonly facts: PaymentFact[] = []
  /** Event id -> how many times it was stored: anything above 1 is a double effect. */
  readonly effects = new Map<string, number>()
  recordCalls = 0
  /** Make the next n records fail (a ledger outage). */
  failNext = 0

  constructor(private readonly options: MemoryLedgerOptions = {}) {}

  async record(fact: PaymentFact): Promise<'recorded' | 'duplicate'> {
    this.recordCalls++
    if (this.failNext > 0) {
      this.failNext--
      throw new Error('ledger unavailable')
    }
    const delay = () => new Promise((r) => setTimeout(r, this.options.delayMs ?? 0))
    if (this.options.atomic ?? true) {
      if (this.effects.has(fact.event)) return 'duplicate'
      this.store(fact)
      await delay()
      return 'recorded'
    }
    // Not atomic: look, spend time writing, then store what was looked at before.
    const seen = this.effects.has(fact.event)
    await delay()
    if (seen) return 'duplicate'
    this.store(fact)
    return 'recorded'
  }

  private store(fact: PaymentFact): void {
    this.facts.push(fact)
    this.effects.set(fact.event, (this.effects.get(fact.event) ?? 0) + 1)
  }

  async has(eventId: string): Promise<boolean> {
    return this.effects.has(eventId)
  }

  /** Events stored more than once. */
  doubleEffects(): string[] {
    return [...this.effects].filter(([, n]) => n > 1).map(([id]) => id)
  }
}

/** A directory over a fixed set of entries; `set` changes one (as a status message would). */
export class MemoryDirectory implements Directory {
  private readonly entries = new Map<MsgId, DirectoryEntry>()
  lookups = 0

  constructor(entries: DirectoryEntry[] = [ENTRY]) {
    for (const e of entries) this.entries.set(e.request, { ...e })
  }

  async lookup(requestId: MsgId): Promise<DirectoryEntry | undefined> {
    this.lookups++
    const e = this.entries.get(requestId)
    return e && { ...e }
  }

  set(entry: DirectoryEntry): void {
    this.entries.set(entry.request, { ...entry })
  }
}

/** A logger that keeps its lines, so tests can read them (and check that no secret got in). */
export function memoryLog(): { log: Logger; lines: string[] } {
  const lines: string[] = []
  return { lines, log: (message, fields, level = 'info') => lines.push(JSON.stringify({ level, message, ...fields })) }
}

export { PROVIDER }
