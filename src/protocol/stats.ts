/**
 * `buttcloud/stats` v1: one window's resource summary for one pub. Private: the provider boxes its daily
 * summaries to the owner alone (a second recipient would cost every pub ~140 bytes of feed a day).
 */
import { z } from 'zod'
import { MsgId } from './ids.js'
import { Count, Millis, Recps } from './common.js'

export const StatsSummary = z.strictObject({
  window: z.strictObject({ from: Millis, to: Millis }),
  /** Samples folded into this summary. */
  samples: z.number().int().min(0).max(1_000_000),
  cpu: z.strictObject({ avgPercent: z.number().min(0).max(100_000), maxPercent: z.number().min(0).max(100_000) }),
  memory: z.strictObject({ avgBytes: Count, maxBytes: Count, limitBytes: Count }),
  /** Absent when the runtime cannot attribute traffic to one pub (pubs on the host network). */
  network: z.strictObject({ rxBytes: Count, txBytes: Count }).optional(),
  /** The pub's log and blobs against its plan's disk allowance, as the pub last measured them (absent when unknown). */
  disk: z.strictObject({ usedBytes: Count, allowedBytes: Count }).optional(),
  uptimeSeconds: Count,
  restarts: Count,
})
export type StatsSummary = z.infer<typeof StatsSummary>

export const PubStats = z.strictObject({
  type: z.literal('buttcloud/stats'),
  version: z.literal(1),
  request: MsgId,
  summary: StatsSummary,
  recps: Recps,
})
export type PubStats = z.infer<typeof PubStats>
