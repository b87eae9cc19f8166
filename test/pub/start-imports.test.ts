/**
 * What the hosted pub loads before it serves: every static import of the built program, followed from
 * dist/pub/main.js. zod is not among them: loading it and building the protocol's schemas cost a starting pub
 * 100-300 ms of CPU before it listened (bench/provisioning), so the pub checks its settings with the plain rules
 * of src/protocol/text-checks.ts. Dynamic imports (the web view, loaded after the pub listens) are not followed.
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { assertPubBuilt, REPO_ROOT } from '../../testkit/pub-process.js'

/** Packages reached by static imports from `entry`, each with the first built file that imports it. */
function staticPackages(entry: string): Map<string, string> {
  const seen = new Set<string>()
  const packages = new Map<string, string>()
  const walk = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s+(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!
      if (spec.startsWith('.')) walk(resolve(dirname(file), spec))
      else if (!packages.has(spec)) packages.set(spec, file.slice(REPO_ROOT.length + 1))
    }
  }
  walk(entry)
  return packages
}

describe('the pub before it serves', () => {
  it('loads no zod, and does load what it serves with', () => {
    assertPubBuilt()
    const packages = staticPackages(join(REPO_ROOT, 'dist/pub/main.js'))
    expect(packages.get('zod')).toBeUndefined()
    // The walk itself reaches the pub's modules: its logger's package is found.
    expect(packages.has('pino')).toBe(true)
  })
})
