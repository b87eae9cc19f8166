/** Plain-text tables for operator reports and benchmarks: left-aligned text, right-aligned numbers. */

/** Format rows as a fixed-width text table whose columns are the keys of the first row. */
export function formatTable(rows: ReadonlyArray<Record<string, string | number>>): string {
  if (rows.length === 0) return ''
  const columns = Object.keys(rows[0]!)
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? '')))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)))
  const numeric = columns.map((c) => rows.every((row) => typeof row[c] === 'number' || row[c] === undefined))
  const pad = (text: string, i: number) => (numeric[i] ? text.padStart(widths[i]!) : text.padEnd(widths[i]!))
  const lines = [columns.map(pad).join('  '), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map((r) => r.map(pad).join('  '))]
  return lines.map((l) => l.trimEnd()).join('\n')
}
