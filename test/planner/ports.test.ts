import { describe, expect, it } from 'vitest'
import { portBook } from '../../src/planner/index.js'
import { CAPACITY, DAY, NOW, pub } from '../../testkit/planner-fixtures.js'

const A = 'nodeA'
const B = 'nodeB'

describe('port book', () => {
  it('hands out the lowest port no record holds, per hub', () => {
    const book = portBook(
      [pub(1, { placement: { hub: A, port: 20000 } }), pub(2, { placement: { hub: A, port: 20002 } })],
      CAPACITY.ports,
    )
    expect(book.peek(A)).toBe(20001)
    expect(book.peek(B)).toBe(CAPACITY.ports.first)
  })

  it('counts destroyed pubs as holders until their release', () => {
    const gone = pub(1, { placement: { hub: A, port: 20000 }, intent: 'destroyed', destroyedAt: NOW - 1000 * DAY })
    const book = portBook([gone], CAPACITY.ports)
    expect(book.isFree(A, 20000)).toBe(false)
    expect(book.holder(A, 20000)).toBe(gone.request)
    expect(book.peek(A)).toBe(20001)
  })

  it('take moves allocation on, and a taken port has its holder', () => {
    const book = portBook([], CAPACITY.ports)
    const first = book.peek(A)!
    book.take(A, first, pub(7).request)
    expect(book.holder(A, first)).toBe(pub(7).request)
    expect(book.peek(A)).toBe(first + 1)
    expect(book.free(A)).toBe(CAPACITY.ports.last - CAPACITY.ports.first)
  })

  it('says when a hub has no port left', () => {
    const range = { first: 30000, last: 30001 }
    const book = portBook(
      [pub(1, { placement: { hub: A, port: 30000 } }), pub(2, { placement: { hub: A, port: 30001 } })],
      range,
    )
    expect(book.peek(A)).toBeUndefined()
    expect(book.free(A)).toBe(0)
  })

  it('records outside the range still hold their port but do not count against the range', () => {
    const book = portBook([pub(1, { placement: { hub: A, port: 8008 } })], CAPACITY.ports)
    expect(book.isFree(A, 8008)).toBe(false)
    expect(book.free(A)).toBe(CAPACITY.ports.last - CAPACITY.ports.first + 1)
  })

  it('two records for one port: the earlier request holds it, in any list order', () => {
    const early = pub(1, { placement: { hub: A, port: 20000 }, requestedAt: 10 })
    const late = pub(2, { placement: { hub: A, port: 20000 }, requestedAt: 20 })
    for (const list of [[early, late], [late, early]]) {
      const book = portBook(list, CAPACITY.ports)
      expect(book.holder(A, 20000)).toBe(early.request)
      expect([...book.conflicts]).toEqual([[late.request, early.request]])
    }
  })

  it('a released destroyed pub holds nothing; a release on a live pub is ignored', () => {
    const released = { hub: A, port: 20000, released: true as const }
    const gone = pub(1, { placement: released, intent: 'destroyed', destroyedAt: NOW - 40 * DAY })
    const book = portBook([gone, pub(2, { placement: { hub: A, port: 20001 } })], CAPACITY.ports)
    expect(book.isFree(A, 20000)).toBe(true)
    expect(book.peek(A)).toBe(20000)
    expect(book.free(A)).toBe(CAPACITY.ports.last - CAPACITY.ports.first)
    expect(portBook([pub(3, { placement: released })], CAPACITY.ports).isFree(A, 20000)).toBe(false)
  })
})
