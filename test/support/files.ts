/** File modes for tests: what the provider and its pubs leave on disk. */
import { lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Every path under `dir` (itself included) with its permission bits. */
export function modes(dir: string): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (path: string) => {
    const info = lstatSync(path)
    if (info.isSymbolicLink()) return
    out.set(path, info.mode & 0o777)
    if (info.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name))
  }
  walk(dir)
  return out
}

/** The paths that are not 0700 (folders) or 0600 (files; 0400, as ssb-keys leaves a key, is as private). */
export function notPrivate(dir: string): string[] {
  const ok = (path: string, mode: number) => (lstatSync(path).isDirectory() ? mode === 0o700 : mode === 0o600 || mode === 0o400)
  return [...modes(dir)].filter(([path, mode]) => !ok(path, mode)).map(([path, mode]) => `${path} ${mode.toString(8)}`)
}
