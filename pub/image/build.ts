/**
 * Builds the pub image on a machine with no registry: a root filesystem assembled from this host's node binary and
 * its shared libraries, a static busybox, the compiled pub (only the dist files it imports) and the production
 * packages it needs (found by walking npm's lockfile from its imports), then `docker import`ed with the same
 * entrypoint, environment and layout as pub/image/Dockerfile.
 *
 * CLI: `node --import tsx pub/image/build.ts [--out rootfs.tar] [--push <registry>]` after `npm run build`. It
 * imports into the engine at $DOCKER_HOST (or /var/run/docker.sock), and with --push then pushes it to that registry
 * as `<registry>/buttcloud-pub:<version>`; with --out it writes the tarball and the matching `docker import` line.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, chownSync, copyFileSync, createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import Docker from 'dockerode'
import { APP_DIR, DATA_DIR, PUB_IMAGE_REPO, PUB_UID } from './constants.js'
import { pushPubImage } from './push.js'


const INPUTS_LABEL = 'buttcloud.pub.inputs'
const ENTRY_FILES = ['dist/pub/main.js', 'dist/pub/health.js']
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox']
const PLATFORM_DIR = `${process.platform}-${process.arch}`

/** The image config that `docker import --change` applies (mirrors the Dockerfile). */
export const IMAGE_CHANGES = [
  `ENV PATH=/usr/local/bin:/bin`,
  `ENV NODE_ENV=production`,
  `ENV PUB_DATA=${DATA_DIR}`,
  `WORKDIR ${APP_DIR}`,
  `USER ${PUB_UID}:${PUB_UID}`,
  `VOLUME ${DATA_DIR}`,
  `ENTRYPOINT ["/bin/sh", "${APP_DIR}/entrypoint.sh"]`,
]

export interface PubImage {
  /** `buttcloud-pub:<version>` */
  tag: string
  id: string
  sizeBytes: number
  /** False when an image with the same inputs already existed. */
  built: boolean
}

interface Inputs {
  repoRoot: string
  version: string
  nodeBinary: string
  libraries: string[]
  busybox: string
  /** binutils' strip, when installed. */
  strip: string | undefined
  distFiles: string[]
  /** node_modules-relative package folders (e.g. `node_modules/a/node_modules/b`). */
  packages: string[]
  hash: string
}

/** Make sure the engine has the pub image for the current build; builds and imports it only when inputs changed. */
export async function ensurePubImage(docker: Docker, opts: { repoRoot?: string } = {}): Promise<PubImage> {
  const inputs = collectInputs(opts.repoRoot ?? findRepoRoot())
  const tag = `${PUB_IMAGE_REPO}:${inputs.version}`
  // Test files in parallel workers may all ask at once; one build is enough, the others then find it.
  return withBuildLock(async () => {
    try {
      const existing = await docker.getImage(tag).inspect()
      if (existing.Config?.Labels?.[INPUTS_LABEL] === inputs.hash) return { tag, id: existing.Id, sizeBytes: existing.Size, built: false }
    } catch {
      // No such image yet.
    }
    return importImage(docker, inputs)
  })
}

const BUILD_LOCK = join(tmpdir(), 'buttcloud-pub-image.lock')

async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 5 * 60_000
  for (;;) {
    try {
      writeFileSync(BUILD_LOCK, String(process.pid), { flag: 'wx' })
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number(readFileSync(BUILD_LOCK, 'utf8'))
      if (!holder || !processAlive(holder)) rmSync(BUILD_LOCK, { force: true })
      else if (Date.now() > deadline) throw new Error(`another image build (PID ${holder}) holds ${BUILD_LOCK}`)
      else await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(BUILD_LOCK, { force: true })
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Build and import the pub image unconditionally. */
export async function buildPubImage(docker: Docker, opts: { repoRoot?: string } = {}): Promise<PubImage> {
  return importImage(docker, collectInputs(opts.repoRoot ?? findRepoRoot()))
}

async function importImage(docker: Docker, inputs: Inputs): Promise<PubImage> {
  const staging = mkdtempSync(join(tmpdir(), 'buttcloud-rootfs-'))
  try {
    assembleRootfs(staging, inputs)
    const tar = tarStream(staging)
    const tag = `${PUB_IMAGE_REPO}:${inputs.version}`
    const progress = await docker.importImage(tar.stdout, {
      repo: PUB_IMAGE_REPO,
      tag: inputs.version,
      changes: [...IMAGE_CHANGES, `LABEL ${INPUTS_LABEL}=${inputs.hash}`],
    })
    const output = await readAll(progress)
    await tar.done
    const image = await docker.getImage(tag).inspect().catch((err: Error) => {
      throw new Error(`docker import did not produce ${tag}: ${output.slice(-500)}`, { cause: err })
    })
    await docker.getImage(tag).tag({ repo: PUB_IMAGE_REPO, tag: 'latest' })
    return { tag, id: image.Id, sizeBytes: image.Size, built: true }
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

/** Write the image's root filesystem into `root` (an empty folder). */
function assembleRootfs(root: string, inputs: Inputs): void {
  const at = (path: string) => join(root, path)
  for (const dir of ['bin', 'etc', 'tmp', 'usr/local/bin', 'home/node', 'run', 'proc', 'sys', 'dev', APP_DIR, DATA_DIR]) mkdirSync(at(dir), { recursive: true })

  copyFileSync(inputs.nodeBinary, at('usr/local/bin/node'))
  chmodSync(at('usr/local/bin/node'), 0o755)
  // Debian's node carries ~12 MB of symbols and debug info; native addons need only the dynamic symbols, which
  // strip keeps. Without binutils the image is just that much larger.
  if (inputs.strip) spawnSync(inputs.strip, [at('usr/local/bin/node')], { stdio: 'ignore' })
  // Libraries go where ldd found them, so the binary's interpreter and search paths resolve unchanged.
  for (const lib of inputs.libraries) {
    mkdirSync(at(dirname(lib)), { recursive: true })
    copyFileSync(realpathSync(lib), at(lib))
  }

  copyFileSync(inputs.busybox, at('bin/busybox'))
  chmodSync(at('bin/busybox'), 0o755)
  const applets = spawnSync(inputs.busybox, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)
  for (const applet of applets) if (applet !== 'busybox' && !existsSync(at(`bin/${applet}`))) symlinkSync('busybox', at(`bin/${applet}`))

  writeFileSync(at('etc/passwd'), `root:x:0:0:root:/root:/bin/sh\nnode:x:${PUB_UID}:${PUB_UID}:node:/home/node:/bin/sh\n`)
  writeFileSync(at('etc/group'), `root:x:0:\nnode:x:${PUB_UID}:\n`)
  writeFileSync(at('etc/nsswitch.conf'), 'hosts: files dns\n')
  chmodSync(at('tmp'), 0o1777)
  chownSync(at('home/node'), PUB_UID, PUB_UID)
  // Docker copies this folder's ownership into a fresh named volume, so the unprivileged pub can write there.
  chownSync(at(DATA_DIR), PUB_UID, PUB_UID)
  chmodSync(at(DATA_DIR), 0o700)

  const app = at(APP_DIR)
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: PUB_IMAGE_REPO, version: inputs.version, private: true, type: 'module' }, null, 2)}\n`)
  copyFileSync(join(inputs.repoRoot, 'pub/image/entrypoint.sh'), join(app, 'entrypoint.sh'))
  for (const file of inputs.distFiles) {
    mkdirSync(dirname(join(app, file)), { recursive: true })
    copyFileSync(join(inputs.repoRoot, file), join(app, file))
  }
  for (const pkg of inputs.packages) copyPackage(join(inputs.repoRoot, pkg), join(app, pkg))
}

/** Copy one package folder without its nested node_modules (those are packages of their own) or build leftovers. */
function copyPackage(from: string, to: string, top = true): void {
  mkdirSync(to, { recursive: true })
  // A native package that ships prebuilt binaries never compiles here: its bundled C/C++ sources (leveldb, libsodium) can go.
  const prebuilt = top && existsSync(join(from, 'prebuilds')) && existsSync(join(from, 'binding.gyp'))
  for (const name of readdirSync(from)) {
    if (prebuilt && (name === 'deps' || /\.(c|cc|cpp|h|gyp)$/.test(name))) continue
    const src = join(from, name)
    const dst = join(to, name)
    const stat = lstatSync(src)
    if (stat.isDirectory()) {
      if (name === 'node_modules' || name === '.github' || name === '.bin') continue
      if (name === 'prebuilds') {
        // Native prebuilds ship for every platform; only ours can load here.
        for (const platform of readdirSync(src)) if (platform === PLATFORM_DIR) copyTree(join(src, platform), join(dst, platform))
        continue
      }
      copyPackage(src, dst, false)
    } else if (stat.isFile()) {
      if (/\.(md|markdown|map|d\.ts|d\.mts|d\.cts)$/i.test(name) || /^(changelog|history)(\.(md|txt|markdown))?$/i.test(name)) continue
      copyFileSync(src, dst)
      chmodSync(dst, stat.mode & 0o777)
    }
  }
}

function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true })
  for (const name of readdirSync(from)) {
    const src = join(from, name)
    if (lstatSync(src).isDirectory()) copyTree(src, join(to, name))
    else copyFileSync(src, join(to, name))
  }
}

function tarStream(root: string): { stdout: NodeJS.ReadableStream; done: Promise<void> } {
  const child = spawn('tar', ['--numeric-owner', '--sort=name', '-C', root, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const done = new Promise<void>((resolveDone, reject) =>
    child.on('close', (code) => (code === 0 ? resolveDone() : reject(new Error(`tar failed (${code}): ${stderr}`)))),
  )
  return { stdout: child.stdout, done }
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolveAll, reject) => {
    let text = ''
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
    stream.on('end', () => resolveAll(text))
    stream.on('error', reject)
  })
}

/* ---------- Inputs ---------- */

function collectInputs(repoRoot: string): Inputs {
  for (const entry of ENTRY_FILES) {
    if (!existsSync(join(repoRoot, entry))) throw new Error(`${entry} is missing: run \`npm run build\` first`)
  }
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  const { files: distFiles, bareSpecifiers } = distClosure(repoRoot, ENTRY_FILES)
  const packages = packageClosure(repoRoot, bareSpecifiers)
  const nodeBinary = realpathSync(process.execPath)
  const nativeModules = packages.flatMap((pkg) => findFiles(join(repoRoot, pkg), (name) => name.endsWith('.node')))
  const libraries = sharedLibraries([nodeBinary, ...nativeModules])
  const busybox = BUSYBOX_CANDIDATES.find((p) => existsSync(p) && isStatic(p))
  if (!busybox) throw new Error('a static busybox is needed: apt-get install -y busybox-static')
  const strip = ['/usr/bin/strip', '/bin/strip'].find((p) => existsSync(p))

  const hash = createHash('sha256')
  hash.update(`${version}\n${strip ? 'stripped' : 'unstripped'}\n`)
  for (const file of [nodeBinary, busybox, ...libraries]) {
    const stat = statSync(file)
    hash.update(`${file}:${stat.size}:${stat.mtimeMs}\n`)
  }
  for (const file of [...distFiles, 'pub/image/entrypoint.sh']) hash.update(file).update(readFileSync(join(repoRoot, file)))
  for (const pkg of packages) hash.update(`${pkg}@${(JSON.parse(readFileSync(join(repoRoot, pkg, 'package.json'), 'utf8')) as { version?: string }).version}\n`)
  hash.update(IMAGE_CHANGES.join('\n'))
  hash.update(readFileSync(fileURLToPath(import.meta.url)))
  return { repoRoot, version, nodeBinary, libraries, busybox, strip, distFiles, packages, hash: hash.digest('hex').slice(0, 16) }
}

const IMPORT_RE = /(?:^|[;\n])\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]|(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g

/** The compiled files reachable from the entry files by relative imports, and the packages they import. */
function distClosure(repoRoot: string, entries: string[]): { files: string[]; bareSpecifiers: Set<string> } {
  const files = new Set<string>()
  const bare = new Set<string>()
  const queue = [...entries]
  while (queue.length) {
    const file = queue.pop()!
    if (files.has(file)) continue
    files.add(file)
    const text = readFileSync(join(repoRoot, file), 'utf8')
    for (const match of text.matchAll(IMPORT_RE)) {
      const spec = match[1] ?? match[2] ?? match[3] ?? match[4]
      if (!spec || spec.startsWith('node:')) continue
      if (spec.startsWith('.')) queue.push(relative(repoRoot, resolve(repoRoot, dirname(file), spec)))
      else bare.add(spec)
    }
  }
  return { files: [...files].sort(), bareSpecifiers: bare }
}

interface LockEntry {
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  link?: boolean
}

/** Every installed package folder the given bare specifiers need, by node's resolution over npm's hidden lockfile. */
function packageClosure(repoRoot: string, specifiers: Set<string>): string[] {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const resolveFrom = (from: string, name: string): string | undefined => {
    let base = from
    for (;;) {
      const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`
      if (lock.packages[candidate]) return candidate
      if (!base) return undefined
      const cut = base.lastIndexOf('/node_modules/')
      base = cut === -1 ? '' : base.slice(0, cut)
    }
  }
  const found = new Set<string>()
  const queue: string[] = []
  for (const spec of specifiers) {
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
    const pkg = resolveFrom('', name)
    if (!pkg) throw new Error(`the pub imports ${spec}, which is not installed`)
    queue.push(pkg)
  }
  while (queue.length) {
    const pkg = queue.pop()!
    if (found.has(pkg)) continue
    found.add(pkg)
    const entry = lock.packages[pkg]!
    const deps = { ...entry.peerDependencies, ...entry.optionalDependencies, ...entry.dependencies }
    for (const name of Object.keys(deps)) {
      const dep = resolveFrom(pkg, name)
      // Optional and peer dependencies may be absent; a missing required one shows up when the image runs.
      if (dep && existsSync(join(repoRoot, dep))) queue.push(dep)
    }
  }
  return [...found].sort()
}

/** Shared libraries (by the paths ldd reports) that these ELF files load, including the dynamic loader. */
function sharedLibraries(elfFiles: string[]): string[] {
  const libs = new Set<string>()
  for (const file of elfFiles) {
    const out = spawnSync('ldd', [file], { encoding: 'utf8' })
    if (out.status !== 0) continue
    for (const line of out.stdout.split('\n')) {
      const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
      if (match?.[1]) libs.add(match[1])
    }
  }
  return [...libs].sort()
}

function isStatic(file: string): boolean {
  const out = spawnSync('ldd', [file], { encoding: 'utf8' })
  return out.status !== 0 || /not a dynamic executable|statically linked/.test(out.stdout + out.stderr)
}

function findFiles(dir: string, match: (name: string) => boolean): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    const stat = lstatSync(path)
    if (stat.isDirectory()) {
      if (name === 'node_modules') continue
      if (name === 'prebuilds') {
        if (existsSync(join(path, PLATFORM_DIR))) out.push(...findFiles(join(path, PLATFORM_DIR), match))
        continue
      }
      out.push(...findFiles(path, match))
    } else if (stat.isFile() && match(name)) out.push(path)
  }
  return out
}

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'pub/image/entrypoint.sh'))) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the repository root (package.json with pub/image/entrypoint.sh)')
    dir = parent
  }
}

/* ---------- CLI ---------- */

async function cli(args: string[]): Promise<void> {
  const outIndex = args.indexOf('--out')
  const repoRoot = findRepoRoot()
  if (outIndex !== -1) {
    const out = resolve(args[outIndex + 1] ?? 'buttcloud-pub-rootfs.tar')
    const inputs = collectInputs(repoRoot)
    const staging = mkdtempSync(join(tmpdir(), 'buttcloud-rootfs-'))
    try {
      assembleRootfs(staging, inputs)
      const tar = tarStream(staging)
      await Promise.all([pipeline(tar.stdout, createWriteStream(out)), tar.done])
    } finally {
      rmSync(staging, { recursive: true, force: true })
    }
    const changes = [...IMAGE_CHANGES, `LABEL ${INPUTS_LABEL}=${inputs.hash}`].map((c) => `--change '${c}'`).join(' ')
    process.stdout.write(`wrote ${out} (${(statSync(out).size / 1e6).toFixed(1)} MB)\nimport it with:\n  docker import ${changes} ${out} ${PUB_IMAGE_REPO}:${inputs.version}\n`)
    return
  }
  const host = process.env.DOCKER_HOST
  const socketPath = host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock'
  if (host && !host.startsWith('unix://')) throw new Error(`only unix:// DOCKER_HOST is supported, got ${host}`)
  const docker = new Docker({ socketPath })
  await docker.ping().catch((err: Error) => {
    throw new Error(`no Docker engine answers at ${socketPath}: set DOCKER_HOST=unix://<socket>, or write a tarball with --out <file>`, { cause: err })
  })
  const started = Date.now()
  const image = await buildPubImage(docker)
  process.stdout.write(`${image.tag} ${image.id} ${(image.sizeBytes / 1e6).toFixed(1)} MB, built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
  const pushIndex = args.indexOf('--push')
  if (pushIndex !== -1) {
    const registry = args[pushIndex + 1]
    if (!registry) throw new Error('--push needs a registry (host[:port])')
    process.stdout.write(`pushed ${await pushPubImage(docker, { image: image.tag, registry, version: image.tag.slice(PUB_IMAGE_REPO.length + 1) })}\n`)
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`image build failed: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}\n`)
    process.exit(1)
  })
}
