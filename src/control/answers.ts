/**
 * The human text of an answer to a command post: what the typed reply says, as a private post reads it. Pure;
 * the typed `buttcloud/reply` stays the source of truth.
 */
import type { CommandReply } from '../protocol/reply.js'
import type { PubStatus } from '../protocol/status.js'
import { HELP_TEXT } from './command-line.js'
import { JOIN_HINT, pubHandle } from './notify.js'
import type { PubRecord } from './record.js'

/** The start of a `billing` answer's message when the subscription ended: its link is the pay link, not the portal. */
export const RESUBSCRIBE_MESSAGE = 'the subscription ended; subscribe again through this private link'

/** The text of the answer to `what` (a verb, or "message" for an unparseable post). */
export function answerText(what: string, reply: Pick<CommandReply, 'ok' | 'error' | 'result'>): string {
  if (!reply.ok) {
    const reason = reply.error?.reason ?? 'refused'
    if (what === 'post' && reply.error?.code === 'malformed') return `That is not a command I know (${reason}).\n\n${HELP_TEXT}`
    return `${what === 'post' ? 'Refused' : `${what}: refused`}. ${reason}\n\nSend "help" for the commands.`
  }
  const r = reply.result ?? {}
  if (r.invite) return `A new invite code:\n\n${r.invite}\n\n${JOIN_HINT}`
  if (r.billing && r.message?.startsWith(RESUBSCRIBE_MESSAGE)) return `Your pub's ${r.message}:\n\n${r.billing.url}`
  if (r.billing) return `Manage your card, invoices and subscription here (the link works only for a few minutes; send "billing" again for a new one):\n\n${r.billing.url}`
  if (r.backup) return `Your backup is ready: ${r.backup.url} (${r.backup.bytes} bytes; until ${new Date(r.backup.expires).toISOString()})`
  if (r.stats) {
    const s = r.stats
    const disk = s.disk ? `, disk ${diskLine(s.disk)}` : ''
    return `Stats: CPU avg ${s.cpu.avgPercent.toFixed(1)}%, memory max ${Math.round(s.memory.maxBytes / 1048576)} MiB${disk}, uptime ${Math.round(s.uptimeSeconds / 60)} min, ${s.restarts} restarts.`
  }
  return `${what}: ${r.message ?? 'done'}`
}

/** One line per pub of the owner, for the `pubs` question. */
export function pubsText(pubs: ReadonlyArray<{ record: PubRecord; status?: PubStatus }>): string {
  if (pubs.length === 0) return 'You have no pubs here. Send "request [plan] [name]" to ask for one.'
  return ['Your pubs:', ...pubs.map(({ record, status }) => `- ${pubHandle(record)} (${record.request.slice(0, 8)}): ${stateLine(record, status)}`)].join('\n')
}

/** The `status <pub>` answer. */
export function statusText(record: PubRecord, status: PubStatus | undefined): string {
  const lines = [`Pub ${pubHandle(record)} (${record.request}), plan ${record.plan}: ${stateLine(record, status)}`]
  if (status?.pub) lines.push(`Address: ${status.pub.address}`)
  if (status?.pub?.web) lines.push(`Web view: ${status.pub.web}`)
  if (status?.paymentUrl) lines.push(`Pay here: ${status.paymentUrl}`)
  return lines.join('\n')
}

function stateLine(record: PubRecord, status: PubStatus | undefined): string {
  if (!status) return record.rejected ? `refused: ${record.rejected}` : 'requested'
  return status.reason ? `${status.state} (${status.reason})` : status.state
}

/** "1.2 of 2.0 MiB (60%)": log and blobs against the plan's allowance. */
export function diskLine(disk: { usedBytes: number; allowedBytes: number }): string {
  const mib = (n: number) => (n / 1048576).toFixed(1)
  const percent = disk.allowedBytes > 0 ? Math.floor((disk.usedBytes / disk.allowedBytes) * 100) : 0
  return `${mib(disk.usedBytes)} of ${mib(disk.allowedBytes)} MiB (${percent}%)`
}
