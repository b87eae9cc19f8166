/**
 * Patchwork 3.18's own sbot, headless, as an owner in end-to-end tests; and Patchwork's own "Join pub" code.
 *
 * Patchwork is an Electron app whose sbot (lib/server-process.js: secret-stack with ssb-db, ssb-conn, ssb-invite 2,
 * ssb-blobs 1, ssb-ebt and the rest of its plugin set) runs in a hidden window. Its npm package cannot be installed
 * as it is without GitHub (three of its dependencies are GitHub branches; docs/testing.md: Patchwork), so it is
 * installed apart, from test/support/patchwork/package.json and its lock, into .tmp/patchwork. server.cjs runs that
 * server-process.js unchanged under plain node; "Join pub" is Patchwork's lib/depject/invite/invite.js, wired to the
 * sbot as its lib/depject/sbot.js wires it.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { REPO_ROOT } from '../../testkit/pub-process.js'
import { call, clientCall, type SbotClient } from '../../src/ssb/client.js'
import type { FeedId } from '../../src/protocol/ids.js'
import { startClassicSbot, type ClassicSbot } from './classic-sbot.js'
import { freePort } from '../../testkit/ports.js'

/** Where the installed ssb-patchwork package is (BUTTCLOUD_PATCHWORK overrides the folder it was installed into). */
export const PATCHWORK_PACKAGE = join(process.env.BUTTCLOUD_PATCHWORK ?? join(REPO_ROOT, '.tmp/patchwork'), 'node_modules/ssb-patchwork')
const SERVER = fileURLToPath(new URL('./patchwork/server.cjs', import.meta.url))
/** The install, as docs/testing.md gives it. */
export const PATCHWORK_INSTALL =
  'mkdir -p .tmp/patchwork && cp test/support/patchwork/package*.json .tmp/patchwork/ && npm ci --prefix .tmp/patchwork --ignore-scripts --no-audit --no-fund'

/** Whether Patchwork is installed; with CI=true a missing install is an error, elsewhere the reason to skip. */
export function patchworkSupport(): { ok: true } | { ok: false; reason: string } {
  if (existsSync(join(PATCHWORK_PACKAGE, 'lib/server-process.js'))) return { ok: true }
  const reason = `Patchwork 3.18 is not installed (${PATCHWORK_INSTALL})`
  if (process.env.CI === 'true') throw new Error(`The Patchwork test cannot run in CI: ${reason}`)
  return { ok: false, reason }
}

/** Start Patchwork's own sbot, headless, on 127.0.0.1 in a temp folder; resolves once it answers whoami. */
export function startPatchworkSbot(): Promise<ClassicSbot> {
  return startClassicSbot({ server: async (dir, port) => [SERVER, PATCHWORK_PACKAGE, dir, String(port), String(await freePort())] })
}

type Callback<T = unknown> = (err: Error | null, value?: T) => void
type InviteModule = { create(api: unknown): { invite: { async: { accept(invite: string, cb: Callback): void } } } }
type ContactModule = { create(api: unknown): { contact: { async: { followerOf(source: FeedId, dest: FeedId, cb: Callback<boolean>): void } } } }

/**
 * Patchwork's "Join pub" for the user of `sbot`: its own invite module (remember and connect the pub, `invite.use`
 * from a client with the user's key, then publish `pub` and `contact` unless the pub already followed the user).
 */
export async function patchworkJoinPub(sbot: ClassicSbot, invite: string): Promise<void> {
  const pwRequire = createRequire(join(PATCHWORK_PACKAGE, 'index.js'))
  const client: SbotClient = sbot.client
  // Patchwork's async functions take an optional callback last (invite.js publishes its `pub` message without one).
  const async = <A extends unknown[]>(fn: (...args: A) => Promise<unknown>) => (...args: [...A, Callback?]) => {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as Callback) : (err: Error | null) => void (err && console.error(err))
    fn(...(args as unknown as A)).then((v) => cb(null, v), (err: Error) => cb(err))
  }
  // As lib/depject/sbot.js gives these to the renderer's modules.
  const sbotApi = {
    async: {
      publish: async((content: unknown) => clientCall(client, 'publish', content)),
      connRememberConnect: async(async (address: string, data: Record<string, unknown>) => {
        await clientCall(client, 'conn.remember', address, { autoconnect: true, ...data })
        return clientCall(client, 'conn.connect', address, data)
      }),
      friendsGet: async((opts: unknown) => clientCall(client, 'friends.get', opts)),
      acceptDHT: async(() => Promise.reject(new Error('no DHT invites here'))),
    },
  }
  const contact = (pwRequire('./lib/depject/contact/async.js') as ContactModule).create({ sbot: sbotApi, contact: { obs: {} } })
  const inviteModule = (pwRequire('./lib/depject/invite/invite.js') as InviteModule).create({
    sbot: sbotApi,
    contact,
    keys: { sync: { id: () => sbot.id } },
    config: { sync: { load: () => ({}) } },
  })
  // Patchwork's window calls ssb-client with no keys: it loads the user's secret from the ssb folder (ssb_path).
  const before = process.env.ssb_path
  process.env.ssb_path = sbot.dir
  try {
    await call<unknown>((invite: string, cb: Callback) => inviteModule.invite.async.accept(invite, cb), invite)
  } finally {
    if (before === undefined) delete process.env.ssb_path
    else process.env.ssb_path = before
  }
}
