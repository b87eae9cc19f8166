/**
 * The dependency direction README.md draws, checked against the code: every relative import in the program's
 * folders (src, plugins, web, pub) is an arrow from one layer to another, and an arrow the table below does not
 * allow fails the test with the file and line that draws it. Only src/provider, the composition root, may wire
 * concrete parts (drivers, orchestrator, plugin, site) together.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const PROGRAM_FOLDERS = ['src', 'plugins', 'web', 'pub']

/** What each layer may import besides itself. */
const ALLOWED: Record<string, readonly string[]> = {
  'src/protocol': [],
  'src/files': [],
  'src/log': [],
  // Leaf utilities with no imports: crash points for the fault-injection tests (docs/faults.md).
  'src/faults': [],
  'src/payment': ['src/protocol'],
  'src/planner': ['src/protocol'],
  'src/ssb': ['src/protocol'],
  'src/control': ['src/log', 'src/protocol', 'src/payment', 'src/planner', 'src/ssb'],
  'src/orchestrator': ['src/log', 'src/protocol', 'src/control', 'src/planner', 'src/ssb', 'src/files', 'src/faults'],
  'src/drivers': ['src/log', 'src/protocol', 'src/control', 'src/planner', 'src/ssb', 'src/files', 'pub/image'],
  'src/cli': ['src/protocol', 'src/ssb'],
  plugins: ['src/log', 'src/protocol', 'src/control', 'src/planner', 'src/payment', 'src/ssb', 'src/faults'],
  web: ['src/log', 'src/protocol', 'src/payment'],
  pub: ['src/log', 'src/protocol', 'src/ssb', 'src/files'],
  'pub/image': ['src/protocol'],
  'src/provider': ['*'],
}

/** Packages a layer must not load at all: the planner stays pure (no Docker, no SSB). */
const FORBIDDEN_PACKAGES: Record<string, RegExp> = {
  'src/planner': /^(dockerode|secret-stack|multiserver|ssb-|pull-)/,
  'src/protocol': /^(dockerode|secret-stack|multiserver|ssb-|pull-)/,
}

interface Arrow {
  from: string
  to: string
  file: string
  line: number
}

/** The layer a repo-relative path belongs to: `src/<folder>`, `pub/image`, or the top folder. */
export function layerOf(path: string): string {
  const parts = path.split('/')
  if (parts[0] === 'src') return `src/${parts[1]}`
  if (parts[0] === 'pub' && parts[1] === 'image') return 'pub/image'
  return parts[0]!
}

function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
}

const IMPORT_RE = /(?:^|\s)(?:import|export)\s[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm

function importsOf(file: string): Array<{ spec: string; line: number }> {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const out: Array<{ spec: string; line: number }> = []
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3]
    if (spec) out.push({ spec, line: text.slice(0, m.index).split('\n').length })
  }
  return out
}

/** Every arrow between two layers, and every package import, in the program's folders. */
function importGraph(): { arrows: Arrow[]; packages: Arrow[] } {
  const arrows: Arrow[] = []
  const packages: Arrow[] = []
  for (const file of PROGRAM_FOLDERS.flatMap(sourceFiles)) {
    const from = layerOf(file)
    for (const { spec, line } of importsOf(file)) {
      if (spec.startsWith('.')) {
        const to = layerOf(relative(ROOT, resolve(ROOT, dirname(file), spec)))
        if (to !== from) arrows.push({ from, to, file, line })
      } else if (!spec.startsWith('node:')) packages.push({ from, to: spec, file, line })
    }
  }
  return { arrows, packages }
}

/** The arrows the table does not allow, as `file:line from -> to`. */
export function againstTheDirection(arrows: readonly Arrow[]): string[] {
  return arrows
    .filter((a) => {
      const allowed = ALLOWED[a.from]
      return !allowed || !(allowed.includes('*') || allowed.includes(a.to))
    })
    .map((a) => `${a.file}:${a.line} ${a.from} -> ${a.to}`)
}

describe('dependency direction', () => {
  const graph = importGraph()

  it('finds the arrows it checks (the walker reads the code)', () => {
    const seen = new Set(graph.arrows.map((a) => `${a.from} -> ${a.to}`))
    expect(seen).toContain('src/control -> src/protocol')
    expect(seen).toContain('src/provider -> src/drivers')
    expect(seen).toContain('src/orchestrator -> src/control')
    expect(graph.arrows.length).toBeGreaterThan(100)
  })

  it('has no arrow against the declared direction', () => {
    expect(againstTheDirection(graph.arrows)).toEqual([])
  })

  it('names the file and line of an arrow that runs back up', () => {
    const back: Arrow[] = [
      { from: 'src/drivers', to: 'src/orchestrator', file: 'src/drivers/x.ts', line: 3 },
      { from: 'src/orchestrator', to: 'src/provider', file: 'src/orchestrator/y.ts', line: 7 },
      { from: 'src/control', to: 'src/protocol', file: 'src/control/z.ts', line: 1 },
    ]
    expect(againstTheDirection(back)).toEqual(['src/drivers/x.ts:3 src/drivers -> src/orchestrator', 'src/orchestrator/y.ts:7 src/orchestrator -> src/provider'])
  })

  it('has a rule for every layer in the code', () => {
    const layers = new Set(graph.arrows.flatMap((a) => [a.from, a.to]))
    expect([...layers].filter((l) => !(l in ALLOWED))).toEqual([])
  })

  it('builds programs that import no test code (bench and testkit stay out of test/)', () => {
    const intoTests = ['src', 'plugins', 'web', 'pub', 'bench', 'testkit']
      .flatMap(sourceFiles)
      .flatMap((file) => importsOf(file).map((i) => ({ file, ...i })))
      .filter((i) => i.spec.startsWith('.') && relative(ROOT, resolve(ROOT, dirname(i.file), i.spec)).startsWith('test/'))
      .map((i) => `${i.file}:${i.line} ${i.spec}`)
    expect(intoTests).toEqual([])
  })

  it('keeps the planner and the protocol free of Docker and SSB packages', () => {
    const bad = graph.packages.filter((p) => FORBIDDEN_PACKAGES[p.from]?.test(p.to)).map((p) => `${p.file}:${p.line} ${p.to}`)
    expect(bad).toEqual([])
  })
})
