/**
 * Exponential backoff after failures, keyed by pub (or by the engine as a whole). The runtime keeps this state, not
 * the planner: the planner stays a pure function of desired and observed state, and what is held back is decided
 * after it has planned. Nothing here is needed after a restart: a restarted provider simply tries once more.
 */

/** How long to wait after the nth failure in a row: `baseMs * 2^(n-1)`, never more than `maxMs`. */
export interface BackoffPolicy {
  baseMs: number
  maxMs: number
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 10_000, maxMs: 5 * 60_000 }

/** One key's failures in a row, as the operator sees them. */
export interface BackoffState {
  failures: number
  lastError: string
  lastFailureAt: number
  /** No attempt before this time (on the host's clock). */
  nextRetryAt: number
}

interface Entry extends BackoffState {
  /** What was being attempted: a different goal (the owner changed the pub) is tried at once. */
  goal: string
}

/** The wait after `failures` failures in a row. */
export function backoffDelay(failures: number, policy: BackoffPolicy): number {
  if (failures <= 0) return 0
  // 2^(n-1) grows past any cap long before it loses precision; min() keeps it bounded.
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(failures - 1, 52))
}

/** Failures per key, with the time of the next allowed attempt. */
export class Backoff<K> {
  private readonly entries = new Map<K, Entry>()

  constructor(private readonly policy: BackoffPolicy) {}

  /** The key's state when an attempt at `goal` must wait at `now`; undefined when it may go ahead. */
  holding(key: K, now: number, goal = ''): BackoffState | undefined {
    const e = this.entries.get(key)
    if (!e || now >= e.nextRetryAt || e.goal !== goal) return undefined
    return view(e)
  }

  /** Count a failure; the next attempt waits twice as long as the last, up to the cap. */
  fail(key: K, error: string, now: number, goal = ''): BackoffState {
    const failures = (this.entries.get(key)?.failures ?? 0) + 1
    const e: Entry = { failures, lastError: error, lastFailureAt: now, nextRetryAt: now + backoffDelay(failures, this.policy), goal }
    this.entries.set(key, e)
    return view(e)
  }

  /** An attempt went through (or nothing is left to attempt): forget the key's failures. */
  succeed(key: K): void {
    this.entries.delete(key)
  }

  /** Forget keys no longer in `keep` (pubs gone from the desired list). */
  retain(keep: ReadonlySet<K>): void {
    for (const key of this.entries.keys()) if (!keep.has(key)) this.entries.delete(key)
  }

  get(key: K): BackoffState | undefined {
    const e = this.entries.get(key)
    return e && view(e)
  }

  /** Every key that has failed and not yet succeeded, with its state. */
  list(): Array<[K, BackoffState]> {
    return [...this.entries].map(([k, e]) => [k, view(e)])
  }
}

function view(e: Entry): BackoffState {
  return { failures: e.failures, lastError: e.lastError, lastFailureAt: e.lastFailureAt, nextRetryAt: e.nextRetryAt }
}
