/**
 * Fault injection for the crash tests: with `BUTTCLOUD_CRASH_AT=<point>[#<n>]` in the environment, the process
 * SIGKILLs itself the n-th time (default: first) it reaches `<point>`, exactly as `kill -9` from outside would, but
 * at a known step. Unset (always, outside those tests) it costs one environment lookup. The points are named in
 * docs/faults.md; a point says what has just happened ("after:create-service", "published:buttcloud/reply").
 */
const reached = new Map<string, number>()

/** Die here if the environment asks for it; otherwise count and go on. */
export function crashPoint(point: string): void {
  const wanted = process.env.BUTTCLOUD_CRASH_AT
  if (!wanted) return
  const [name, nth = '1'] = wanted.split('#')
  if (name !== point) return
  const count = (reached.get(point) ?? 0) + 1
  reached.set(point, count)
  if (count !== Number(nth)) return
  process.stderr.write(`crash point ${point}#${count}: SIGKILL\n`)
  process.kill(process.pid, 'SIGKILL')
}
