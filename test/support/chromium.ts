/** Headless Chromium from Debian's package for browser tests; a missing browser fails under CI=true. */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
// Playwright adds --headless itself; the rest keep Chromium off the (closed) network and quiet.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Is a browser test possible here? Under CI=true the answer must be yes (it throws otherwise). */
export function haveChromium(): boolean {
  const ok = existsSync(CHROMIUM)
  if (!ok && process.env.CI === 'true') throw new Error(`Chromium is required at ${CHROMIUM} when CI=true`)
  if (!ok) console.warn(`browser test skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
  return ok
}

/** Launch Chromium with a fresh profile; `close` ends it and removes the profile. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'buttcloud-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 390, height: 844 },
  })
  return {
    context,
    async close() {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    },
  }
}
