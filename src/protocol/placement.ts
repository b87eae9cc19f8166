/**
 * `buttcloud/placement` v1: where a pub lives, recorded once by the provider before anything is created there. The
 * provider publishes it encrypted to itself alone, so its own log is the durable record of which port on which hub
 * each pub holds: ports of destroyed pubs stay recorded, which is what keeps them from being handed out twice.
 */
import { z } from 'zod'
import { FeedId, MsgId } from './ids.js'

/** A hub: a Swarm node id (25 lowercase alphanumerics) or a short name such as `local`. */
export const HubId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a node id: letters, digits, dots, dashes and underscores')
export type HubId = z.infer<typeof HubId>

export const PubPlacement = z.strictObject({
  type: z.literal('buttcloud/placement'),
  version: z.literal(1),
  /** The request message of the pub placed. */
  request: MsgId,
  hub: HubId,
  /** Unprivileged ports only: a pub never needs root to bind. */
  port: z.number().int().min(1024).max(65535),
  /** The provider alone. */
  recps: z.array(FeedId).length(1),
})
export type PubPlacement = z.infer<typeof PubPlacement>
