/** Room for free pubs: who waits, why, and in which place; a table over `freeWaits`. */
import { describe, expect, it } from 'vitest'
import { freeWaitReason, freeWaits, sameWait, type FreeWait } from '../../src/control/room.js'
import type { RuntimePub } from '../../src/control/runtime.js'
import { statusChanged } from '../../src/control/status.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { msgId } from '../support/samples.js'

const alice = generateKeys().id
const bob = generateKeys().id
const carol = generateKeys().id

type Over = Partial<Omit<RuntimePub, 'record'>> & { owner?: string }

/** Free pub number n of `owner`, requested at time n, running and unplaced unless told otherwise. */
function free(n: number, over: Over = {}): RuntimePub {
  const { owner = alice, ...rest } = over
  return {
    record: { request: msgId(`r${n}`), owner, provider: owner, plan: 'free', requestedAt: n, requestSequence: n, requestPrivate: true, intent: 'running', restartGeneration: 0, commands: [] },
    intent: 'running',
    memoryMiB: 128,
    free: true,
    ...rest,
  }
}
const placed = { placement: { hub: 'local', port: 20000 } }
const released = { placement: { hub: 'local', port: 20000, released: true as const } }

const waits = (pubs: RuntimePub[], cap: number, perOwner = 3) =>
  Object.fromEntries([...freeWaits(pubs, { cap, perOwner })].map(([r, w]) => [r, w]))

describe('free pubs beyond the cap', () => {
  it.each<{ name: string; pubs: RuntimePub[]; cap: number; perOwner?: number; expected: Record<string, FreeWait> }>([
    { name: 'under the cap: nobody waits', pubs: [free(1), free(2, { owner: bob })], cap: 2, expected: {} },
    {
      name: 'over the cap: the newest requests wait, numbered oldest first',
      pubs: [free(3, { owner: carol }), free(1), free(2, { owner: bob })],
      cap: 1,
      expected: { [msgId('r2')]: { why: 'cap', position: 1, cap: 1 }, [msgId('r3')]: { why: 'cap', position: 2, cap: 1 } },
    },
    {
      name: 'a placed pub keeps its place even when it came later than a waiting one',
      pubs: [free(1), free(2, { owner: bob, ...placed })],
      cap: 1,
      expected: { [msgId('r1')]: { why: 'cap', position: 1, cap: 1 } },
    },
    {
      name: 'a destroyed pub holds its place until its port is released',
      pubs: [free(1, { owner: bob, intent: 'destroyed', ...placed }), free(2)],
      cap: 1,
      expected: { [msgId('r2')]: { why: 'cap', position: 1, cap: 1 } },
    },
    { name: 'a released destroyed pub holds nothing', pubs: [free(1, { owner: bob, intent: 'destroyed', ...released }), free(2)], cap: 1, expected: {} },
    {
      name: "an owner's destroyed-but-unpurged pubs count against its share",
      pubs: [free(1, { intent: 'destroyed', ...placed }), free(2, { intent: 'destroyed', ...placed }), free(3)],
      cap: 10,
      perOwner: 2,
      expected: { [msgId('r3')]: { why: 'owner', perOwner: 2 } },
    },
    {
      name: 'an owner at its share does not take a place in the cap queue',
      pubs: [free(1, placed), free(2), free(3, { owner: bob }), free(4, { owner: carol })],
      cap: 2,
      perOwner: 1,
      expected: { [msgId('r2')]: { why: 'owner', perOwner: 1 }, [msgId('r4')]: { why: 'cap', position: 1, cap: 2 } },
    },
    {
      name: 'paying pubs, stopped and held pubs claim no free place',
      pubs: [free(1, { free: false }), free(2, { intent: 'stopped' }), free(3, { intent: 'hold' }), free(4)],
      cap: 1,
      expected: {},
    },
    { name: 'a cap of 0: every free request waits', pubs: [free(1)], cap: 0, expected: { [msgId('r1')]: { why: 'cap', position: 1, cap: 0 } } },
  ])('$name', ({ pubs, cap, perOwner, expected }) => {
    expect(waits(pubs, cap, perOwner)).toEqual(expected)
  })

  it('says why and where, and a move in the queue alone is no new status', () => {
    const first = freeWaitReason({ why: 'cap', position: 2, cap: 100 })
    const later = freeWaitReason({ why: 'cap', position: 1, cap: 100 })
    expect(first).toBe('waiting for room: this provider runs at most 100 free pubs; yours is number 2 in the queue (oldest request first)')
    expect(sameWait(first, later)).toBe(true)
    const last = { type: 'buttcloud/status' as const, version: 1 as const, request: msgId('r1'), state: 'queued' as const, reason: first, recps: [alice] }
    expect(statusChanged(last, { request: msgId('r1'), state: 'queued', reason: later })).toBe(false)
    const owner = freeWaitReason({ why: 'owner', perOwner: 3 })
    expect(owner).toMatch(/already hold 3 places.*until its data is purged/)
    expect(statusChanged(last, { request: msgId('r1'), state: 'queued', reason: owner })).toBe(true)
  })
})
