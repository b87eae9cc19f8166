/** `buttcloud/offer` v1: the provider's public price list. Posted by the provider, readable by all. */
import { z } from 'zod'
import { Slug, WebUrl, line } from './common.js'

export const Plan = z.strictObject({
  id: Slug,
  name: line(40),
  /** Memory limit of the pub's container; also what the pub reserves on a hub. */
  memoryMiB: z.number().int().min(64).max(65536),
  /** Price in the currency's minor unit (cents). 0 means free. */
  price: z.number().int().min(0).max(10_000_000),
  currency: z.string().regex(/^[a-z]{3}$/, 'expected an ISO 4217 code in lowercase'),
  interval: z.enum(['month', 'year']),
  /** Disk the pub may fill with its log and blobs (MiB); absent means DEFAULT_DISK_MIB. */
  diskMiB: z.number().int().min(1).max(16_777_216).optional(),
  /** Whether the pub serves its public web page on a second port; absent means true. */
  webView: z.boolean().optional(),
  hops: z.number().int().min(0).max(3).optional(), // replication hops counted from the owner; absent: the pub's default, 1
})
export type Plan = z.infer<typeof Plan>

// The disk allowance of a plan that names none (offers from before `diskMiB` existed).
import { DEFAULT_DISK_MIB } from './text-checks.js'
export { DEFAULT_DISK_MIB }

/** A plan's disk allowance in MiB, with the default for plans that omit it. */
export function planDiskMiB(plan: Pick<Plan, 'diskMiB'>): number {
  return plan.diskMiB ?? DEFAULT_DISK_MIB
}

/** Whether a plan's pubs have a web view (default: yes). */
export function planWebView(plan: Pick<Plan, 'webView'>): boolean {
  return plan.webView ?? true
}

/**
 * Who runs the provider and how to reach them: what a subscriber needs to know before paying (and what consumer
 * law in many places asks a seller to say). Optional, so offers without it stay valid.
 */
export const Operator = z.strictObject({
  /** A person's or company's legal name. */
  name: line(120),
  /** Where to write: an email address or a web address. */
  contact: line(200),
  /** Where the operator is established, whose law applies (e.g. "Germany"). */
  jurisdiction: line(120),
})
export type Operator = z.infer<typeof Operator>

export const Offer = z.strictObject({
  type: z.literal('buttcloud/offer'),
  version: z.literal(1),
  /** The provider's name as users see it. */
  name: line(80),
  plans: z.array(Plan).min(1).max(20),
  /** Where owners pay; absent when every plan is free. */
  paymentSite: WebUrl.optional(),
  /** The terms of service (a URL). */
  terms: WebUrl,
  /** Who operates the provider (absent in offers from before it existed, and when not configured). */
  operator: Operator.optional(),
})
export type Offer = z.infer<typeof Offer>
