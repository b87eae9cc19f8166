/** The notification texts: which transitions an owner hears of as a private post, and what the post says. */
import { describe, expect, it } from 'vitest'
import { notificationText } from '../../src/control/notify.js'
import { diskReason } from '../../src/control/disk.js'
import { REASON_TEXT } from '../../src/planner/index.js'
import type { PubRecord } from '../../src/control/record.js'
import type { PubStatus } from '../../src/protocol/status.js'
import { msgId, owner, provider } from '../support/samples.js'

const request = msgId('notify-request')
const record = { request, owner, provider, plan: 'free', name: 'my-pub' } as PubRecord
const ADDRESS = `net:127.0.0.1:20001~shs:${owner.slice(1, -8)}`
const INVITE = `127.0.0.1:20001:${owner}~${Buffer.alloc(32, 1).toString('base64')}`
const status = (state: PubStatus['state'], more: Partial<PubStatus> = {}): PubStatus =>
  ({ type: 'buttcloud/status', version: 1, request, state, recps: [owner, provider], ...more }) as PubStatus

describe('notification texts', () => {
  it('awaiting payment carries the pay link', () => {
    expect(notificationText(undefined, status('awaiting-payment', { paymentUrl: 'http://127.0.0.1:8119/pay/x' }), record)).toMatch(
      /Your pub "my-pub" is waiting for its first payment\. Pay here: http:\/\/127\.0\.0\.1:8119\/pay\/x/,
    )
  })
  it('up carries the invite (which names the address) and how to join; without an invite, the address', () => {
    const text = notificationText(status('provisioning'), status('up', { pub: { id: owner, address: ADDRESS }, invite: INVITE }), record)!
    expect(text).toContain(`Invite code: ${INVITE}`)
    expect(text).toMatch(/Join Pub/)
    expect(text).not.toContain(ADDRESS)
    expect(notificationText(undefined, status('up', { pub: { id: owner, address: ADDRESS } }), record)).toContain(`Address: ${ADDRESS}`)
  })
  it('a pub that moved gives its new address', () => {
    const moved = `net:127.0.0.1:20002~shs:${owner.slice(1, -8)}`
    expect(notificationText(status('up', { pub: { id: owner, address: ADDRESS } }), status('up', { pub: { id: owner, address: moved } }), record)).toBe(
      `Your pub "my-pub" moved. Address: ${moved}`,
    )
  })
  it('a pub moved off a drained hub: "moving" once, then up again at its new address with a fresh invite', () => {
    const moving = status('down', { reason: `${REASON_TEXT.moving}`, pub: { id: owner, address: ADDRESS } })
    const text = notificationText(status('up', { pub: { id: owner, address: ADDRESS } }), moving, record)!
    expect(text).toBe('Your pub "my-pub" is moving to another hub with its data; its identity stays and its address changes. You will hear when it is up again.')
    // Said once, even after "hub unavailable" was said before it.
    expect(notificationText(moving, moving, record)).toBeUndefined()
    expect(notificationText(status('down', { reason: REASON_TEXT['hub-unavailable'] }), moving, record)).toBe(text)
    const moved = `net:198.51.100.3:20001~shs:${owner.slice(1, -8)}`
    const newInvite = `198.51.100.3:20001:${owner}~${Buffer.alloc(32, 2).toString('base64')}`
    const up = notificationText(moving, status('up', { pub: { id: owner, address: moved }, invite: newInvite }), record)!
    expect(up).toMatch(/^Your pub "my-pub" moved to another hub and is up again, with its data and identity\./)
    expect(up).toContain(`Invite code: ${newInvite}`)
    expect(notificationText(moving, status('up', { pub: { id: owner, address: moved } }), record)).toContain(`Address: ${moved}`)
  })
  it('queued is said once, with why', () => {
    expect(notificationText(undefined, status('queued', { reason: 'waiting for room' }), record)).toBe('Your pub "my-pub" is queued. waiting for room.')
    expect(notificationText(status('queued', { reason: 'number 2' }), status('queued', { reason: 'number 1' }), record)).toBeUndefined()
  })
  it('down, then back up', () => {
    expect(notificationText(status('up'), status('down', { reason: 'crashed' }), record)).toMatch(/is down.*crashed/)
    expect(notificationText(status('down'), status('up', { pub: { id: owner, address: ADDRESS } }), record)).toMatch(/is back up\. Address/)
  })
  it('each crossing of the disk allowance is said once: 90%, 100%, and back under', () => {
    const up = status('up', { pub: { id: owner, address: ADDRESS } })
    const warn = status('up', { ...up, reason: diskReason({ allowedBytes: 1024 * 1024, level: 'warn' })! })
    const full = status('up', { ...up, reason: diskReason({ allowedBytes: 1024 * 1024, level: 'full' })! })
    expect(notificationText(up, warn, record)).toMatch(/^Your pub "my-pub": disk allowance: the pub's log and blobs passed 90% of its 1 MiB; at 100%/)
    expect(notificationText(warn, warn, record)).toBeUndefined()
    expect(notificationText(warn, full, record)).toMatch(/fill its 1 MiB; it keeps your feed/)
    expect(notificationText(full, up, record)).toMatch(/is back under 90% of its disk allowance/)
    expect(diskReason({ allowedBytes: 1024 * 1024, level: 'ok' })).toBeUndefined()
    expect(diskReason({ allowedBytes: 640 * 1024, level: 'warn' })).toContain('640 KiB')
  })
  it('a failed payment names the grace end and the pay link, once', () => {
    const warned = status('up', { reason: 'the last payment failed; pay before 2026-12-07 or the pub stops (data is kept)', paymentUrl: 'http://127.0.0.1:8119/pay/x' })
    expect(notificationText(status('up'), warned, record)).toMatch(/still running, but the last payment failed; pay before 2026-12-07.*Pay here/)
    expect(notificationText(warned, warned, record)).toBeUndefined()
  })
  it('stopped says how to start again; destroyed names the retention; a refused request says why', () => {
    expect(notificationText(status('up'), status('stopped', { reason: 'stopped by its owner; data is kept' }), record)).toMatch(/send "start my-pub"/i)
    expect(notificationText(status('stopped'), status('destroyed', { reason: 'destroyed by its owner' }), record)).toMatch(/destroyed.*retention period, then purged/)
    expect(notificationText(undefined, status('failed', { reason: 'unknown plan "gold"' }), record)).toMatch(/could not be created\. unknown plan "gold"/)
  })
  it('a scheduled cancellation is told once with the way to undo it, and its undoing is told', () => {
    const cancelling = status('up', { reason: 'the subscription is cancelled: the pub runs until 2026-12-30, then stops; its data is kept until 2027-01-29, then deleted' })
    expect(notificationText(status('up'), cancelling, record)).toMatch(/runs until 2026-12-30.*kept until 2027-01-29.*send "billing my-pub"/s)
    expect(notificationText(cancelling, cancelling, record)).toBeUndefined()
    expect(notificationText(cancelling, status('up'), record)).toMatch(/the cancellation is undone/)
  })
  it('an ended subscription, the reminder before the data goes, and the pub revived each say what to do', () => {
    const pay = { paymentUrl: 'http://127.0.0.1:8119/pay/x' }
    const ended = status('stopped', { reason: 'stopped: the subscription ended on 2026-12-30; its data, identity and address are kept until 2027-01-29', ...pay })
    const reminder = status('stopped', { reason: 'stopped: the data of this pub is deleted on 2027-01-29: its subscription ended on 2026-12-30', ...pay })
    expect(notificationText(status('up'), ended, record)).toMatch(/is stopped: the subscription ended.*Pay here: http/s)
    expect(notificationText(status('up'), ended, record)).not.toMatch(/send "start/)
    expect(notificationText(ended, ended, record)).toBeUndefined()
    expect(notificationText(ended, reminder, record)).toMatch(/is stopped, and the data of this pub is deleted on 2027-01-29.*Pay here/s)
    expect(notificationText(reminder, reminder, record)).toBeUndefined()
    const revived = status('up', { reason: 'running again on a new subscription since 2027-01-10, with its data, identity and address as before', pub: { id: owner, address: ADDRESS } })
    expect(notificationText(reminder, revived, record)).toMatch(/is running again on its new subscription.*Address/s)
    expect(notificationText(revived, revived, record)).toBeUndefined()
  })
  it('a failed payment made good is told, after grace (still up) and after the stop alike', () => {
    const warned = status('up', { reason: 'the last payment failed; pay before 2026-12-07 or the pub stops (data is kept)' })
    expect(notificationText(warned, status('up'), record)).toMatch(/payment arrived.*good standing/)
    const lapsed = status('stopped', { reason: 'stopped: payment failed and the grace period is over; data is kept' })
    expect(notificationText(status('up'), lapsed, record)).toMatch(/send "billing my-pub"/)
    expect(notificationText(lapsed, status('up', { pub: { id: owner, address: ADDRESS } }), record)).toMatch(/running again: the payment arrived/)
  })
  it('says nothing of provisioning, or a change the owner already heard', () => {
    expect(notificationText(undefined, status('provisioning'), record)).toBeUndefined()
    expect(notificationText(status('queued'), status('provisioning'), record)).toBeUndefined()
    expect(notificationText(status('up'), status('up', { pub: { id: owner, address: ADDRESS } }), record)).toBeUndefined()
    expect(notificationText(status('down'), status('down', { reason: 'still down' }), record)).toBeUndefined()
  })
  it('names an unnamed pub by the start of its request id', () => {
    expect(notificationText(undefined, status('failed'), { ...record, name: undefined })).toContain(`Your pub ${request.slice(0, 8)} `)
  })
})
