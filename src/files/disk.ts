/**
 * A full disk, met calmly. Before the provider writes (a pass's replies and statuses, a payment fact) it checks the
 * free space of its data folder's disk, and below `minFreeMiB` it writes nothing: passes wait, webhooks are asked to
 * retry, so what fills the last space is never something it acknowledged. Should a write fail with ENOSPC all the
 * same (ssb-db2 throws it from a callback when peers' messages fill the disk), the provider stops at once with one
 * clear line instead of a stack trace: what was acknowledged is on disk, the rest is redone after a restart.
 */
import { statfsSync } from 'node:fs'

const MiB = 1024 * 1024

/** Why the provider should not write now (too little free space under `path`), or undefined when it may. */
export function diskShortage(path: string, minFreeBytes: number): string | undefined {
  let free: number
  try {
    const fs = statfsSync(path)
    free = fs.bavail * fs.bsize
  } catch {
    // Cannot tell (the folder is gone?): writing will say what is wrong.
    return undefined
  }
  if (free >= minFreeBytes) return undefined
  return `only ${(free / MiB).toFixed(1)} MiB free on the disk of ${path} (minFreeMiB: ${(minFreeBytes / MiB).toFixed(0)})`
}

/** Is this a "disk full" error (ENOSPC, or EDQUOT for a quota), here or in its causes? LevelDB says so only in words. */
export function isDiskFull(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return true
    if (typeof e.message === 'string' && /No space left on device|Disk quota exceeded/.test(e.message)) return true
  }
  return false
}
