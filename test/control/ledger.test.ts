import { describe, expect, it } from 'vitest'
import { ControlLedger } from '../../src/control/ledger.js'
import type { FoldContext } from '../../src/control/record.js'
import { parseMessage, type Received } from '../../src/protocol/index.js'
import { envelope, owner, provider, stranger } from '../support/samples.js'
import { SPAM_ALLOWANCE } from '../../src/control/fold.js'

const ctx: FoldContext = { provider, plans: new Set(['basic']), versions: new Set(['1', '2']), pubsPerOwner: 2 }

function received(content: Record<string, unknown>, opts: Parameters<typeof envelope>[1] = {}): Received {
  const parsed = parseMessage(envelope(content, opts), Boolean(content.recps))
  if (!parsed.ok) throw new Error(`sample did not parse: ${parsed.reason}`)
  return parsed.message
}

type Times = { timestamp?: number; receivedAt?: number }

function request(sequence: number, opts: { author?: string; plan?: string } & Times = {}) {
  return received(
    { type: 'buttcloud/request', version: 1, provider, plan: opts.plan ?? 'basic', name: `pub ${sequence}` },
    { author: (opts.author ?? owner) as any, sequence, timestamp: opts.timestamp, receivedAt: opts.receivedAt },
  )
}

function command(req: Received, verb: string, sequence: number, opts: { author?: string; args?: object } & Times = {}) {
  const author = (opts.author ?? owner) as any
  return received(
    { type: 'buttcloud/command', version: 1, request: req.key, verb, ...(opts.args ? { args: opts.args } : {}), recps: [author, provider] },
    { author, sequence, timestamp: opts.timestamp, receivedAt: opts.receivedAt },
  )
}

describe('the pub record fold', () => {
  it('applies the owner commands in feed order, whatever the arrival order', () => {
    const req = request(1)
    const cmds = [command(req, 'stop', 2), command(req, 'start', 3), command(req, 'restart', 4), command(req, 'destroy', 5)]
    const forward = new ControlLedger(ctx)
    const backward = new ControlLedger(ctx)
    forward.add(req)
    for (const c of cmds) forward.add(c)
    for (const c of [...cmds].reverse()) backward.add(c)
    backward.add(req)
    const a = forward.record(req.key)!
    const b = backward.record(req.key)!
    expect(a).toEqual(b)
    expect(a.intent).toBe('destroyed')
    expect(a.restartGeneration).toBe(1)
    expect(a.destroyedAt).toBe(cmds[3]!.receivedAt)
    expect(a.commands.map((c) => c.verb)).toEqual(['stop', 'start', 'restart', 'destroy'])
  })

  it('ignores a duplicate delivery of the same message', () => {
    const req = request(1)
    const restart = command(req, 'restart', 2)
    const ledger = new ControlLedger(ctx)
    expect(ledger.add(req)).toBe(true)
    expect(ledger.add(restart)).toBe(true)
    expect(ledger.add(restart)).toBe(false)
    expect(ledger.add({ ...restart })).toBe(false)
    expect(ledger.record(req.key)!.restartGeneration).toBe(1)
    expect(ledger.record(req.key)!.commands).toHaveLength(1)
  })

  it('refuses a stranger and changes nothing', () => {
    const req = request(1)
    const ledger = new ControlLedger(ctx)
    ledger.add(req)
    ledger.add(command(req, 'destroy', 1, { author: stranger }))
    const record = ledger.record(req.key)!
    expect(record.intent).toBe('running')
    expect(record.commands[0]!.verdict).toEqual({ ok: false, code: 'not-owner', reason: expect.any(String) })
  })

  it('refuses everything after destroy, and one-shots while stopped', () => {
    const req = request(1)
    const ledger = new ControlLedger(ctx)
    ledger.add(req)
    ledger.add(command(req, 'stop', 2))
    ledger.add(command(req, 'invite', 3))
    ledger.add(command(req, 'destroy', 4))
    ledger.add(command(req, 'start', 5))
    const verdicts = ledger.record(req.key)!.commands.map((c) => (c.verdict.ok ? 'ok' : c.verdict.code))
    expect(verdicts).toEqual(['ok', 'invalid-state', 'ok', 'invalid-state'])
    expect(ledger.record(req.key)!.intent).toBe('destroyed')
  })

  it('upgrades only to offered versions', () => {
    const req = request(1)
    const ledger = new ControlLedger(ctx)
    ledger.add(req)
    ledger.add(command(req, 'upgrade', 2, { args: { version: '9' } }))
    expect(ledger.record(req.key)!.version).toBeUndefined()
    ledger.add(command(req, 'upgrade', 3, { args: { version: '2' } }))
    expect(ledger.record(req.key)!.version).toBe('2')
    expect(ledger.record(req.key)!.commands[0]!.verdict).toMatchObject({ ok: false, code: 'unavailable' })
  })

  it('rejects an unknown plan', () => {
    const ledger = new ControlLedger(ctx)
    const req = request(1, { plan: 'gold' })
    ledger.add(req)
    expect(ledger.record(req.key)!.rejected).toMatch(/unknown plan "gold"/)
  })

  it('limits pubs per owner, frees a slot on destroy, and goes quiet for spam', () => {
    const ledger = new ControlLedger(ctx)
    const reqs = Array.from({ length: 2 + SPAM_ALLOWANCE + 2 }, (_, i) => request(i + 1, { timestamp: 1_700_000_000_000 + (i + 1) * 10 }))
    for (const r of reqs) ledger.add(r)
    const records = reqs.map((r) => ledger.record(r.key)!)
    expect(records.map((r) => Boolean(r.rejected))).toEqual([false, false, true, true, true, true, true])
    expect(records.map((r) => Boolean(r.silent))).toEqual([false, false, false, false, false, true, true])
    // A destroy after all of these does not revive old refusals (they were judged as of their own time).
    ledger.add(command(reqs[0]!, 'destroy', 100))
    expect(ledger.record(reqs[2]!.key)!.rejected).toBeDefined()
    const later = request(200, { timestamp: 1_800_000_000_000 })
    ledger.add(later)
    expect(ledger.record(later.key)!.rejected).toBeUndefined()
  })

  it('counts the owner limit in feed order, whatever times the owner signs', () => {
    const ledger = new ControlLedger(ctx)
    const HOUR = 3600_000
    // Each request claims to be an hour older than the one before it, and all arrive together.
    const reqs = Array.from({ length: 6 }, (_, i) =>
      request(i + 1, { timestamp: 1_700_000_000_000 - i * HOUR, receivedAt: 1_700_000_000_000 }),
    )
    for (const r of [...reqs].reverse()) ledger.add(r)
    const live = reqs.filter((r) => !ledger.record(r.key)!.rejected)
    expect(live.map((r) => r.sequence)).toEqual([1, 2])
    // A destroy signed as if a century ago still frees a slot only for requests posted after it.
    ledger.add(command(reqs[0]!, 'destroy', 7, { timestamp: 1_000 }))
    expect(reqs.filter((r) => !ledger.record(r.key)!.rejected).map((r) => r.sequence)).toEqual([1, 2])
    const next = request(8, { timestamp: 1 })
    ledger.add(next)
    expect(ledger.record(next.key)!.rejected).toBeUndefined()
  })

  it('times the record by when the provider received it, never by the signed claim', () => {
    const ledger = new ControlLedger(ctx)
    const CENTURY = 100 * 365 * 86_400_000
    const req = request(1, { timestamp: 1_700_000_000_000 + CENTURY, receivedAt: 1_700_000_000_000 })
    ledger.add(req)
    ledger.add(command(req, 'destroy', 2, { timestamp: 1_700_000_000_000 + CENTURY, receivedAt: 1_700_000_050_000 }))
    const record = ledger.record(req.key)!
    expect(record.requestedAt).toBe(1_700_000_000_000)
    expect(record.destroyedAt).toBe(1_700_000_050_000)
    expect(record.commands[0]!.timestamp).toBe(1_700_000_000_000 + CENTURY)
  })

  it('orders different authors by arrival, so a back-dated request does not jump the queue', () => {
    const ledger = new ControlLedger({ ...ctx, pubsPerOwner: 5 })
    const honest = request(1, { timestamp: 1_700_000_000_000, receivedAt: 1_700_000_000_000 })
    const backdated = request(1, { author: stranger, timestamp: 1_000, receivedAt: 1_700_000_000_500 })
    ledger.add(backdated)
    ledger.add(honest)
    const order = ledger.records().sort((a, b) => a.requestedAt - b.requestedAt).map((r) => r.owner)
    expect(order).toEqual([owner, stranger])
  })

  it('keeps commands for unknown pubs as orphans, and adopts them if the request appears', () => {
    const ledger = new ControlLedger(ctx)
    const req = request(1, { author: stranger })
    const cmd = command(req, 'stop', 5, { author: owner })
    ledger.add(cmd)
    expect(ledger.unansweredOrphans().map((c) => c.key)).toEqual([cmd.key])
    ledger.add(req)
    expect(ledger.unansweredOrphans()).toEqual([])
    expect(ledger.record(req.key)!.commands[0]!.verdict).toMatchObject({ ok: false, code: 'not-owner' })
  })

  it("applies the owner's commands in feed order when the provider's clock was set back between them", () => {
    const ledger = new ControlLedger(ctx)
    const req = request(1, { receivedAt: 5_000 })
    ledger.add(req)
    // Received at 9,000, then the clock is set back: the owner's later command arrives "at" 1,000.
    ledger.add(command(req, 'upgrade', 2, { args: { version: '2' }, receivedAt: 9_000 }))
    ledger.add(command(req, 'stop', 1, { author: stranger, receivedAt: 4_000 }))
    ledger.add(command(req, 'destroy', 2, { author: stranger, receivedAt: 6_000 }))
    ledger.add(command(req, 'upgrade', 3, { receivedAt: 1_000 }))
    const record = ledger.record(req.key)!
    expect(record.version).toBeUndefined()
    expect(record.intent).toBe('running')
    expect(record.commands.filter((c) => c.author === owner).map((c) => c.sequence)).toEqual([2, 3])
  })

  it('keeps an answered command for the record when its request is read back after it and its reply', () => {
    // A restart reads the index back in key order, not log order: command, reply and request may come in any order.
    const ledger = new ControlLedger(ctx)
    const req = request(1)
    const restart = command(req, 'restart', 2)
    const reply = received(
      { type: 'buttcloud/reply', version: 1, command: restart.key, request: req.key, ok: true, result: { message: 'restarting' }, recps: [owner, provider] },
      { author: provider as any, sequence: 1 },
    )
    ledger.add(restart)
    ledger.add(reply)
    expect(ledger.unansweredOrphans()).toEqual([])
    ledger.add(req)
    expect(ledger.record(req.key)!.restartGeneration).toBe(1)
    expect(ledger.isAnswered(restart.key)).toBe(true)
  })

  it('ignores requests for other providers and commands not addressed to us', () => {
    const ledger = new ControlLedger({ ...ctx, provider: stranger })
    ledger.add(request(1))
    expect(ledger.records()).toEqual([])
  })
})

describe('placements and their release', () => {
  const req = request(1)
  const own = (type: string, sequence: number, port = 20000, author: string = provider) =>
    received({ type, version: 1, request: req.key, hub: 'local', port, recps: [author] }, { author: author as any, sequence })

  it('marks a placement released only by a release of the provider naming that very placement, in any order', () => {
    const placed = own('buttcloud/placement', 1)
    const release = own('buttcloud/release', 2)
    for (const order of [[placed, release], [release, placed]]) {
      const ledger = new ControlLedger(ctx)
      ledger.add(req)
      for (const m of order) ledger.add(m)
      expect(ledger.placements().get(req.key)).toEqual({ hub: 'local', port: 20000, sequence: 1, released: true })
    }
  })

  it('ignores a release of another port, or from anyone but the provider, and a second release changes nothing', () => {
    const ledger = new ControlLedger(ctx)
    ledger.add(req)
    ledger.add(own('buttcloud/placement', 1))
    ledger.add(own('buttcloud/release', 2, 20001))
    ledger.add(own('buttcloud/release', 1, 20000, stranger))
    expect(ledger.placements().get(req.key)).toEqual({ hub: 'local', port: 20000, sequence: 1 })
    ledger.add(own('buttcloud/release', 3))
    ledger.add(own('buttcloud/release', 4))
    expect(ledger.placements().get(req.key)?.released).toBe(true)
  })
})

describe('invite uses', () => {
  it('refuses an invite command over the cap with a reply that says the cap, and accepts one within it', () => {
    const ledger = new ControlLedger({ ...ctx, inviteMaxUses: 10 })
    const req = request(1)
    ledger.add(req)
    ledger.add(command(req, 'invite', 2, { args: { uses: 11 } }))
    ledger.add(command(req, 'invite', 3, { args: { uses: 10 } }))
    const [over, within] = ledger.record(req.key)!.commands
    expect(over!.verdict).toEqual({ ok: false, code: 'unavailable', reason: 'an invite here may have at most 10 uses (asked for 11); ask for fewer' })
    expect(within!.verdict.ok).toBe(true)
  })
})
