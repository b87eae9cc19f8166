/**
 * The human side of a status change: a short text for a private `post`, which every SSB client shows, derived
 * from the typed status that stays the source of truth. Pure: (status posted before, status posted now, the pub's
 * record) -> text, or undefined when the change is not worth a notification (queue shuffles, provisioning).
 */
import type { PubStatus } from '../protocol/status.js'
import type { PubRecord } from './record.js'
import { isDiskReason } from './disk.js'

/** The most notification posts one pub gets per day (counted from the provider's own log by receive time). */
export const NOTICES_PER_PUB_PER_DAY = 8

/** A human handle for a pub: its name, else the start of its request id (what the command grammar accepts). */
export function pubHandle(record: Pick<PubRecord, 'name' | 'request'>): string {
  return record.name ? `"${record.name}"` : record.request.slice(0, 8)
}

/** How to use an invite code, in the words of the clients people use. */
export const JOIN_HINT =
  'To join: in Patchwork use "Join Pub" (or in Manyverse "Paste invite") with the invite code, or run `ssb-server invite.accept <code>`.'

/** The notification text for this transition, or undefined when the owner need not hear of it. */
export function notificationText(prev: PubStatus | undefined, next: PubStatus, record: PubRecord): string | undefined {
  const pub = `Your pub ${pubHandle(record)}`
  const was = prev?.state
  const reason = next.reason ? ` ${next.reason}.` : ''
  switch (next.state) {
    case 'awaiting-payment':
      if (was === 'awaiting-payment' && prev?.paymentUrl === next.paymentUrl) return undefined
      return `${pub} is waiting for its first payment.${next.paymentUrl ? ` Pay here: ${next.paymentUrl}` : ''} It is created as soon as the payment arrives.`
    case 'up': {
      const address = next.pub ? ` Address: ${next.pub.address}` : ''
      const invite = next.invite ? `\n\nInvite code: ${next.invite}\n\n${JOIN_HINT}` : ''
      if (next.reason && next.reason.startsWith('the last payment failed')) {
        if (was === 'up' && prev?.reason === next.reason) return undefined
        return `${pub} is still running, but ${next.reason}.${next.paymentUrl ? ` Pay here: ${next.paymentUrl}` : ''}`
      }
      // A crossing of the disk allowance (90%, 100%, or back under) while up: the status says it once, and so does this.
      if (was === 'up' && prev?.reason !== next.reason) {
        if (isDiskReason(next.reason)) return `${pub}: ${next.reason}.`
        if (isDiskReason(prev?.reason)) return `${pub} is back under 90% of its disk allowance.`
      }
      if (was === 'up') return undefined
      if (was === 'down') return `${pub} is back up.${address}`
      return `${pub} is up.${address}${invite}`
    }
    case 'down':
      if (was === 'down') return undefined
      return `${pub} is down; the provider keeps trying to bring it back.${reason}`
    case 'stopped':
      if (was === 'stopped') return undefined
      return `${pub} is stopped.${reason} Send "start ${handleWord(record)}" to start it again.`
    case 'failed':
      return `${pub} could not be created.${reason}`
    case 'destroyed':
      return `${pub} was destroyed.${reason} Its data is kept for the retention period, then purged; this cannot be undone after that.`
    case 'queued':
    case 'provisioning':
      return undefined
  }
}

/** The word the command grammar accepts for this pub. */
function handleWord(record: Pick<PubRecord, 'name' | 'request'>): string {
  return record.name && /^\S+$/.test(record.name) ? record.name : record.request.slice(0, 8)
}
