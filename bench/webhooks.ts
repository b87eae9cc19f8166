/**
 * Webhook burst: 1,000 signed Stripe deliveries (a fifth of them duplicates: byte-for-byte replays and re-signed
 * retries, some racing their original) against the real payment site on 127.0.0.1, 16 in flight. Reports
 * events/s and latency percentiles, and checks that every event took effect exactly once. Two ledgers: an
 * instant atomic one (the site's own cost) and a racy one that takes 1 ms per record and checks before it
 * writes, as a log with a lagging index would; only the site's coalescing keeps that one free of double effects.
 * The floor is the same number of GET /healthz over the same server and client, measured in the same run. Each
 * scenario runs three times after a discarded warm-up pass; the run with the median webhook rate is reported.
 *
 * Run alone: node --import tsx bench/webhooks.ts
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import Stripe from 'stripe'
import { formatTable } from '../src/planner/table.js'
import { createPaymentSite } from '../web/site.js'
import { serveSite, type RunningSite } from '../web/server.js'
import type { DirectoryEntry } from '../web/types.js'
import { LINK_SECRET, MemoryDirectory, MemoryLedger, OFFER, WEBHOOK_SECRET, type MemoryLedgerOptions } from '../testkit/payment-fixtures.js'
import { PROVIDER, feedId, msgId } from '../testkit/payment-ids.js'
import { signWebhook } from '../testkit/fake-stripe.js'

const DELIVERIES = 1_000
const DUPLICATES = 200
const CONCURRENCY = 16
const REQUESTS = 100
const WARMUP = 1_000
const REPS = 3

interface BenchResult {
  name: string
  rows: Array<Record<string, string | number>>
  json: unknown
}

/** Seeded numbers in [0, 1) from SHA-256 of a counter, so every run sends the same burst in the same order. */
function prng(seed: number): () => number {
  let n = 0
  return () => createHash('sha256').update(`${seed}:${n++}`).digest().readUInt32BE(0) / 2 ** 32
}

const TYPES = [
  'checkout.session.completed',
  'invoice.paid',
  'invoice.payment_failed',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  // Sent by Stripe, not used by us: must be acknowledged and ignored.
  'customer.subscription.created',
] as const

function entries(): DirectoryEntry[] {
  return Array.from({ length: REQUESTS }, (_, i) => ({
    request: msgId(`bench-request-${i}`),
    owner: feedId(`bench-owner-${i}`),
    plan: 'small',
    state: 'awaiting-payment' as const,
  }))
}

/** The data.object Stripe sends with each type, carrying our metadata as the site's Checkout sets it. */
function objectFor(type: (typeof TYPES)[number], e: DirectoryEntry, i: number, created: number): Record<string, unknown> {
  const metadata = { buttcloud_request: e.request, buttcloud_owner: e.owner }
  const subscription = `sub_bench${i % REQUESTS}`
  const customer = `cus_bench${i % REQUESTS}`
  const periodEnd = created + 30 * 86_400
  switch (type) {
    case 'checkout.session.completed':
      return { object: 'checkout.session', mode: 'subscription', metadata, subscription, customer, payment_status: 'paid' }
    case 'invoice.paid':
    case 'invoice.payment_failed':
      return { object: 'invoice', customer, parent: { subscription_details: { metadata, subscription } }, lines: { data: [{ period: { end: periodEnd } }] } }
    default:
      return {
        object: 'subscription',
        id: subscription,
        customer,
        status: type === 'customer.subscription.deleted' ? 'canceled' : 'active',
        metadata,
        items: { data: [{ current_period_end: periodEnd }] },
      }
  }
}

interface Delivery {
  id: string
  payload: string
  header: string
  /** Does this event's type become a fact (or is it acknowledged and ignored)? */
  recordable: boolean
}

/** The burst: unique events in a shuffled order with duplicates mixed in, every header signed in advance. */
function burst(seed: number, prefix: string): { deliveries: Delivery[]; unique: number } {
  const random = prng(seed)
  const list = entries()
  const now = Math.floor(Date.now() / 1000)
  const unique: Delivery[] = []
  for (let i = 0; i < DELIVERIES - DUPLICATES; i++) {
    const type = TYPES[Math.floor(random() * TYPES.length)]!
    const entry = list[i % REQUESTS]!
    const created = now - 3600 + i
    const event = {
      id: `evt_${prefix}${i}`,
      object: 'event',
      api_version: '2026-10-28.endive',
      created,
      type,
      data: { object: objectFor(type, entry, i, created) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
    }
    const payload = JSON.stringify(event)
    unique.push({ id: event.id, payload, header: signWebhook(payload, WEBHOOK_SECRET), recordable: type !== 'customer.subscription.created' })
  }
  const deliveries = [...unique]
  for (let d = 0; d < DUPLICATES; d++) {
    const original = unique[Math.floor(random() * unique.length)]!
    // Half are replays of the very same bytes and header, half Stripe-style retries signed anew.
    const header = d % 2 === 0 ? original.header : signWebhook(original.payload, WEBHOOK_SECRET)
    // Close after the original, so many duplicates race it while it is still in flight.
    const at = Math.min(deliveries.indexOf(original) + 1 + Math.floor(random() * 8), deliveries.length)
    deliveries.splice(at, 0, { ...original, header })
  }
  return { deliveries, unique: unique.length }
}

interface Timed {
  wallMs: number
  latencies: number[]
  statuses: Map<number, number>
  outcomes: Map<string, number>
}

/** Send all `jobs` with at most CONCURRENCY in flight; time each and the whole. */
async function pool(jobs: Array<() => Promise<{ status: number; outcome?: string }>>): Promise<Timed> {
  const latencies: number[] = []
  const statuses = new Map<number, number>()
  const outcomes = new Map<string, number>()
  let next = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!
        const t = performance.now()
        const { status, outcome } = await job()
        latencies.push(performance.now() - t)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        if (outcome) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
      }
    }),
  )
  return { wallMs: performance.now() - start, latencies: latencies.sort((a, b) => a - b), statuses, outcomes }
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits

async function startSite(ledger: MemoryLedger): Promise<RunningSite> {
  const app = createPaymentSite({
    // The client is used here only to verify signatures: it never calls Stripe.
    stripe: new Stripe('sk_test_bench_never_calls_out'),
    webhookSecret: WEBHOOK_SECRET,
    linkSecret: LINK_SECRET,
    baseUrl: 'http://127.0.0.1',
    provider: PROVIDER,
    offer: OFFER,
    directory: new MemoryDirectory(entries()),
    ledger,
    // A line per event would time the console, not the site.
    log: () => {},
    // Every delivery comes from this one client: the per-client limit would time the 429s, not the handler.
    postLimits: { webhooksPerMinute: Number.MAX_SAFE_INTEGER },
  })
  return serveSite(app)
}

const post = (url: string, d: Delivery) => async () => {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': d.header }, body: d.payload })
  const body = (await res.json()) as { outcome?: string }
  return { status: res.status, outcome: body.outcome }
}

async function scenario(label: string, ledgerOptions: MemoryLedgerOptions, seed: number) {
  const ledger = new MemoryLedger(ledgerOptions)
  const site = await startSite(ledger)
  try {
    const hook = `${site.url}/webhooks/stripe`
    const health = async () => {
      const res = await fetch(`${site.url}/healthz`)
      await res.arrayBuffer()
      return { status: res.status }
    }
    // Warm the JIT and the connection pool (on events of their own), then measure the floor and the burst.
    await pool(Array.from({ length: WARMUP }, () => health))
    await pool(burst(seed + 1, `warm${seed}_`).deliveries.slice(0, WARMUP).map((d) => post(hook, d)))
    const floor = await pool(Array.from({ length: DELIVERIES }, () => health))
    const warmFacts = ledger.facts.length
    const { deliveries, unique } = burst(seed, `b${seed}_`)
    const run = await pool(deliveries.map((d) => post(hook, d)))
    const recorded = ledger.facts.length - warmFacts
    const doubleEffects = ledger.doubleEffects().length
    // What must have happened: each recordable event once, its other deliveries duplicates, the rest ignored.
    const recordable = new Set(deliveries.filter((d) => d.recordable).map((d) => d.id)).size
    const expected = {
      recorded: recordable,
      duplicate: deliveries.filter((d) => d.recordable).length - recordable,
      ignored: deliveries.filter((d) => !d.recordable).length,
    }
    const correct =
      run.statuses.get(200) === DELIVERIES &&
      recorded === recordable &&
      (Object.keys(expected) as Array<keyof typeof expected>).every((k) => (run.outcomes.get(k) ?? 0) === expected[k]) &&
      doubleEffects === 0
    return { label, floor, run, unique, recordable, recorded, expected, doubleEffects, correct }
  } finally {
    await site.close()
  }
}

/** Several runs of one scenario; the one with the median webhook rate stands for it, all must be correct. */
async function repeated(label: string, ledgerOptions: MemoryLedgerOptions, seed: number) {
  const runs: Array<Awaited<ReturnType<typeof scenario>>> = []
  for (let r = 0; r < REPS; r++) runs.push(await scenario(label, ledgerOptions, seed + 100 * r))
  const rate = (x: (typeof runs)[number]) => DELIVERIES / x.run.wallMs
  const sorted = [...runs].sort((x, y) => rate(x) - rate(y))
  const median = sorted[Math.floor(sorted.length / 2)]!
  return {
    ...median,
    correct: runs.every((x) => x.correct),
    doubleEffects: Math.max(...runs.map((x) => x.doubleEffects)),
    ratesPerSecond: runs.map((x) => Math.round(rate(x) * 1000)),
  }
}

/** Run the webhook benchmark; returns table rows and the raw figures. */
export async function run(): Promise<BenchResult> {
  // One discarded pass first: the first site in a process pays for compiling everything.
  await scenario('warm-up', { atomic: true }, 1)
  const scenarios = [
    await repeated('instant atomic ledger', { atomic: true }, 11),
    await repeated('racy ledger, 1 ms per record', { atomic: false, delayMs: 1 }, 23),
  ]
  const rows: BenchResult['rows'] = []
  for (const s of scenarios) {
    const perSecond = (t: Timed) => Math.round((DELIVERIES / t.wallMs) * 1000)
    rows.push({
      ledger: s.label,
      case: 'floor: GET /healthz',
      requests: DELIVERIES,
      'per s': perSecond(s.floor),
      'p50 ms': round(pct(s.floor.latencies, 0.5)),
      'p95 ms': round(pct(s.floor.latencies, 0.95)),
      'p99 ms': round(pct(s.floor.latencies, 0.99)),
      'x floor p95': 1,
      recorded: '',
      'double effects': '',
    })
    rows.push({
      ledger: s.label,
      case: `POST /webhooks/stripe (${DUPLICATES} dup)`,
      requests: DELIVERIES,
      'per s': perSecond(s.run),
      'p50 ms': round(pct(s.run.latencies, 0.5)),
      'p95 ms': round(pct(s.run.latencies, 0.95)),
      'p99 ms': round(pct(s.run.latencies, 0.99)),
      'x floor p95': round(pct(s.run.latencies, 0.95) / pct(s.floor.latencies, 0.95)),
      recorded: `${s.recorded}/${s.recordable}`,
      'double effects': s.doubleEffects,
    })
  }
  return {
    name: 'webhooks',
    rows,
    json: {
      deliveries: DELIVERIES,
      duplicates: DUPLICATES,
      concurrency: CONCURRENCY,
      requests: REQUESTS,
      allCorrect: scenarios.every((s) => s.correct),
      scenarios: scenarios.map((s) => ({
        ledger: s.label,
        correct: s.correct,
        unique: s.unique,
        recordable: s.recordable,
        recorded: s.recorded,
        doubleEffects: s.doubleEffects,
        webhookRatesPerSecondAllRuns: s.ratesPerSecond,
        outcomes: Object.fromEntries(s.run.outcomes),
        expectedOutcomes: s.expected,
        statuses: Object.fromEntries(s.run.statuses),
        webhooks: { wallMs: round(s.run.wallMs), perSecond: round((DELIVERIES / s.run.wallMs) * 1000, 0), p50: round(pct(s.run.latencies, 0.5)), p95: round(pct(s.run.latencies, 0.95)), p99: round(pct(s.run.latencies, 0.99)) },
        floor: { wallMs: round(s.floor.wallMs), perSecond: round((DELIVERIES / s.floor.wallMs) * 1000, 0), p50: round(pct(s.floor.latencies, 0.5)), p95: round(pct(s.floor.latencies, 0.95)), p99: round(pct(s.floor.latencies, 0.99)) },
      })),
    },
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run()
  console.log(formatTable(result.rows))
  console.log(JSON.stringify(result.json, null, 2))
  if (!(result.json as { allCorrect: boolean }).allCorrect) process.exitCode = 1
}
