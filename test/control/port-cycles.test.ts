/**
 * 10,000 request -> destroy -> purge cycles on an 800-port range, through the pure parts the provider runs: the
 * ledger's fold, the payment gate, the free-pub room, the desired-state conversion and the planner, with the
 * planner's actions applied to an in-memory world (placements and releases go back through the ledger as the
 * provider's own records, as the plugin does). The clock moves 16 days a round against 30 days of retention, so
 * three rounds of pubs hold ports at once: without releases the range would be spent after 800 cycles.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { gate, type Gated } from '../../src/control/gate.js'
import { ControlLedger } from '../../src/control/ledger.js'
import { holdWaitingFree, type FreeRoom } from '../../src/control/room.js'
import { desiredPubs, PubKeyring } from '../../src/orchestrator/desired.js'
import { changesOf, objectName, plan, type Action, type Capacity, type Observed } from '../../src/planner/index.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import type { ButtcloudContent, Received } from '../../src/protocol/parse.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { hub, serviceFromSpec } from '../../testkit/planner-fixtures.js'

const DAY = 24 * 3600_000
const CYCLES = 10_000
const PORTS = { first: 8200, last: 8999 }
/** Pubs requested per round: three rounds (live, in retention, in retention) fit the range with 2 ports to spare. */
const PER_ROUND = 266
/** Owners take turns, five requests each over the run (no more than one live pub each at a time). */
const OWNERS = 2000
const CAPACITY: Capacity = { hubMemoryMiB: 1_000_000, headroomMiB: 0, ports: PORTS, retentionMs: 30 * DAY }

const digest = (text: string) => createHash('sha256').update(text).digest('base64')

/**
 * A provider reduced to its pure parts, over an in-memory world. Every placement and release is checked as it is
 * applied: a port is never handed to a pub while another holds it, and never released while anything of its pub
 * remains.
 */
function simulatedProvider(room: FreeRoom) {
  const providerKeys = generateKeys()
  const provider = providerKeys.id
  const keyring = new PubKeyring(providerKeys)
  const ledger = new ControlLedger({ provider, plans: new Set(['free']), versions: new Set(['1']), pubsPerOwner: 3 })
  const sequences = new Map<FeedId, number>()
  const time = { clock: 1_750_000_000_000 }
  let keys = 0
  const add = (author: FeedId, content: ButtcloudContent): Received => {
    const sequence = (sequences.get(author) ?? 0) + 1
    sequences.set(author, sequence)
    const msg: Received = { key: `%${digest(`msg ${keys++}`)}.sha256`, author, sequence, timestamp: time.clock, receivedAt: time.clock, private: true, content }
    ledger.add(msg)
    return msg
  }

  // The in-memory world, and who holds which port as the provider's records say (checked on every placement).
  const world: Observed = { hubs: [hub(1, { memoryMiB: CAPACITY.hubMemoryMiB })], services: [], volumes: [], foreign: [] }
  const holders = new Map<number, MsgId>()
  const figures = { maxWaiting: 0, passes: 0, placements: 0, releases: 0, purges: 0, maxHeld: 0, minFree: Infinity, reused: 0 }
  const everUsed = new Set<number>()

  const apply = (actions: readonly Action[]) => {
    for (const a of actions) {
      switch (a.kind) {
        case 'record-placement': {
          // Plain checks in the hot loop: expect() costs more than the planner does here.
          if (holders.has(a.port)) throw new Error(`port ${a.port} handed to ${a.request} while ${holders.get(a.port)} holds it`)
          if (a.port < PORTS.first || a.port > PORTS.last) throw new Error(`port ${a.port} outside the range`)
          holders.set(a.port, a.request)
          if (everUsed.has(a.port)) figures.reused++
          everUsed.add(a.port)
          figures.placements++
          add(provider, { type: 'buttcloud/placement', version: 1, request: a.request, hub: a.hub, port: a.port, recps: [provider] })
          break
        }
        case 'create-volume':
          world.volumes.push({ name: objectName(a.request), request: a.request, hub: a.hub, createdAt: time.clock })
          break
        case 'create-service':
          if (world.services.some((s) => s.port === a.spec.port)) throw new Error(`two services on ${a.spec.port}`)
          world.services.push(serviceFromSpec(a.spec))
          break
        case 'remove-service':
          world.services = world.services.filter((s) => s.id !== a.serviceId)
          break
        case 'purge-volume':
          world.volumes = world.volumes.filter((v) => v.request !== a.request)
          figures.purges++
          break
        case 'release-placement':
          if (holders.get(a.port) !== a.request) throw new Error(`release of ${a.port} by ${a.request}, held by ${holders.get(a.port)}`)
          if (world.services.some((s) => s.request === a.request) || world.volumes.some((v) => v.request === a.request)) {
            throw new Error(`release of ${a.request} while something of it remains`)
          }
          holders.delete(a.port)
          figures.releases++
          add(provider, { type: 'buttcloud/release', version: 1, request: a.request, hub: a.hub, port: a.port, recps: [provider] })
          break
        case 'report-queued':
          throw new Error(`${a.request} queued: the port range ran out`)
        default:
          throw new Error(`unexpected action ${a.kind}`)
      }
    }
  }

  /** One provider pass over the pure parts; returns whether it changed anything. */
  const pass = (): boolean => {
    figures.passes++
    const placements = ledger.placements()
    const gated = new Map<MsgId, Gated>()
    for (const record of ledger.records()) {
      gated.set(record.request, gate(record, { memoryMiB: 128, placement: placements.get(record.request), free: true }))
    }
    // Free pubs wait while the ports they would need are still held by destroyed, unpurged ones.
    figures.maxWaiting = Math.max(figures.maxWaiting, holdWaitingFree(gated, room))
    const pubs = [...gated.values()].map((g) => g.pub)
    const actions = plan(desiredPubs(pubs, keyring, { defaultImageVersion: '1' }), world, CAPACITY, time.clock)
    const changes = changesOf(actions)
    apply(actions)
    return changes.length > 0
  }
  const converge = () => {
    for (let i = 0; i < 8; i++) if (!pass()) return
    throw new Error('no convergence within 8 passes')
  }

  /** Ports held as the provider's records say, checked against the simulation's own count. */
  /** Ports held as the provider's records say, checked against the simulation's own count. */
  const held = () => {
    const placements = ledger.placements()
    const n = ledger.records().filter((r) => {
      const at = placements.get(r.request)
      return at !== undefined && !(at.released && r.intent === 'destroyed')
    }).length
    expect(n).toBe(holders.size)
    return n
  }
  const request = (owner: FeedId) => add(owner, { type: 'buttcloud/request', version: 1, provider, plan: 'free', recps: [owner, provider] })
  const destroy = (req: Received) => add(req.author, { type: 'buttcloud/command', version: 1, request: req.key, verb: 'destroy', recps: [req.author, provider] })
  return { ledger, world, holders, figures, everUsed, time, request, destroy, converge, held }
}

describe('request -> destroy -> purge cycles', () => {
  it(`${CYCLES} cycles on ${PORTS.last - PORTS.first + 1} ports: never double-booked, never exhausted`, () => {
    const sim = simulatedProvider({ cap: PORTS.last - PORTS.first + 1, perOwner: 3 })
    const { ledger, world, holders, figures, everUsed, time } = sim
    const owners: FeedId[] = Array.from({ length: OWNERS }, (_, i) => `@${digest(`owner ${i}`)}.ed25519`)
    const live: Received[] = []
    let requested = 0
    let ownerTurn = 0
    while (requested < CYCLES || live.length > 0 || holders.size > 0) {
      // Destroy every pub of the last round, ask for a new round, and let the provider converge.
      for (const req of live.splice(0)) sim.destroy(req)
      const round = Math.min(PER_ROUND, CYCLES - requested)
      for (let i = 0; i < round; i++) {
        live.push(sim.request(owners[ownerTurn++ % OWNERS]!))
      }
      requested += round
      sim.converge()

      // Every pub of this round runs on its own port; what is held never exceeds the range.
      const placements = ledger.placements()
      expect(live.filter((req) => !placements.has(req.key))).toEqual([])
      expect(world.services).toHaveLength(live.length)
      const held = sim.held()
      figures.maxHeld = Math.max(figures.maxHeld, held)
      figures.minFree = Math.min(figures.minFree, PORTS.last - PORTS.first + 1 - held)
      time.clock += 16 * DAY
    }

    expect(requested).toBe(CYCLES)
    expect(figures.placements).toBe(CYCLES)
    expect(figures.releases).toBe(CYCLES)
    expect(figures.purges).toBe(CYCLES)
    expect(everUsed.size).toBeLessThanOrEqual(800)
    expect(figures.reused).toBe(CYCLES - everUsed.size)
    expect(figures.minFree).toBeGreaterThanOrEqual(0)
    expect(world.services).toEqual([])
    expect(world.volumes).toEqual([])
    console.log(`port cycles: ${JSON.stringify(figures)}`)
  })

  it('one identity cycling request -> destroy within the retention period holds no more than its share of ports', () => {
    const sim = simulatedProvider({ cap: 100, perOwner: 3 })
    const cycler: FeedId = `@${digest('cycler')}.ed25519`
    let maxHeld = 0
    for (let i = 0; i < 200; i++) {
      const req = sim.request(cycler)
      sim.converge()
      maxHeld = Math.max(maxHeld, sim.held())
      sim.destroy(req)
      sim.converge()
      sim.time.clock += 3600_000
    }
    // Three pubs were placed; the rest waited behind their owner's destroyed, unpurged ones and never got a port.
    expect(maxHeld).toBe(3)
    expect(sim.figures.placements).toBe(3)
    expect(sim.figures.maxWaiting).toBe(1)
    // Someone else still gets a port at once.
    const other = sim.request(`@${digest('someone else')}.ed25519`)
    sim.converge()
    expect(sim.ledger.placements().get(other.key)).toBeDefined()
    // Once retention is over the cycler's ports come back, and the cycler may have a pub again.
    sim.time.clock += 31 * DAY
    const again = sim.request(cycler)
    sim.converge()
    expect(sim.figures.releases).toBe(3)
    expect(sim.ledger.placements().get(again.key)).toBeDefined()
  })
})
