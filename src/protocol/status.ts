/**
 * `buttcloud/status` v1: where a pub stands. Posted by the provider on every change of state,
 * private to owner and provider (it may carry an invite code or a payment link).
 */
import { z } from 'zod'
import { FeedId, InviteCode, MsgId, MultiserverAddress } from './ids.js'
import { Recps, WebUrl, line } from './common.js'

export const PUB_STATES = [
  'awaiting-payment',
  'queued',
  'provisioning',
  'up',
  'down',
  'stopped',
  'failed',
  'destroyed',
] as const
export const PubState = z.enum(PUB_STATES)
export type PubState = z.infer<typeof PubState>

/** States after which nothing more will happen to a pub. */
export const FINAL_STATES: readonly PubState[] = ['destroyed', 'failed']

export const PubStatus = z.strictObject({
  type: z.literal('buttcloud/status'),
  version: z.literal(1),
  request: MsgId,
  state: PubState,
  /** The hosted pub's own identity and where to reach it, once known. */
  /** `web`: the pub's public web page, when its plan has one. */
  pub: z.strictObject({ id: FeedId, address: MultiserverAddress, web: WebUrl.optional() }).optional(),
  reason: line(300).optional(),
  paymentUrl: WebUrl.optional(),
  /** Sent with the first "up": a fresh invite for the owner's other devices and friends. */
  invite: InviteCode.optional(),
  recps: Recps,
})
export type PubStatus = z.infer<typeof PubStatus>
