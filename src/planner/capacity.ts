/**
 * The operator's capacity report: hubs, free room, pubs per hub, queued pubs, hubs needed and cost per pub, as the
 * next pass would leave them (it runs the same allocation the planner runs).
 */
import { allocate, reservationMiB } from './placement.js'
import { portBook } from './ports.js'
import { formatTable } from './table.js'
import type { Capacity, DesiredPub, Observed } from './types.js'
import { indexWorld, isLive, schedulable } from './world.js'

export interface HubReport {
  id: string
  name: string
  schedulable: boolean
  capacityMiB: number
  usedMiB: number
  /** Negative when a hub shrank or others reserved more than it has: nothing new goes there. */
  freeMiB: number
  pubs: number
  freePorts: number
  /** Its node is drained: its pubs are being moved to other hubs (those that cannot move have a note saying why). */
  drained?: true
}

export interface CapacityReport {
  hubs: HubReport[]
  totals: { hubs: number; schedulable: number; capacityMiB: number; usedMiB: number; freeMiB: number; pubs: number }
  queued: { pubs: number; memoryMiB: number }
  hubsNeeded: { count: number; memoryMiB: number }
  /** In the hub price's minor units per month; absent when no hub price is configured. */
  cost?: {
    currency: string
    perHub: number
    /** All hubs' cost shared by the pubs placed on them; absent with no pubs. */
    perPubAverage?: number
    /** What a pub of each size in use would cost on a hub of the configured size packed full. */
    perPlanAtFullPacking: Array<{ memoryMiB: number; pubs: number; cost: number }>
  }
}

/** Build the capacity report for the current desired and observed state. */
export function capacityReport(desired: readonly DesiredPub[], observed: Observed, capacity: Capacity): CapacityReport {
  const world = indexWorld(desired, observed)
  const ports = portBook(world.desired.values(), capacity.ports)
  const alloc = allocate(world, ports, capacity)

  const hubs: HubReport[] = [...alloc.rooms.values()]
    .map((room) => ({
      id: room.hub.id,
      name: room.hub.name,
      schedulable: schedulable(room.hub),
      capacityMiB: room.capacityMiB,
      usedMiB: room.usedMiB,
      freeMiB: room.capacityMiB - room.usedMiB,
      pubs: room.pubs,
      freePorts: ports.free(room.hub.id),
      ...(room.hub.availability === 'drain' ? { drained: true as const } : {}),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

  const sum = (f: (h: HubReport) => number) => hubs.reduce((n, h) => n + f(h), 0)
  const totals = {
    hubs: hubs.length,
    schedulable: hubs.filter((h) => h.schedulable).length,
    capacityMiB: sum((h) => h.capacityMiB),
    usedMiB: sum((h) => h.usedMiB),
    freeMiB: sum((h) => h.freeMiB),
    pubs: sum((h) => h.pubs),
  }
  const report: CapacityReport = {
    hubs,
    totals,
    queued: { pubs: alloc.queued.length, memoryMiB: alloc.queued.reduce((n, p) => n + p.memoryMiB, 0) },
    hubsNeeded: alloc.hubsNeeded,
  }

  const price = capacity.hubPrice
  if (price) {
    const sizes = new Map<number, number>()
    for (const pub of world.desired.values()) if (isLive(pub)) sizes.set(pub.memoryMiB, (sizes.get(pub.memoryMiB) ?? 0) + 1)
    const usable = capacity.hubMemoryMiB - capacity.headroomMiB
    report.cost = {
      currency: price.currency,
      perHub: price.amountPerMonth,
      ...(totals.pubs > 0 ? { perPubAverage: Math.round((price.amountPerMonth * totals.hubs) / totals.pubs) } : {}),
      perPlanAtFullPacking: [...sizes]
        .sort(([a], [b]) => a - b)
        .map(([memoryMiB, pubs]) => ({ memoryMiB, pubs, cost: Math.round((price.amountPerMonth * reservationMiB(memoryMiB, capacity)) / usable) })),
    }
  }
  return report
}

/** Minor units as a decimal amount with its currency (two decimals, as for usd and eur). */
function money(minor: number, currency: string): string {
  return `${(minor / 100).toFixed(2)} ${currency}`
}

/** The capacity report as plain text for the CLI. */
export function formatCapacityReport(r: CapacityReport): string {
  const rows: Array<Record<string, string | number>> = r.hubs.map((h) => ({
    hub: h.name,
    id: h.id,
    schedulable: h.schedulable ? 'yes' : h.drained ? 'no (drained)' : 'no',
    'capacity MiB': h.capacityMiB,
    'used MiB': h.usedMiB,
    'free MiB': h.freeMiB,
    pubs: h.pubs,
    'free ports': h.freePorts,
  }))
  rows.push({
    hub: 'total',
    id: '',
    schedulable: `${r.totals.schedulable}/${r.totals.hubs}`,
    'capacity MiB': r.totals.capacityMiB,
    'used MiB': r.totals.usedMiB,
    'free MiB': r.totals.freeMiB,
    pubs: r.totals.pubs,
    'free ports': '',
  })
  const lines = [formatTable(rows), '']
  if (r.queued.pubs > 0) {
    lines.push(`queued: ${r.queued.pubs} pubs (${r.queued.memoryMiB} MiB); hubs needed: ${r.hubsNeeded.count} x ${r.hubsNeeded.memoryMiB} MiB`)
  } else {
    lines.push('queued: none; hubs needed: 0')
  }
  if (r.cost) {
    const c = r.cost
    const average = c.perPubAverage !== undefined ? `${money(c.perPubAverage, c.currency)} per pub (average)` : 'no pubs'
    lines.push(`cost per month: ${money(c.perHub, c.currency)} per hub; ${average}`)
    for (const p of c.perPlanAtFullPacking) {
      lines.push(`  ${p.memoryMiB} MiB pub at full packing: ${money(p.cost, c.currency)} (${p.pubs} pubs)`)
    }
  }
  return lines.join('\n')
}
