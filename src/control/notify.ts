/**
 * The human side of a status change: the text of the one private `post` that announces it (every SSB client shows
 * it; the typed status rides in the same post, see src/protocol/post.ts). Pure: (status posted before, status now,
 * the pub's record) -> text, or undefined when the change is not worth a message on the provider's feed (queue
 * shuffles, provisioning): such a change is not posted at all, so a pub costs the shared feed a few messages in
 * its whole life and nothing at steady state.
 */
import type { PubStatus } from '../protocol/status.js'
import type { PubRecord } from './record.js'
import { PAYMENT_REASON } from './gate.js'
import { isDiskReason } from './disk.js'
import { REASON_TEXT } from '../planner/index.js'

/** A status reason that says the pub is being moved to another hub (its hub is drained). */
const isMoving = (reason: string | undefined): boolean => reason?.startsWith(REASON_TEXT.moving) === true

/** The most status posts one pub gets per day (counted from the provider's own log by receive time). */
export const NOTICES_PER_PUB_PER_DAY = 24

/** A human handle for a pub: its name, else the start of its request id (what the command grammar accepts). */
export function pubHandle(record: Pick<PubRecord, 'name' | 'request'>): string {
  return record.name ? `"${record.name}"` : record.request.slice(0, 8)
}

/** How to use an invite code, in the words of the clients people use. */
export const JOIN_HINT = 'To join: Patchwork "Join Pub", Manyverse "Paste invite", or `ssb-server invite.accept <code>`.'

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
      const said = was === 'up' && prev?.reason === next.reason
      if (next.reason?.startsWith('the last payment failed')) {
        if (said) return undefined
        return `${pub} is still running, but ${next.reason}.${next.paymentUrl ? ` Pay here: ${next.paymentUrl}` : ''}`
      }
      // A crossing of the disk allowance (90%, 100%, or back under) while up: the status says it once, and so does this.
      if (was === 'up' && prev?.reason !== next.reason) {
        if (isDiskReason(next.reason)) return `${pub}: ${next.reason}.`
        if (isDiskReason(prev?.reason)) return `${pub} is back under 90% of its disk allowance.`
      }
      if (next.reason?.startsWith(PAYMENT_REASON.cancelScheduled)) {
        if (said) return undefined
        return `${pub}: ${next.reason}: send "billing ${handleWord(record)}" for a private link to it.`
      }
      if (was === 'up' && prev?.reason?.startsWith(PAYMENT_REASON.cancelScheduled)) {
        return `${pub}: the cancellation is undone. The subscription renews as before and the pub keeps running.`
      }
      if (was === 'up' && prev?.reason?.startsWith('the last payment failed')) {
        return `${pub}: the payment arrived, and the subscription is in good standing again. Thank you.`
      }
      if (next.reason?.startsWith(PAYMENT_REASON.revived) && was !== 'up') {
        return `${pub} is running again on its new subscription, with its data, identity and address as before.${next.invite ? invite : address}`
      }
      if (was === 'up') {
        // Moved to another hub or port: the owner's clients need the new address (and the invite names it).
        return prev?.pub && next.pub && prev.pub.address !== next.pub.address ? `${pub} moved.${next.invite ? invite : address}` : undefined
      }
      if (was === 'down' && isMoving(prev?.reason)) {
        return `${pub} moved to another hub and is up again, with its data and identity.${next.invite ? invite : address}`
      }
      if (was === 'down') return `${pub} is back up.${address}`
      if (was === 'stopped' && prev?.reason?.startsWith(PAYMENT_REASON.lapsed)) return `${pub} is running again: the payment arrived.${address}`
      // The invite names the address already: no need to say it twice in one small box.
      return next.invite ? `${pub} is up.${invite}` : `${pub} is up.${address}`
    }
    case 'down':
      if (isMoving(next.reason)) {
        if (was === 'down' && isMoving(prev?.reason)) return undefined
        return `${pub} is moving to another hub with its data; its identity stays and its address changes. You will hear when it is up again.`
      }
      if (was === 'down') return undefined
      return `${pub} is down; the provider keeps trying to bring it back.${reason}`
    case 'stopped': {
      const payHere = next.paymentUrl ? ` Pay here: ${next.paymentUrl}` : ''
      // Payment's stops: said again only when the words change (the reminder that the data goes is one such change).
      if (next.reason?.startsWith(PAYMENT_REASON.retentionEnds)) {
        if (was === 'stopped' && prev?.reason === next.reason) return undefined
        return `${pub} is stopped, and ${next.reason.slice('stopped: '.length)}.${payHere}`
      }
      if (next.reason?.startsWith(PAYMENT_REASON.ended)) {
        if (was === 'stopped' && prev?.reason === next.reason) return undefined
        return `${pub} is stopped: ${next.reason.slice('stopped: '.length)}.${payHere}`
      }
      if (next.reason?.startsWith(PAYMENT_REASON.lapsed)) {
        if (was === 'stopped' && prev?.reason === next.reason) return undefined
        return `${pub} is stopped: ${next.reason.slice('stopped: '.length)}: send "billing ${handleWord(record)}" for a private link to it.`
      }
      if (was === 'stopped') return undefined
      return `${pub} is stopped.${reason} Send "start ${handleWord(record)}" to start it again.`
    }
    case 'failed':
      return `${pub} could not be created.${reason}`
    case 'destroyed':
      return `${pub} was destroyed.${reason} Its data is kept for the retention period, then purged; this cannot be undone after that.`
    case 'queued':
      // Said once, on entering the queue (with why); moves in the queue are not news.
      return was === 'queued' ? undefined : `${pub} is queued.${reason}`
    case 'provisioning':
      return undefined
  }
}

/** How long before a destroyed pub's data is purged its owner is reminded (at the destroy when the retention is shorter). */
export const PURGE_NOTICE_MS = 3 * 24 * 3_600_000

/** The reminder that a destroyed pub's data is about to be purged. */
export function purgeReminderText(record: PubRecord, purgeAt: number): string {
  return `Your pub ${pubHandle(record)} was destroyed, and its data is purged on ${new Date(purgeAt).toISOString().slice(0, 10)}. After that nothing of it can be recovered.`
}

/** The word the command grammar accepts for this pub. */
function handleWord(record: Pick<PubRecord, 'name' | 'request'>): string {
  return record.name && /^\S+$/.test(record.name) ? record.name : record.request.slice(0, 8)
}
