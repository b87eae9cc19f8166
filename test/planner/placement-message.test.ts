import { describe, expect, it } from 'vitest'
import { PubPlacement, PubRelease, checkOutgoing, describeIssues, parseContent } from '../../src/protocol/index.js'
import { feed, req } from '../../testkit/planner-fixtures.js'

const valid: PubPlacement = {
  type: 'buttcloud/placement',
  version: 1,
  request: req(1),
  hub: 'x8k2m4n6p8q0r2s4t6v8w0y2z',
  port: 20000,
  recps: [feed('provider')],
}

function reasonFor(change: Record<string, unknown>): string {
  const parsed = PubPlacement.safeParse({ ...valid, ...change })
  if (parsed.success) throw new Error('expected the schema to reject this')
  return describeIssues(parsed.error)
}

describe('buttcloud/placement v1', () => {
  it('accepts a valid record through the one gate, and as outgoing content', () => {
    expect(parseContent(valid)).toEqual({ ok: true, content: valid })
    expect(checkOutgoing('buttcloud/placement', valid)).toEqual(valid)
    expect(PubPlacement.safeParse({ ...valid, hub: 'local' }).success).toBe(true)
  })

  it('says why it was recorded, or not (records written before `why` existed have none)', () => {
    for (const why of ['new', 'adopt', 'port-taken', 'move'] as const) {
      expect(parseContent({ ...valid, why })).toEqual({ ok: true, content: { ...valid, why } })
    }
    expect(reasonFor({ why: 'guessed' })).toContain('why:')
  })

  it.each([
    ['request is not a message id', { request: '@abc.ed25519' }, 'request: expected a message id'],
    ['hub is empty', { hub: '' }, 'hub:'],
    ['hub has a slash', { hub: 'a/b' }, 'hub: expected a node id'],
    ['hub is too long', { hub: 'a'.repeat(65) }, 'hub:'],
    ['port is privileged', { port: 80 }, 'port:'],
    ['port is out of range', { port: 70000 }, 'port:'],
    ['port is fractional', { port: 20000.5 }, 'port:'],
    ['no recipients', { recps: [] }, 'recps:'],
    ['a second recipient', { recps: [feed('provider'), feed('owner')] }, 'recps:'],
    ['an unknown field', { note: 'hi' }, 'Unrecognized key'],
    ['another version', { version: 2 }, 'version:'],
  ])('rejects: %s', (_name, change, reason) => {
    expect(reasonFor(change)).toContain(reason)
  })
})

describe('buttcloud/release v1', () => {
  const release: PubRelease = { ...valid, type: 'buttcloud/release' }

  it('accepts a valid record through the one gate, and as outgoing content', () => {
    expect(parseContent(release)).toEqual({ ok: true, content: release })
    expect(checkOutgoing('buttcloud/release', release)).toEqual(release)
  })

  it.each([
    ['port is privileged', { port: 80 }, 'port:'],
    ['a second recipient', { recps: [feed('provider'), feed('owner')] }, 'recps:'],
    ['an unknown field', { reason: 'purged' }, 'Unrecognized key'],
  ])('rejects: %s', (_name, change, reason) => {
    const parsed = PubRelease.safeParse({ ...release, ...change })
    expect(parsed.success).toBe(false)
    expect(describeIssues(parsed.error!)).toContain(reason)
  })
})
