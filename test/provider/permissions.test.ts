/**
 * Files the provider writes are its user's alone: the built provider, as a real process started from a test runner
 * with the usual 022 umask, leaves a fresh data folder 0700/0600, and fixes one an older version left 0755/0644.
 */
import { chmodSync, existsSync, lstatSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../../testkit/ports.js'
import { startNode, type Child } from '../support/processes.js'
import { removeLater } from '../../testkit/sbots.js'
import { modes, notPrivate } from '../support/files.js'

const MAIN = resolve('dist/src/provider/main.js')

let child: Child | undefined
afterEach(async () => {
  await child?.stop()
  child = undefined
})

async function runProvider(data: string): Promise<void> {
  child = startNode(MAIN, [], { BUTTCLOUD_DATA: data, BUTTCLOUD_PORT: String(await freePort()), BUTTCLOUD_WEB_ENABLED: '0', BUTTCLOUD_RUNTIME: 'none' })
  await child.waitForOutput(/ButtCloud provider is running/)
  // Stopped cleanly, so the indexes it writes at close are on disk (and checked) too.
  const code = await child.stop()
  expect(code, child.output()).toBe(0)
  child = undefined
}

describe('file permissions', () => {
  it('a fresh provider data folder is 0700 with 0600 files, its keyring and index included', async () => {
    expect(existsSync(MAIN), 'run `npm run build` first (npm test does)').toBe(true)
    // The provider starts with the usual loose umask, so only its own care makes its files private.
    process.umask(0o022)
    const parent = mkdtempSync(join(tmpdir(), 'bc-perm-'))
    removeLater(parent)
    const data = join(parent, 'provider')
    await runProvider(data)
    const seen = modes(data)
    // The secrets this is about: the key, the db2 keyring (box1 decryption key) and our own index.
    for (const path of ['secret', 'keyring', 'db2/log.bipf', 'db2/indexes/buttcloud.entries']) expect(seen.has(join(data, path)), path).toBe(true)
    expect([...seen.keys()].some((p) => p.startsWith(join(data, 'keyring') + '/'))).toBe(true)
    expect(seen.size).toBeGreaterThan(15)
    expect(notPrivate(data)).toEqual([])
  })

  it('fixes a data folder left 0755/0644 by an older version on start', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'bc-perm-'))
    removeLater(parent)
    const data = join(parent, 'provider')
    await runProvider(data)
    for (const [path] of modes(data)) chmodSync(path, lstatSync(path).isDirectory() ? 0o755 : 0o644)
    expect(notPrivate(data).length).toBe(modes(data).size)
    await runProvider(data)
    expect(notPrivate(data)).toEqual([])
  })
})
