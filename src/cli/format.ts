/**
 * Human output. Text that came from the network passes through `clean` first: the schemas bound names and reasons
 * to single lines without control characters, but URLs and invite codes could still carry terminal escapes.
 */
import { planDiskMiB, planWebView, type Plan } from '../protocol/offer.js'
import type { ReplyResult } from '../protocol/reply.js'
import type { StatsSummary } from '../protocol/stats.js'
import { shortId, type CommandView, type OfferView, type PubView } from './view.js'

/** Where a command writes: stdout for results, stderr for progress and problems. */
export interface Io {
  /** A line of the command's result (stdout). */
  out(line: string): void
  /** A line for the human at the terminal (stderr): notes, progress, errors. */
  err(line: string): void
  /** Raw text to stderr, for the spinner. */
  errRaw(text: string): void
  /** Whether stderr is a terminal, so a spinner may redraw a line there. */
  errIsTTY: boolean
  now(): number
}

/** Drop C0/C1 control characters (and DEL) from network-supplied text. */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
}

// Stripe's zero-decimal currencies: their amounts are whole units, not cents.
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf'])

/** A plan's price as people read it: "free" or "5.00 EUR/month". */
export function formatPrice(plan: Pick<Plan, 'price' | 'currency' | 'interval'>): string {
  if (plan.price === 0) return 'free'
  const amount = ZERO_DECIMAL.has(plan.currency) ? String(plan.price) : (plan.price / 100).toFixed(2)
  return `${amount} ${plan.currency.toUpperCase()}/${plan.interval}`
}

/** Memory in MiB, as GiB when it divides evenly. */
export function formatMemory(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`
}

/** A duration, coarse enough to read at a glance: 45s, 12m, 3h 5m, 2d 4h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`
  const d = Math.floor(h / 24)
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`
}

/** Seconds with one decimal, for watch's elapsed times. */
export function formatElapsed(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`
}

/** Rows as left-aligned columns separated by two spaces. */
export function table(rows: string[][]): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
}

/** The offers, one block per provider. */
export function formatOffers(offers: readonly OfferView[]): string[] {
  const lines: string[] = []
  for (const o of offers) {
    if (lines.length) lines.push('')
    lines.push(`${clean(o.name)}  ${o.provider}`)
    lines.push(
      ...table(
        o.plans.map((p) => [
          `  ${p.id}`,
          clean(p.name),
          formatMemory(p.memoryMiB),
          `${formatMemory(planDiskMiB(p))} disk`,
          planWebView(p) ? 'web view' : 'no web view',
          formatPrice(p),
        ]),
      ),
    )
    if (o.paymentSite) lines.push(`  payment: ${clean(o.paymentSite)}`)
    lines.push(`  terms:   ${clean(o.terms)}`)
  }
  return lines
}

/** The pub list: one row per pub. */
export function formatPubs(pubs: readonly PubView[], now: number): string[] {
  return table([
    ['ID', 'NAME', 'PLAN', 'STATE', 'SINCE', 'PROVIDER', 'WEB VIEW'],
    ...pubs.map((p) => [
      shortId(p.id),
      p.name ? clean(p.name) : '-',
      p.plan,
      p.state,
      `${formatDuration(now - p.since)} ago`,
      p.providerName ? clean(p.providerName) : `${p.provider.slice(0, 9)}…`,
      p.pub?.web ? clean(p.pub.web) : '-',
    ]),
  ])
}

/** One pub in detail. */
export function formatPub(p: PubView, now: number): string[] {
  const lines = table([
    ['pub', p.id],
    ...(p.name ? [['name', clean(p.name)]] : []),
    ['plan', p.plan],
    ['provider', p.providerName ? `${clean(p.providerName)} (${p.provider})` : p.provider],
    ['request', `${p.private ? 'private' : 'public'}, ${formatDuration(now - p.requestedAt)} ago`],
    ['state', `${p.state} for ${formatDuration(now - p.since)}`],
    ...(p.reason ? [['reason', clean(p.reason)]] : []),
    ...(p.paymentUrl ? [['pay at', clean(p.paymentUrl)]] : []),
    ...(p.pub ? [['pub id', p.pub.id], ['address', clean(p.pub.address)]] : []),
    ...(p.pub?.web ? [['web view', clean(p.pub.web)]] : []),
    ...(p.invite ? [['invite', clean(p.invite)]] : []),
  ])
  if (p.history.length) {
    lines.push('', 'history:')
    lines.push(
      ...table(p.history.map((h) => [`  ${new Date(h.timestamp).toISOString()}`, h.state, h.reason ? clean(h.reason) : ''])),
    )
  }
  if (p.commands.length) {
    lines.push('', 'commands:')
    lines.push(...table(p.commands.map((c) => [`  ${new Date(c.timestamp).toISOString()}`, c.verb, shortId(c.key), replySummary(c)])))
  }
  if (p.stats) lines.push('', 'latest stats:', ...formatStats(p.stats).map((l) => `  ${l}`))
  return lines
}

function replySummary(c: CommandView): string {
  if (!c.reply) return 'waiting for a reply'
  if (!c.reply.ok) return `refused: ${c.reply.error ? `${c.reply.error.code}: ${clean(c.reply.error.reason)}` : 'no reason given'}`
  return 'ok'
}

/** What a reply's result says, for the owner's terminal (invite codes included: they are the owner's). */
export function formatResult(result: ReplyResult | undefined): string[] {
  if (!result) return []
  const lines: string[] = []
  if (result.message) lines.push(clean(result.message))
  if (result.invite) lines.push(`Invite code (paste it into Patchwork's "Join pub"):`, clean(result.invite))
  if (result.backup) {
    const b = result.backup
    lines.push(`Backup (${formatBytes(b.bytes)}), download until ${new Date(b.expires).toISOString()}:`, clean(b.url))
  }
  if (result.stats) lines.push(...formatStats(result.stats))
  if (result.billing) lines.push('Billing (card, invoices, cancelling), open it now:', clean(result.billing.url))
  return lines
}

/** A stats summary in a few lines. */
export function formatStats(s: StatsSummary): string[] {
  return [
    `window   ${new Date(s.window.from).toISOString()} .. ${new Date(s.window.to).toISOString()} (${s.samples} samples)`,
    `cpu      avg ${s.cpu.avgPercent.toFixed(1)}%, max ${s.cpu.maxPercent.toFixed(1)}%`,
    `memory   avg ${formatBytes(s.memory.avgBytes)}, max ${formatBytes(s.memory.maxBytes)} of ${formatBytes(s.memory.limitBytes)}`,
    ...(s.disk ? [`disk     ${formatBytes(s.disk.usedBytes)} of ${formatBytes(s.disk.allowedBytes)} (log and blobs)`] : []),
    ...(s.network ? [`network  in ${formatBytes(s.network.rxBytes)}, out ${formatBytes(s.network.txBytes)}`] : []),
    `uptime   ${formatDuration(s.uptimeSeconds * 1000)}, ${s.restarts} restart${s.restarts === 1 ? '' : 's'}`,
  ]
}

/** Bytes in binary units. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`
}
