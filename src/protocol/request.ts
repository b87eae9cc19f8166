/**
 * `buttcloud/request` v1: "I want a pub". Posted by the user (who becomes the pub's owner), public or
 * private to the owner and the provider. Its message id is the pub's id in every later message.
 */
import { z } from 'zod'
import { FeedId } from './ids.js'
import { PubName, Recps, Slug } from './common.js'

export const PubRequest = z.strictObject({
  type: z.literal('buttcloud/request'),
  version: z.literal(1),
  /** The provider asked; other providers ignore the request. */
  provider: FeedId,
  plan: Slug,
  name: PubName.optional(),
  recps: Recps.optional(),
})
export type PubRequest = z.infer<typeof PubRequest>
