/**
 * A hosted pub's answer to `pubDisk.usage` (muxrpc, masters only): its log and blobs against its plan's disk
 * allowance, as the pub itself last measured them. Not an SSB message; the provider parses it like one.
 */
import { z } from 'zod'
import { Count } from './common.js'
import { DISK_LEVELS } from './text-checks.js'

export { DISK_WARN_SHARE, diskLevel } from './text-checks.js'

export const DiskLevel = z.enum(DISK_LEVELS)
/** `warn` from 90% of the allowance, `full` from 100%. */
export type DiskLevel = z.infer<typeof DiskLevel>

export const DiskUsage = z.strictObject({
  usedBytes: Count,
  allowedBytes: Count.min(1),
  level: DiskLevel,
})
export type DiskUsage = z.infer<typeof DiskUsage>

