/**
 * Invites that expire, for the provider. ssb-invite 3 keeps each invite in its own leveldb (`<path>/invites`, keyed
 * by the id of the key the invite's seed makes: `{ total, used, permissions }`) and ends one only by its use count,
 * so an invite printed once works until it is used up, however old. This plugin wraps the two methods: `create`
 * gives every invite an expiry (`ttlMs`, or the default) kept in `<path>/invite-expiry.json`, and `use` refuses an
 * invite that has expired, or that has no expiry here (made before this plugin, or behind its back), before
 * ssb-invite counts a use or anyone is admitted (src/ssb/private-members.ts). The file is written whole and renamed,
 * before the code is returned.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FeedId } from '../protocol/ids.js'
import { generateKeys } from './keys.js'
import type { SbotPlugin } from './server.js'

export const INVITE_EXPIRY_FILE = 'invite-expiry.json'

export interface InviteExpiryOptions {
  /** How long an invite made without `ttlMs` is good for. */
  defaultTtlMs: number
  now?: () => number
}

type Callback<T> = (err: Error | null, value?: T) => void
/** secret-stack wraps every plugin method with hoox: a hook runs with the caller's `this` (muxrpc: the peer). */
type Hookable<F> = F & { hook(wrap: (this: { id?: FeedId }, fn: F, args: unknown[]) => unknown): void }

/** The id of the key an invite code's seed makes: what ssb-invite stores the invite under. */
export function inviteKeyId(code: string): FeedId | undefined {
  // Legacy codes (`host:port:@key.ed25519~seed`) are the only kind the provider makes; the seed follows the last `~`.
  const seed = Buffer.from(code.slice(code.lastIndexOf('~') + 1), 'base64')
  return code.includes('~') && seed.length === 32 ? generateKeys(seed).id : undefined
}

function load(file: string): Map<FeedId, number> {
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    return new Map(Object.entries(raw).filter((e): e is [FeedId, number] => typeof e[1] === 'number'))
  } catch {
    // No file yet (or a torn one from before renames): every older invite counts as expired, the safe side.
    return new Map()
  }
}

/** The plugin; load it after ssb-invite. */
export function inviteExpiryPlugin(opts: InviteExpiryOptions): SbotPlugin {
  const now = opts.now ?? Date.now
  return {
    name: 'inviteExpiry',
    version: '1.0.0',
    needs: ['invite'],
    init(sbot: { invite: { create: Hookable<(...a: unknown[]) => void>; use: Hookable<(...a: unknown[]) => void> } }, config: { path: string }) {
      const file = join(config.path, INVITE_EXPIRY_FILE)
      const expiries = load(file)
      const save = () => {
        // Expired entries go: an invite with no entry is refused just the same.
        for (const [id, at] of expiries) if (at <= now()) expiries.delete(id)
        const tmp = `${file}.tmp`
        writeFileSync(tmp, `${JSON.stringify(Object.fromEntries(expiries))}\n`, { mode: 0o600 })
        renameSync(tmp, file)
      }

      sbot.invite.create.hook(function (create, args) {
        const cb = args[args.length - 1] as Callback<string>
        const given = args.length > 1 ? args[0] : {}
        const asked: { ttlMs?: unknown; [k: string]: unknown } = typeof given === 'number' ? { uses: given } : { ...(given as object) }
        const ttlMs = typeof asked.ttlMs === 'number' && asked.ttlMs > 0 ? asked.ttlMs : opts.defaultTtlMs
        delete asked.ttlMs
        create.call(this, asked, (err: Error | null, code?: string) => {
          if (err || code === undefined) return cb(err ?? new Error('ssb-invite made no code'))
          const id = inviteKeyId(code)
          if (!id) return cb(new Error('the invite code has no seed to give an expiry to'))
          try {
            expiries.set(id, now() + ttlMs)
            save()
          } catch (e) {
            return cb(new Error('could not record the invite expiry', { cause: e }))
          }
          cb(null, code)
        })
      })

      sbot.invite.use.hook(function (use, args) {
        const cb = args[args.length - 1] as Callback<unknown>
        const expires = this.id === undefined ? undefined : expiries.get(this.id)
        if (expires === undefined || now() >= expires) return cb(new Error('invite has expired'))
        return use.apply(this, args)
      })
      return {}
    },
  }
}
