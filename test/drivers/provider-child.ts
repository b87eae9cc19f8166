/**
 * A provider as its own process with the runtime its settings name, the way the provider's main wires it, for tests
 * that SIGKILL it. Run with tsx: `node --import tsx test/drivers/provider-child.ts` with BUTTCLOUD_CONFIG naming a settings file.
 * Prints one JSON line `{"event":"ready","id","address","invite"}` once the first pass has run.
 */
import { runtimeFromSettings } from '../../src/provider/runtime-from-settings.js'
import { startProvider } from '../../src/provider/provider.js'
import { loadSettings } from '../../src/provider/settings.js'

const settings = loadSettings(process.env.BUTTCLOUD_CONFIG)
const provider = await startProvider(settings, {
  runtime: runtimeFromSettings(settings),
  log: (line) => process.stderr.write(`[provider] ${line}\n`),
})
const invite = await provider.createInvite(10)
process.stdout.write(`${JSON.stringify({ event: 'ready', id: provider.id, address: provider.address, invite })}\n`)
const stop = () => void provider.close().then(() => process.exit(0))
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
