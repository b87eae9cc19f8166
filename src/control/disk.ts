/**
 * A pub's disk allowance as its owner hears of it. The pub measures its own log and blobs and decides its level
 * (pub/disk-allowance.ts; the answer's shape is src/protocol/disk.ts); the provider reads that and says it in the
 * pub's status. The words depend on the level only, never on the exact figure, so a status (and its notification)
 * is posted once per crossing, not per reading.
 */
import type { DiskUsage } from '../protocol/disk.js'

const MiB = 1024 * 1024
const DISK_PREFIX = 'disk allowance: '

/** The status reason for a pub at `usage`'s level, or undefined when all is well. */
export function diskReason(usage: Pick<DiskUsage, 'allowedBytes' | 'level'>): string | undefined {
  const allowance = usage.allowedBytes >= MiB ? `${Math.round(usage.allowedBytes / MiB)} MiB` : `${Math.round(usage.allowedBytes / 1024)} KiB`
  if (usage.level === 'warn') {
    return `${DISK_PREFIX}the pub's log and blobs passed 90% of its ${allowance}; at 100% it takes no new feeds or blobs (your own feed is always kept)`
  }
  if (usage.level === 'full') {
    return `${DISK_PREFIX}the pub's log and blobs fill its ${allowance}; it keeps your feed and serves everything it holds, but takes no other feeds' new messages or new blobs`
  }
  return undefined
}

/** True for a reason `diskReason` wrote. */
export function isDiskReason(reason: string | undefined): boolean {
  return reason !== undefined && reason.startsWith(DISK_PREFIX)
}
