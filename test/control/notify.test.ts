/** The notification texts: which transitions an owner hears of as a private post, and what the post says. */
import { describe, expect, it } from 'vitest'
import { notificationText } from '../../src/control/notify.js'
import { diskReason } from '../../src/control/disk.js'
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
  it('up carries the address, the invite and how to join', () => {
    const text = notificationText(status('provisioning'), status('up', { pub: { id: owner, address: ADDRESS }, invite: INVITE }), record)!
    expect(text).toContain(`Address: ${ADDRESS}`)
    expect(text).toContain(`Invite code: ${INVITE}`)
    expect(text).toMatch(/Join Pub/)
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
  it('says nothing of queueing, provisioning, or a change the owner already heard', () => {
    expect(notificationText(undefined, status('queued'), record)).toBeUndefined()
    expect(notificationText(status('queued'), status('provisioning'), record)).toBeUndefined()
    expect(notificationText(status('up'), status('up', { pub: { id: owner, address: ADDRESS } }), record)).toBeUndefined()
    expect(notificationText(status('down'), status('down', { reason: 'still down' }), record)).toBeUndefined()
  })
  it('names an unnamed pub by the start of its request id', () => {
    expect(notificationText(undefined, status('failed'), { ...record, name: undefined })).toContain(`Your pub ${request.slice(0, 8)} `)
  })
})
