/** The notification texts: which transitions an owner hears of as a private post, and what the post says. */
import { describe, expect, it } from 'vitest'
import { notificationText } from '../../src/control/notify.js'
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
  it('queued is said once, with why', () => {
    expect(notificationText(undefined, status('queued', { reason: 'waiting for room' }), record)).toBe('Your pub "my-pub" is queued. waiting for room.')
    expect(notificationText(status('queued', { reason: 'number 2' }), status('queued', { reason: 'number 1' }), record)).toBeUndefined()
  })
  it('down, then back up', () => {
    expect(notificationText(status('up'), status('down', { reason: 'crashed' }), record)).toMatch(/is down.*crashed/)
    expect(notificationText(status('down'), status('up', { pub: { id: owner, address: ADDRESS } }), record)).toMatch(/is back up\. Address/)
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
