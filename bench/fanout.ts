/**
 * Fan-out: what being one customer among N costs, in bytes, under today's layout of the provider's feed and under
 * the old one, computed in the same run from real messages: every message is built with the provider's own code
 * (status texts, schemas), boxed with box1 (ssb-keys) where the provider boxes it, and signed (ssb-keys); its size is
 * the signed value as peers replicate it (private ones as ciphertext). No sbot runs: 1,000 customers are 1,000
 * identities whose messages are built and measured, not 1,000 processes.
 *
 * Each customer has one pub and a 1,000-message history (public posts of ~280 characters: one real feed is built
 * and measured, and its size stands for each customer's, as every author id has the same length). Over 30 simulated
 * days each pub is requested, comes up, has one outage (down, back up) on day 15, and its owner sends two commands
 * (invite, stats). The two layouts:
 * - old: a typed `buttcloud/status` and a notification `post` for each transition the owner hears of, a status for
 *   provisioning too, a placement record, and a daily stats summary per running pub; the provider followed each
 *   customer publicly, so a customer at default hops (2) replicated every other customer's whole feed.
 * - new: one status post per transition (none for provisioning), stats on demand only; placements and payments off the
 *   shared feed and no public follows (issue 12 items 1 and 2, done on their own branch: counted here as done).
 * Command replies (a typed reply per command) are the same in both and counted in both. Both layouts use today's
 * notification texts, a little shorter than the old ones, so the old figures are if anything low.
 *
 * What the provider stores per customer is their control messages and its own about the pub, against their whole
 * feed, which it replicates today only to read those few. Keeping only the former (partial replication) would take
 * the customer's control messages out of the hash chain of their main feed: classic feeds are verified message by
 * message from the first (`previous`), so a provider holding a feed must hold all of it. Options: ssb-db2's
 * out-of-order add (`addOOO`: a message checked by its signature alone, fetched by id, which needs the id first: a
 * post to the provider's inbox or the customer's client naming it), or a subfeed for ButtCloud messages
 * (ssb-meta-feeds; Manyverse and Patchwork do not write those today).
 *
 * Targets: a new customer downloads <= 2 KB per existing pub; a customer downloads <= 100 B per pub per day at steady
 * state; no other customer's feed.
 *
 * Run alone: node --import tsx bench/fanout.ts [N...]
 */
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { notificationText } from '../src/control/notify.js'
import type { PubRecord } from '../src/control/record.js'
import { checkOutgoing } from '../src/protocol/parse.js'
import { privatePost } from '../src/protocol/post.js'
import type { PubStatus } from '../src/protocol/status.js'
import type { FeedId, MsgId } from '../src/protocol/ids.js'
import { generateKeys, type SsbKeys } from '../src/ssb/keys.js'
import { runAsMain, type BenchResult } from './report.js'

const require = createRequire(import.meta.url)
const ssbKeys: { signObj(keys: SsbKeys, hmac: null, obj: object): object; box(content: object, recps: FeedId[]): string } = require('ssb-keys')

const DAYS = 30
const HISTORY = 1000
const TARGET_JOIN_PER_PUB = 2048
const TARGET_DAILY_PER_PUB = 100
const DAY = 24 * 3600_000
const T0 = 1_767_225_600_000

/** A feed being written: signs each message after the last, and keeps only sizes. */
class Feed {
  private previous: MsgId | null = null
  private sequence = 0
  constructor(readonly keys: SsbKeys) {}

  /** Sign (and box, when it has recps) one message; returns its key and its size as replicated. */
  add(content: { type: string; recps?: FeedId[]; [field: string]: unknown }, at: number): { key: MsgId; bytes: number } {
    const wire = content.recps ? ssbKeys.box(content, content.recps) : content
    const value = ssbKeys.signObj(this.keys, null, {
      previous: this.previous,
      sequence: ++this.sequence,
      author: this.keys.id,
      timestamp: at,
      hash: 'sha256',
      content: wire,
    })
    const json = JSON.stringify(value, null, 2)
    const key = `%${createHash('sha256').update(json, 'latin1').digest('base64')}.sha256` as MsgId
    this.previous = key
    return { key, bytes: Buffer.byteLength(JSON.stringify(value)) }
  }
}

/** Bytes and messages, summed. */
interface Tally {
  bytes: number
  messages: number
}
const tally = (): Tally => ({ bytes: 0, messages: 0 })
const addTo = (t: Tally, m: { bytes: number }) => {
  t.bytes += m.bytes
  t.messages++
}

/** One customer's pub over the simulated month, as both layouts write it to the provider's feed. */
interface PubCost {
  /** Provider feed bytes about this pub by the end of day 0 (request to up), by layout. */
  startup: { old: Tally; new: Tally }
  /** Provider feed bytes about this pub from day 1 to day 30, by layout. */
  month: { old: Tally; new: Tally }
  /** Same, with no outage: nothing but the passing days. */
  quiet: { old: Tally; new: Tally }
  /** The provider's replies to the owner's commands (the same on both layouts; inside `month` and `quiet` too). */
  replies: Tally
  /** The customer's own control messages (request, commands), as the provider stores them. */
  control: Tally
}

/** A day's stats summary as the old layout posted it (realistic figures for a small pub). */
const SUMMARY = {
  ...{ window: { from: T0, to: T0 + DAY }, samples: 288, uptimeSeconds: 86_400, restarts: 0 },
  ...{ cpu: { avgPercent: 0.7, maxPercent: 4.2 }, memory: { avgBytes: 31_457_280, maxBytes: 41_943_040, limitBytes: 134_217_728 } },
  network: { rxBytes: 1_234_567, txBytes: 2_345_678 },
}

/** Build one customer's pub life on both layouts (the provider's feeds are shared across customers). */
function pubLife(i: number, owner: Feed, oldFeed: Feed, newFeed: Feed, hub: string): PubCost {
  const provider = oldFeed.keys.id
  const ownerId = owner.keys.id
  const recps = [ownerId, provider]
  const control = tally()
  const req = owner.add(checkOutgoing('buttcloud/request', { type: 'buttcloud/request', version: 1, provider, plan: 'free', name: `pub-${i}`, recps }), T0)
  addTo(control, req)
  const request = req.key
  const record = { request, owner: ownerId, plan: 'free', name: `pub-${i}` } as PubRecord
  const pubKeys = generateKeys()
  const port = 20000 + (i % 10000)
  const pub = { id: pubKeys.id, address: `net:${hub}:${port}~shs:${pubKeys.id.slice(1, -8)}` }
  const invite = `${hub}:${port}:${pubKeys.id}~${createHash('sha256').update(`seed${i}`).digest('base64')}`

  const cost: PubCost = { startup: { old: tally(), new: tally() }, month: { old: tally(), new: tally() }, quiet: { old: tally(), new: tally() }, replies: tally(), control }
  let lastOld: PubStatus | undefined
  let lastNew: PubStatus | undefined
  /** A transition on both layouts: old = typed status (+ a notice post when the owner hears of it); new = one status post or nothing. */
  const transition = (into: Tally[], intoNew: Tally[], body: Omit<PubStatus, 'type' | 'version' | 'recps'>, at: number) => {
    const status = checkOutgoing('buttcloud/status', { type: 'buttcloud/status', version: 1, ...body, recps })
    const oldText = notificationText(lastOld, status, record)
    const s = oldFeed.add(status, at)
    into.forEach((t) => addTo(t, s))
    if (oldText) {
      const notice = oldFeed.add({ type: 'post', text: oldText, mentions: [{ link: ownerId }], request, recps } as { type: string; recps: FeedId[] }, at)
      into.forEach((t) => addTo(t, notice))
    }
    lastOld = status
    const newText = notificationText(lastNew, status, record)
    if (!newText) return
    const { recps: _r, ...carried } = status
    const p = newFeed.add(privatePost(newText, ownerId, provider, carried), at)
    intoNew.forEach((t) => addTo(t, p))
    lastNew = status
  }
  // Day 0: request -> provisioning -> up (first invite); the old layout also recorded the placement on the shared feed.
  addTo(cost.startup.old, oldFeed.add(checkOutgoing('buttcloud/placement', { type: 'buttcloud/placement', version: 1, request, hub: 'local', port, recps: [provider] }), T0))
  transition([cost.startup.old], [cost.startup.new], { request, state: 'provisioning' }, T0)
  transition([cost.startup.old], [cost.startup.new], { request, state: 'up', pub, invite }, T0)
  // Days 1-30: daily stats (old), an outage on day 15, two commands answered (same on both).
  for (let day = 1; day <= DAYS; day++) {
    const at = T0 + day * DAY
    const stats = oldFeed.add(checkOutgoing('buttcloud/stats', { type: 'buttcloud/stats', version: 1, request, summary: { ...SUMMARY, window: { from: at - DAY, to: at } }, recps: [ownerId] }), at)
    addTo(cost.month.old, stats)
    addTo(cost.quiet.old, stats)
    if (day === 15) {
      transition([cost.month.old], [cost.month.new], { request, state: 'down', pub, reason: 'the pub crashed; restarting' }, at)
      transition([cost.month.old], [cost.month.new], { request, state: 'up', pub }, at + 60_000)
    }
    if (day === 10 || day === 20) {
      const verb = day === 10 ? 'invite' : 'stats'
      const command = verb === 'invite' ? { verb, args: { uses: 2 } } : { verb }
      const cmd = owner.add(checkOutgoing('buttcloud/command', { type: 'buttcloud/command', version: 1, request, ...command, recps } as Parameters<typeof checkOutgoing<'buttcloud/command'>>[1]), at)
      addTo(control, cmd)
      const result = verb === 'invite' ? { invite } : { stats: SUMMARY }
      const reply = checkOutgoing('buttcloud/reply', { type: 'buttcloud/reply', version: 1, command: cmd.key, request, ok: true, result, recps })
      for (const [feed, tallies] of [[oldFeed, [cost.month.old, cost.quiet.old]], [newFeed, [cost.month.new, cost.quiet.new]]] as const) {
        const r = feed.add(reply, at)
        tallies.forEach((t) => addTo(t, r))
        if (feed === newFeed) addTo(cost.replies, r)
      }
    }
  }
  return cost
}

/** One real 1,000-message history: its size stands for every customer's. */
function historyBytes(): number {
  const feed = new Feed(generateKeys())
  let bytes = 0
  for (let i = 0; i < HISTORY; i++) {
    const text = `${i} ${'Out walking by the harbour today; the boats are back and the gulls are loud. '.repeat(4)}`.slice(0, 280)
    bytes += feed.add({ type: 'post', text }, T0 - (HISTORY - i) * 60_000).bytes
  }
  return bytes
}

/** Build N customers' month on both layouts and size what each party downloads and stores. */
function scenario(n: number, history: number) {
  const providerKeys = generateKeys()
  const oldFeed = new Feed(providerKeys)
  const newFeed = new Feed(providerKeys)
  const offer = checkOutgoing('buttcloud/offer', {
    type: 'buttcloud/offer',
    version: 1,
    name: 'ButtCloud',
    plans: [{ id: 'free', name: 'Free', memoryMiB: 128, price: 0, currency: 'usd', interval: 'month' }],
    terms: 'https://pay.example.org/terms',
  })
  const offerBytes = oldFeed.add(offer, T0 - DAY).bytes
  newFeed.add(offer, T0 - DAY)
  const sum = (pick: (c: PubCost) => Tally, of: PubCost[]) => of.reduce((acc, c) => ({ bytes: acc.bytes + pick(c).bytes, messages: acc.messages + pick(c).messages }), tally())
  const pubs: PubCost[] = []
  for (let i = 0; i < n; i++) pubs.push(pubLife(i, new Feed(generateKeys()), oldFeed, newFeed, 'hub1.example.org'))
  const layouts = ['old', 'new'] as const
  return Object.fromEntries(
    layouts.map((l) => {
      const startup = sum((c) => c.startup[l], pubs)
      const month = sum((c) => c.month[l], pubs)
      const quiet = sum((c) => c.quiet[l], pubs)
      // A customer joining at the end of the month downloads the provider's whole feed; on the old layout (public
      // follows, default hops 2) also every other customer's whole feed: their history and their control messages.
      const providerFeed = offerBytes + startup.bytes + month.bytes
      const crossCustomer = l === 'old' ? n * (history + sum((c) => c.control, pubs).bytes / n) : 0
      const join = providerFeed + crossCustomer
      const control = sum((c) => c.control, pubs)
      // What the provider keeps per customer: their control messages and its own messages about their pub, against
      // their whole feed, which it replicates today to read those few (see the report on partial replication).
      const ownPerPub = (startup.bytes + month.bytes) / n
      const replies = sum((c) => c.replies, pubs)
      return [
        l,
        {
          joinBytes: join,
          joinPerExistingPub: join / n,
          joinPerQuietPub: (offerBytes + startup.bytes + quiet.bytes - replies.bytes) / n + crossCustomer / n,
          steadyQuietPerPubPerDay: (quiet.bytes - replies.bytes) / DAYS / n,
          statusMessagesPerPubLife: (startup.messages + month.messages - replies.messages) / n,
          providerFeedBytes: providerFeed,
          crossCustomerBytes: crossCustomer,
          steadyPerCustomerPerDay: quiet.bytes / DAYS,
          steadyPerPubPerDay: quiet.bytes / DAYS / n,
          monthPerPubPerDay: month.bytes / DAYS / n,
          messagesPerPubLife: (startup.messages + month.messages) / n,
          storedControlPerCustomer: control.bytes / n + ownPerPub,
          storedHistoryPerCustomer: history + control.bytes / n,
        },
      ]
    }),
  ) as unknown as Record<(typeof layouts)[number], Record<string, number>>
}

/** Sizes for N = 10, 100 and 1,000 customers (or the counts given). */
export async function run(counts: number[] = [10, 100, 1000]): Promise<BenchResult> {
  const history = historyBytes()
  const rows: BenchResult['rows'] = []
  const json: Record<string, unknown> = { historyBytes: history, days: DAYS }
  let pass = true
  for (const n of counts) {
    const r = scenario(n, history)
    json[`n${n}`] = r
    const row = (what: string, key: string, target: number | '' = '') => {
      rows.push({ customers: n, what, old: Math.round(r.old[key]!), new: Math.round(r.new[key]!), target })
    }
    row('join: bytes a new customer downloads (after the month)', 'joinBytes')
    row('  per existing pub: quiet pub (no outage, no commands)', 'joinPerQuietPub', TARGET_JOIN_PER_PUB)
    row('  per existing pub: one outage, two commands answered', 'joinPerExistingPub')
    row('  of which other customers\' feeds', 'crossCustomerBytes', 0)
    row('steady state: bytes per customer per day (+2 replies/month)', 'steadyPerCustomerPerDay')
    row('  per pub per day, no commands', 'steadyQuietPerPubPerDay', TARGET_DAILY_PER_PUB)
    row('  per pub per day, two commands answered a month', 'steadyPerPubPerDay')
    row('  per pub per day, one outage and two commands a month', 'monthPerPubPerDay')
    row('provider feed messages per pub, 30 days, beside replies', 'statusMessagesPerPubLife', 6)
    row('  with the 2 command replies', 'messagesPerPubLife')
    row('provider stores per customer: control msgs + its own about the pub', 'storedControlPerCustomer')
    row('  vs the customer\'s whole feed (history + control)', 'storedHistoryPerCustomer')
    pass &&= r.new.joinPerQuietPub! <= TARGET_JOIN_PER_PUB && r.new.steadyQuietPerPubPerDay! <= TARGET_DAILY_PER_PUB && r.new.crossCustomerBytes === 0
  }
  return { name: 'fanout', rows, json: { ...json, pass } }
}

runAsMain(import.meta.url, () => run(process.argv.slice(2).map(Number).filter((n) => n > 0).length ? process.argv.slice(2).map(Number) : undefined))
