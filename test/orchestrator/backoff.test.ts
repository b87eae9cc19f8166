import { describe, expect, it } from 'vitest'
import { Backoff, backoffDelay } from '../../src/orchestrator/backoff.js'

const POLICY = { baseMs: 1000, maxMs: 10_000 }

describe('backoffDelay', () => {
  it.each([
    [0, 0],
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [5, 10_000],
    [60, 10_000],
    [5000, 10_000],
  ])('after %i failures in a row waits %i ms', (failures, ms) => {
    expect(backoffDelay(failures, POLICY)).toBe(ms)
  })
})

describe('Backoff', () => {
  it('holds a key until its retry is due, doubling the wait per failure, and forgets it on success', () => {
    const b = new Backoff<string>(POLICY)
    expect(b.holding('a', 0)).toBeUndefined()
    expect(b.fail('a', 'boom', 100)).toEqual({ failures: 1, lastError: 'boom', lastFailureAt: 100, nextRetryAt: 1100 })
    expect(b.holding('a', 1099)?.failures).toBe(1)
    expect(b.holding('a', 1100)).toBeUndefined()
    expect(b.fail('a', 'boom again', 1100).nextRetryAt).toBe(3100)
    expect(b.holding('b', 1100)).toBeUndefined()
    b.succeed('a')
    expect(b.get('a')).toBeUndefined()
    expect(b.fail('a', 'fresh', 5000).failures).toBe(1)
  })

  it('lets an attempt at a different goal go ahead at once, and keeps counting', () => {
    const b = new Backoff<string>(POLICY)
    b.fail('a', 'create failed', 0, 'running')
    expect(b.holding('a', 10, 'running')).toBeDefined()
    expect(b.holding('a', 10, 'stopped')).toBeUndefined()
    expect(b.fail('a', 'stop failed', 10, 'stopped')).toMatchObject({ failures: 2, nextRetryAt: 2010 })
  })

  it('forgets keys that are no longer kept, and lists the others', () => {
    const b = new Backoff<string>(POLICY)
    b.fail('a', 'x', 0)
    b.fail('b', 'y', 0)
    b.retain(new Set(['b']))
    expect(b.list().map(([k]) => k)).toEqual(['b'])
  })
})
