/**
 * One pass at a time. Events and a timer both ask for a pass; requests during a pass fold into one more pass
 * after it. A failing pass is retried with exponential backoff up to a cap. Timers are unref'd.
 */
export interface PassScheduler {
  /** Ask for a pass soon (debounced). */
  request(): void
  /** Resolves when no pass is running or queued. */
  idle(): Promise<void>
  stop(): void
  readonly failures: number
}

export function createScheduler(
  runPass: () => Promise<void>,
  opts: { debounceMs: number; intervalMs: number; maxBackoffMs: number; onError(err: unknown): void },
): PassScheduler {
  let running = false
  let again = false
  let stopped = false
  let failures = 0
  let timer: NodeJS.Timeout | undefined
  let idleWaiters: Array<() => void> = []

  const settle = () => {
    if (running || timer) return
    for (const w of idleWaiters) w()
    idleWaiters = []
  }

  const arm = (ms: number) => {
    if (stopped || timer) return
    timer = setTimeout(fire, ms)
    timer.unref()
  }

  async function fire() {
    timer = undefined
    if (stopped) return settle()
    if (running) {
      again = true
      return
    }
    running = true
    again = false
    try {
      await runPass()
      failures = 0
    } catch (err) {
      failures++
      opts.onError(err)
    } finally {
      running = false
    }
    if (failures > 0) arm(Math.min(opts.maxBackoffMs, 250 * 2 ** (failures - 1)))
    else if (again) arm(opts.debounceMs)
    settle()
  }

  const interval = setInterval(() => arm(0), opts.intervalMs)
  interval.unref()

  return {
    request() {
      if (running) again = true
      else arm(opts.debounceMs)
    },
    idle() {
      if (!running && !timer) return Promise.resolve()
      return new Promise((resolve) => idleWaiters.push(resolve))
    },
    stop() {
      stopped = true
      clearInterval(interval)
      if (timer) clearTimeout(timer)
      timer = undefined
      settle()
    },
    get failures() {
      return failures
    },
  }
}
