/**
 * `buttcloud/placement` v1: where a pub lives, recorded once by the provider before anything is created there. The
 * provider publishes it encrypted to itself alone, so its own log is the durable record of which port on which hub
 * each pub holds. A destroyed pub keeps its port until a `buttcloud/release` (release.ts) hands it back, which is
 * what keeps a port from being handed out twice while any pub may still need it.
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

/**
 * What a placement and its release both name: the pub (its request message), the hub and the port (unprivileged
 * only: a pub never needs root to bind), for the provider alone (its private records journal; boxed to itself when
 * an older release put them on its feed).
 */
export const placementFields = {
  request: MsgId,
  hub: HubId,
  port: z.number().int().min(1024).max(65535),
  recps: z.array(FeedId).length(1),
}

/**
 * Why a placement was recorded: `new` (first placed), `adopt` (its record was missing, e.g. lost with a restore
 * from an older backup, and it was written from the service or volume the runtime found), `port-taken` (its port
 * was in use on its hub), `move` (its hub was drained). Optional: records written before it existed have none.
 */
export const PlacementWhy = z.enum(['new', 'adopt', 'port-taken', 'move'])
export type PlacementWhy = z.infer<typeof PlacementWhy>

export const PubPlacement = z.strictObject({
  type: z.literal('buttcloud/placement'),
  version: z.literal(1),
  ...placementFields,
  why: PlacementWhy.optional(),
})
export type PubPlacement = z.infer<typeof PubPlacement>
