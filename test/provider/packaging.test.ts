/**
 * The packaging is checked by the tools that will read it: the stack file by `docker stack config` (the CLI's own
 * compose schema, no engine needed), the systemd unit by `systemd-analyze verify`, and the provider image's
 * Dockerfile by what it copies and starts. Each check is also shown to fail on a broken copy.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')
const STACK = join(ROOT, 'deploy/stack.yml')
const UNIT = join(ROOT, 'deploy/buttcloud-provider.service')
const DOCKERFILE = join(ROOT, 'deploy/provider.Dockerfile')
const scratch = mkdtempSync(join(tmpdir(), 'bc-pack-'))

/** A tool is needed: in CI (which installs docker.io and has systemd) its absence is an error, elsewhere a skip. */
function has(tool: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0
  if (!found && process.env.CI === 'true') throw new Error(`${tool} is not installed`)
  return found
}

function stackConfig(file: string): { status: number | null; out: string; err: string } {
  const r = spawnSync('docker', ['stack', 'config', '-c', file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })
  return { status: r.status, out: r.stdout, err: r.stderr }
}

function verifyUnit(file: string): string {
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' })
  return `${r.stdout}${r.stderr}`.trim()
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe.runIf(has('docker'))('deploy/stack.yml', () => {
  it('is a valid stack file: one provider on a manager, host network, its data and backups on volumes, Stripe keys as secrets', () => {
    const r = stackConfig(STACK)
    expect(r.err).toBe('')
    expect(r.status).toBe(0)
    expect(r.out).toMatch(/services:\n {2}provider:/)
    expect(r.out).toContain('node.role == manager')
    expect(r.out).toMatch(/name: host/)
    expect(r.out).toMatch(/target: \/data/)
    expect(r.out).toMatch(/target: \/backups/)
    expect(r.out).toContain('buttcloud-stripe-secret-key')
    expect(r.out).toMatch(/replicas: 1/)
    expect(r.out).not.toMatch(/sk_live|whsec_/)
  })

  it('and the check fails on a broken copy', () => {
    const broken = join(scratch, 'stack.yml')
    writeFileSync(broken, readFileSync(STACK, 'utf8').replace('    networks: [hostnet]', '    networkz: [hostnet]'))
    const r = stackConfig(broken)
    expect(r.status).not.toBe(0)
    expect(r.err).toMatch(/networkz/)
  })
})

describe.runIf(has('systemd-analyze'))('deploy/buttcloud-provider.service', () => {
  it('verifies without a complaint', () => {
    expect(verifyUnit(UNIT)).toBe('')
  })

  it('and the check complains about a broken copy', () => {
    const broken = join(scratch, 'buttcloud-provider.service')
    writeFileSync(broken, readFileSync(UNIT, 'utf8').replace('Restart=on-failure', 'Restart=sometimes'))
    expect(verifyUnit(broken)).toMatch(/restart specifier/)
  })
})

describe('deploy/provider.Dockerfile', () => {
  it('copies files that exist and starts the built provider', () => {
    const text = readFileSync(DOCKERFILE, 'utf8')
    const sources = [...text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '))
    expect(sources.length).toBeGreaterThan(0)
    for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true)
    const entry = /^ENTRYPOINT \["node", "([^"]+)"\]$/m.exec(text)?.[1]
    expect(entry).toBe('dist/src/provider/main.js')
    expect(existsSync(join(ROOT, 'src/provider/main.ts'))).toBe(true)
  })
})
