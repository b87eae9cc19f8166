/**
 * `buttcloud/release` v1: the provider hands a pub's port back to the pool. Written only once the pub is destroyed,
 * its retention is over and the runtime sees no service and no volume of it on any hub; boxed to the provider
 * alone, like the placement it releases. It names the placement whole (request, hub and port), so it can never
 * free a port the pub was not recorded on, and writing it twice changes nothing.
 */
import { z } from 'zod'
import { placementFields } from './placement.js'

export const PubRelease = z.strictObject({
  type: z.literal('buttcloud/release'),
  version: z.literal(1),
  ...placementFields,
})
export type PubRelease = z.infer<typeof PubRelease>
