/**
 * A hosted pub's answer to `pubDisk.usage` (muxrpc, masters only): its log and blobs against its plan's disk
 * allowance, as the pub itself last measured them. Not an SSB message; the provider parses it like one.
 */
import { z } from 'zod'
import { Count } from './common.js'

/** Share of the allowance from which the pub says `warn` (and its owner is told). */
export const DISK_WARN_SHARE = 0.9

export const DiskLevel = z.enum(['ok', 'warn', 'full'])
/** `warn` from 90% of the allowance, `full` from 100%. */
export type DiskLevel = z.infer<typeof DiskLevel>

export const DiskUsage = z.strictObject({
  usedBytes: Count,
  allowedBytes: Count.min(1),
  level: DiskLevel,
})
export type DiskUsage = z.infer<typeof DiskUsage>

/** The level for `used` bytes of `allowed`. */
export function diskLevel(usedBytes: number, allowedBytes: number): DiskLevel {
  if (usedBytes >= allowedBytes) return 'full'
  return usedBytes >= allowedBytes * DISK_WARN_SHARE ? 'warn' : 'ok'
}
