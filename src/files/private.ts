/**
 * Files for their owner alone. The provider's data folder holds its key, the db2 keyring (its box1 decryption key)
 * and an index of pay links, backup links and Stripe ids; a pub's holds its log and keyring. Everything written from
 * now on is private through the umask; what an older version (or a looser umask) left behind is fixed by one walk
 * at start.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** New files 0600 and folders 0700, in this process and every process it starts. */
export const PRIVATE_UMASK = 0o077

/** Make every file this process (and its children) creates from now on private to its user. */
export function usePrivateUmask(): void {
  process.umask(PRIVATE_UMASK)
}

/** Create `dir` (0700) if needed, then take group and other rights off it and everything under it; returns how many modes changed. */
export function makePrivateTree(dir: string): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  let changed = 0
  const walk = (path: string) => {
    let info
    try {
      info = lstatSync(path)
    } catch {
      // Deleted while we walked (an index being rewritten): nothing to fix.
      return
    }
    // Symbolic links are left alone: their mode means nothing, and their target may be someone else's.
    if (info.isSymbolicLink()) return
    // Only group and other bits go: a key file ssb-keys made read-only (0400) stays read-only.
    const mode = info.mode & 0o777
    if (mode & 0o077) {
      chmodSync(path, mode & 0o700)
      changed++
    }
    if (info.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name))
  }
  walk(dir)
  return changed
}
