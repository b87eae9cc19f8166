/**
 * Planning at scale: 10,000 pubs over 100 hubs with a synthetic observed state. Times one pass (join the
 * listings, plan, summarise, diff statuses) converged and with drift, against a floor measured in the same run:
 * indexing the same arrays into Maps, the least any planner must do. Counts the list calls a pass makes at 1k and
 * 10k pubs to show they do not grow with the number of pubs.
 *
 * Run alone: node --import tsx bench/planning.ts
 */
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import {
  changesOf,
  formatTable,
  labelsFor,
  objectName,
  plan,
  planPass,
  readObserved,
  summarise,
  type DesiredPub,
  type Hub,
  type Observed,
  type ObservedReader,
  type ServiceListing,
  type TaskListing,
  type VolumeListing,
} from '../src/planner/index.js'
import { CAPACITY, NOW, hub, pub, specOf } from '../testkit/planner-fixtures.js'

const HUBS = 100
const SIZES = [1_000, 10_000]
const RUNS = 31
const WARMUP = 3
const TARGET_MS = 100
/** Share of pubs given some drift in the drifted pass. */
const DRIFT = 0.01

interface Listings {
  hubs: Hub[]
  services: ServiceListing[]
  tasks: TaskListing[]
  volumes: VolumeListing[]
}

/** N placed, running pubs spread evenly over the hubs, with their services (two tasks each) and volumes. */
function synthetic(n: number): { desired: DesiredPub[]; listings: Listings } {
  const hubs = Array.from({ length: HUBS }, (_, i) => hub(i + 1))
  const desired: DesiredPub[] = []
  const listings: Listings = { hubs, services: [], tasks: [], volumes: [] }
  for (let i = 0; i < n; i++) {
    const h = hubs[i % HUBS]!
    const p = pub(i + 1, { placement: { hub: h.id, port: CAPACITY.ports.first + Math.floor(i / HUBS) }, requestedAt: NOW - n + i })
    desired.push(p)
    const spec = specOf(p)
    const id = `svc${i}`
    const { request: _r, owner: _o, pubId: _p, name: _n, ...fields } = spec
    listings.services.push({ id, name: objectName(p.request), labels: labelsFor(p.request), ...fields })
    listings.tasks.push({ serviceId: id, state: 'running', health: 'healthy', at: NOW - 3600_000 })
    listings.tasks.push({ serviceId: id, state: 'shutdown', at: NOW - 7200_000 })
    listings.volumes.push({ name: objectName(p.request), hub: h.id, labels: labelsFor(p.request), createdAt: NOW - 86_400_000 })
  }
  // Some objects that are not ours: they must be listed and left alone.
  for (let i = 0; i < 5; i++) {
    listings.services.push({ id: `foreign${i}`, name: `monitoring-${i}`, labels: {}, replicas: 1, forceUpdate: 0 })
    listings.tasks.push({ serviceId: `foreign${i}`, state: 'running', at: NOW })
  }
  return { desired, listings }
}

/** Drift on DRIFT of the pubs, in four flavours, plus new requests to place. */
function drifted(desired: DesiredPub[]): DesiredPub[] {
  const every = Math.round(1 / DRIFT)
  const out = desired.map((p, i): DesiredPub => {
    if (i % every !== 0) return p
    switch ((i / every) % 4) {
      case 0:
        return { ...p, imageVersion: '1.1.0' }
      case 1:
        return { ...p, restartGeneration: p.restartGeneration + 1 }
      case 2:
        return { ...p, intent: 'stopped' }
      default:
        return { ...p, intent: 'destroyed', destroyedAt: NOW - 1000 }
    }
  })
  const fresh = Array.from({ length: Math.ceil(desired.length * DRIFT) }, (_, i) => pub(desired.length + i + 1))
  return [...out, ...fresh]
}

/** A reader over fixed listings that counts its calls. */
function countingReader(l: Listings): { reader: ObservedReader; calls: () => number } {
  let calls = 0
  const reader: ObservedReader = {
    listHubs: async () => (calls++, l.hubs),
    listServices: async () => (calls++, l.services),
    listTasks: async () => (calls++, l.tasks),
    listVolumes: async () => (calls++, l.volumes),
  }
  return { reader, calls: () => calls }
}

/** The floor: index the same arrays into Maps by key, as any planner must, and nothing else. */
function floor(desired: DesiredPub[], l: Listings): number {
  const byRequest = new Map<string, DesiredPub>()
  for (const p of desired) byRequest.set(p.request, p)
  const services = new Map<string, ServiceListing>()
  for (const s of l.services) services.set(s.id, s)
  const tasks = new Map<string, number>()
  for (const t of l.tasks) tasks.set(t.serviceId, (tasks.get(t.serviceId) ?? 0) + 1)
  const volumes = new Map<string, VolumeListing>()
  for (const v of l.volumes) volumes.set(v.name, v)
  const hubs = new Map<string, Hub>()
  for (const h of l.hubs) hubs.set(h.id, h)
  return byRequest.size + services.size + tasks.size + volumes.size + hubs.size
}

/** One whole pass as the loop runs it: read, plan, summarise. */
async function pass(desired: DesiredPub[], reader: ObservedReader) {
  const observed = await readObserved(reader)
  const result = planPass({ desired, observed, capacity: CAPACITY, now: NOW })
  return { observed, actions: result.actions }
}

interface Timing {
  median: number
  p90: number
}

async function time(fn: () => unknown): Promise<Timing> {
  const samples: number[] = []
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const start = performance.now()
    await fn()
    if (i >= WARMUP) samples.push(performance.now() - start)
  }
  samples.sort((a, b) => a - b)
  return { median: samples[Math.floor(RUNS / 2)]!, p90: samples[Math.floor(RUNS * 0.9)]! }
}

const ms = (x: number) => Math.round(x * 100) / 100

/** Run the planning benchmark; returns table rows and the raw figures. */
export async function run(): Promise<{ name: string; rows: Array<Record<string, string | number>>; json: unknown }> {
  const rows: Array<Record<string, string | number>> = []
  const results: Record<string, unknown> = {}

  for (const n of SIZES) {
    const { desired, listings } = synthetic(n)
    const drift = drifted(desired)
    const { reader, calls } = countingReader(listings)

    const first = await pass(desired, reader)
    if (changesOf(first.actions).length !== 0) throw new Error('the synthetic state is not converged')

    const before = calls()
    const converged = await pass(desired, reader)
    const readsConverged = calls() - before
    const mid = calls()
    const withDrift = await pass(drift, reader)
    const readsDrift = calls() - mid

    const observed: Observed = converged.observed
    const tFloor = await time(() => floor(desired, listings))
    const tRead = await time(() => readObserved(reader))
    const tPlan = await time(() => plan(desired, observed, CAPACITY, NOW))
    const tPlanDrift = await time(() => plan(drift, observed, CAPACITY, NOW))
    const unplaced = desired.map(({ placement: _p, ...rest }) => rest as DesiredPub)
    const empty: Observed = { hubs: listings.hubs, services: [], volumes: [], foreign: [] }
    const cold = plan(unplaced, empty, CAPACITY, NOW)
    const tCold = await time(() => plan(unplaced, empty, CAPACITY, NOW))
    const tSummary = await time(() => summarise(desired, observed, { now: NOW, plan: [] }))
    const tPass = await time(() => pass(desired, reader))
    const tPassDrift = await time(() => pass(drift, reader))

    const label = `${n / 1000}k pubs`
    const row = (step: string, t: Timing, actions: number | string, reads: number | string) =>
      rows.push({ size: label, step, 'median ms': ms(t.median), 'p90 ms': ms(t.p90), 'x floor': ms(t.median / tFloor.median), actions, 'list calls': reads })
    row('floor: index arrays into Maps', tFloor, '', '')
    row('join listings (readObserved)', tRead, '', 4)
    row('plan, converged', tPlan, converged.actions.length, '')
    row(`plan, ${DRIFT * 100}% drift + ${DRIFT * 100}% new`, tPlanDrift, changesOf(withDrift.actions).length, '')
    row('plan, cold start: place every pub', tCold, changesOf(cold).length, '')
    row('summarise', tSummary, '', '')
    row('whole pass, converged', tPass, changesOf(converged.actions).length, readsConverged)
    row('whole pass, drift', tPassDrift, changesOf(withDrift.actions).length, readsDrift)

    results[String(n)] = {
      pubs: n,
      hubs: HUBS,
      listCalls: { converged: readsConverged, drift: readsDrift },
      actions: {
        converged: converged.actions.map((a) => a.kind),
        drift: Object.fromEntries(
          [...new Set(withDrift.actions.map((a) => a.kind))].map((k) => [k, withDrift.actions.filter((a) => a.kind === k).length]),
        ),
      },
      ms: { floor: tFloor, join: tRead, plan: tPlan, planDrift: tPlanDrift, planCold: tCold, summary: tSummary, pass: tPass, passDrift: tPassDrift },
    }
  }

  const big = results[String(SIZES.at(-1))] as { ms: Record<string, Timing>; listCalls: { converged: number } }
  const small = results[String(SIZES[0])] as { listCalls: { converged: number } }
  return {
    name: 'planning',
    rows,
    json: {
      targetMs: TARGET_MS,
      runs: RUNS,
      withinTarget: big.ms.pass!.median < TARGET_MS && big.ms.passDrift!.median < TARGET_MS,
      listCallsGrow: big.listCalls.converged !== small.listCalls.converged,
      results,
    },
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run()
  console.log(formatTable(result.rows))
  console.log(JSON.stringify(result.json, null, 2))
}
