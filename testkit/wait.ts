/**
 * The one poller of the tests and benchmarks: ask `probe` again until it yields a value, or fail with what was
 * awaited (and the last error the probe threw). Tests may equally use vitest's `vi.waitFor`; this one also runs in
 * the benchmarks, outside vitest.
 */

/** A probe error that ends the wait at once (anything else it throws counts as "not yet"). */
export class Fatal extends Error {}

/**
 * Poll `probe` until it returns something other than undefined or false, and resolve with that; throws after
 * `timeoutMs` (default 20 s), naming `what`. Polls every `intervalMs` (default 50 ms).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      if (err instanceof Fatal) throw err
      lastError = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError })
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 50))
  }
}
