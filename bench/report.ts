/** The shape every benchmark returns, and how the runner prints it: a table for people, JSON for machines. */
export interface BenchResult {
  name: string
  rows: Array<Record<string, string | number>>
  json: unknown
}

/** Render rows as an aligned plain-text table. */
export function table(rows: BenchResult['rows']): string {
  if (rows.length === 0) return '(no rows)'
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))]
  const cell = (v: unknown) => (v === undefined ? '' : typeof v === 'number' ? String(Math.round(v * 100) / 100) : String(v))
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ')
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n')
}

/** Print one result: its table, then one line of JSON. */
export function printResult(result: BenchResult): void {
  process.stdout.write(`\n== ${result.name} ==\n${table(result.rows)}\n`)
  process.stdout.write(`JSON ${JSON.stringify({ name: result.name, ...((result.json as object) ?? {}) })}\n`)
}

/** Median and p95 of a list of numbers. */
export function percentiles(values: number[]): { median: number; p95: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
  return { median: at(0.5), p95: at(0.95), min: sorted[0]!, max: sorted[sorted.length - 1]! }
}

/** True when this module is the program being run (`node bench/x.ts`), not imported by the runner. */
export function isMain(url: string): boolean {
  return Boolean(process.argv[1]) && url === new URL(`file://${process.argv[1]}`).href
}

/** When `url` is the program being run, run the benchmark with `args` and print it; exit 1 on failure. */
export function runAsMain(url: string, run: () => Promise<BenchResult>): void {
  if (!isMain(url)) return
  run().then(
    (result) => {
      printResult(result)
      process.exit(0)
    },
    (err: unknown) => {
      console.error(err)
      process.exit(1)
    },
  )
}
