/**
 * ssb-invite 3 (and ssb-gossip) still call ssb-ref's deprecated `parseAddress` and `parseInvite`, and ssb-ref prints a
 * `console.trace` stack the first time each is called: an operator starting the provider saw a stack trace on every
 * start. The functions work; ssb-ref's own wrapper logs only once per process, so calling each once here with the
 * trace silenced marks them logged, and later calls stay quiet. Nothing else changes.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

let quieted = false

/** Mark ssb-ref's deprecated helpers (as ssb-invite loads it) as already warned about; once per process. */
export function quietSsbRefDeprecations(): void {
  if (quieted) return
  quieted = true
  const inviteRequire = createRequire(require.resolve('ssb-invite'))
  const ref = inviteRequire('ssb-ref') as { parseAddress(a: string): unknown; parseInvite(i: string): unknown }
  const trace = console.trace
  console.trace = () => undefined
  try {
    ref.parseAddress('127.0.0.1:8008:@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519')
    ref.parseInvite('127.0.0.1:8008:@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')
  } finally {
    console.trace = trace
  }
}
