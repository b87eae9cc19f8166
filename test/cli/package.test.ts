/**
 * The installable CLI (cli/): what src/cli reaches needs only the packages cli/package.json lists, none of the
 * provider's server packages; and `npm pack` there makes a tarball that `npm install -g` turns into a working
 * `buttcloud` that talks to a real sbot.
 */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDb2Node, type Db2Node } from './support.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI_PACKAGE = join(ROOT, 'cli')
const cliManifest = JSON.parse(readFileSync(join(CLI_PACKAGE, 'package.json'), 'utf8')) as {
  name: string
  version: string
  bin: Record<string, string>
  dependencies: Record<string, string>
}
/** What only the provider, its pubs and its site need: none may reach a user's machine through the CLI. */
const SERVER_PACKAGES = ['dockerode', 'stripe', 'ssb-db2', 'hono', '@hono/node-server', 'secret-stack', 'ssb-conn', 'ssb-ebt', 'ssb-invite', 'pino', 'prom-client', 'ssb-blobs']

/** Every runtime import of a source file: relative ones as resolved paths, bare ones as package names. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  // Type-only imports vanish in the build; comments may quote import lines.
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
    .replace(/^import type [^;]*?from '[^']+'/gm, '')
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)'([^']+)'/gm)].map((m) => m[1]!)
  const local: string[] = []
  const packages: string[] = []
  for (const s of specifiers) {
    if (s.startsWith('.')) local.push(resolve(dirname(file), s.replace(/\.js$/, '.ts')))
    else if (!s.startsWith('node:') && !builtinModules.includes(s)) packages.push(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!)
  }
  return { local, packages }
}

/** The source files the CLI's entry point reaches at run time, and the packages they load. */
function cliImportGraph(): { files: string[]; packages: Set<string> } {
  const seen = new Set<string>()
  const packages = new Set<string>()
  const queue = [join(ROOT, 'src/cli/main.ts')]
  while (queue.length) {
    const file = queue.pop()!
    if (seen.has(file)) continue
    seen.add(file)
    const { local, packages: used } = importsOf(file)
    queue.push(...local)
    for (const p of used) packages.add(p)
  }
  return { files: [...seen].map((f) => relative(ROOT, f)).sort(), packages }
}

describe('the CLI package', () => {
  it("reaches only src/cli, src/protocol and src/ssb's client side, and loads only the CLI package's dependencies", () => {
    const { files, packages } = cliImportGraph()
    expect(files).toContain('src/cli/join-pub.ts')
    expect(files.filter((f) => !/^src\/(cli|protocol)\//.test(f))).toEqual(['src/ssb/client.ts', 'src/ssb/keys.ts', 'src/ssb/pull.ts'])
    expect([...packages].sort()).toEqual(Object.keys(cliManifest.dependencies).sort())
    for (const server of SERVER_PACKAGES) expect(packages.has(server), server).toBe(false)
  })

  describe('packed and installed globally', () => {
    let scratch: string
    let user: Db2Node | undefined
    let prefix: string

    beforeAll(async () => {
      scratch = mkdtempSync(join(tmpdir(), 'bc-cli-pack-'))
      prefix = join(scratch, 'prefix')
      user = await startDb2Node('installed')
    })
    afterAll(async () => {
      await user?.close()
      if (scratch) rmSync(scratch, { recursive: true, force: true })
    })

    it('npm pack builds a tarball that npm install -g turns into a working buttcloud without server packages', async () => {
      // From no build at all: npm pack's `prepare` compiles the CLI into cli/dist.
      rmSync(join(CLI_PACKAGE, 'dist'), { recursive: true, force: true })
      const packed = npm(['pack', '--pack-destination', scratch, '--json'], CLI_PACKAGE)
      const [{ filename }] = JSON.parse(packed.slice(packed.indexOf('['))) as Array<{ filename: string }>
      const tarball = join(scratch, filename)
      expect(existsSync(tarball)).toBe(true)

      npm(['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund'], scratch)
      const bin = join(prefix, 'bin', 'buttcloud')
      const help = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 20_000 })
      expect(help.status, help.stderr).toBe(0)
      expect(help.stdout).toContain('Usage: buttcloud <command> [options]')
      expect(help.stdout).toContain('connect <pub>')
      expect(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(cliManifest.version)

      const installed = join(prefix, 'lib', 'node_modules', cliManifest.name)
      const present = packageNames(join(installed, 'node_modules'))
      expect(present).toContain('ssb-client')
      for (const server of SERVER_PACKAGES) expect(present, server).not.toContain(server)

      // The installed client stack (ssb-client, its crypto, zod) really talks to an sbot over its socket; the sbot
      // runs in this process, so the bin runs without blocking it.
      const offers = await promisify(execFile)(bin, ['offers', '--json', '--ssb-dir', user!.dir], { encoding: 'utf8', timeout: 30_000 })
      expect(JSON.parse(offers.stdout)).toEqual([])
    }, 150_000)
  })
})

/** Run npm in a folder; throws with its output when it fails. */
function npm(args: string[], cwd: string): string {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** Every package name anywhere under a node_modules folder, nested ones included. */
function packageNames(nodeModules: string): string[] {
  if (!existsSync(nodeModules)) return []
  const names: string[] = []
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue
    const dirs = entry.startsWith('@') ? readdirSync(join(nodeModules, entry)).map((e) => `${entry}/${e}`) : [entry]
    for (const name of dirs) {
      names.push(name)
      names.push(...packageNames(join(nodeModules, name, 'node_modules')))
    }
  }
  return names
}
