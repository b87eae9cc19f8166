/**
 * What the provider's EBT tells each peer. ssb-ebt (epidemic-broadcast-trees) sends every peer notes naming every
 * feed it replicates, and answers `ebt.clock` (open to anonymous peers) with its whole vector clock: a customer
 * connected to the provider would learn every other customer's id from either. With this plugin a peer is told of
 * its own feed and the provider's, nothing else.
 *
 * epidemic-broadcast-trees decides what a peer is told in one place: `isShared(feed, peer)`, which reads
 * `state.blocks[feed][peer]` (ssb-ebt's per-pair blocks). The plugin puts a view in front of that table that also
 * answers "blocked" for every pair outside the scope: O(1) per question, with no per-pair entries (blocking each
 * customer from every other with `ebt.block` would store N^2 of them). Real blocks still go to the real table. A
 * feed outside a peer's scope is then neither noted to that peer nor taken from it, the same as a block.
 *
 * ssb-ebt keeps its EBT instance to itself, so `applyEbtScopePatch()` wraps epidemic-broadcast-trees' factory in the
 * module cache before ssb-ebt loads (as src/ssb/patches.ts does for ssb-db2) and remembers each instance by the id
 * of the server it was made for; the plugin takes its own server's. Servers without the plugin are untouched.
 */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import type { FeedId } from '../protocol/ids.js'
import type { SbotPlugin } from './server.js'

const require = createRequire(import.meta.url)

/** The versions whose internals the view was written against (docs/ssb-stack.md). */
export const EBT_SCOPE_VERSIONS = { 'ssb-ebt': '9.1.2', 'epidemic-broadcast-trees': '9.0.4' } as const

/** The part of an EBT instance the view touches. */
interface EbtInstance {
  state: { id: FeedId; blocks: Blocks }
}
type Blocks = Record<string, Record<string, boolean>>

/** EBT instances made since the patch, by their server's id, until a plugin takes them. */
const made = new Map<FeedId, Array<WeakRef<EbtInstance>>>()
let applied = false

/**
 * Wrap epidemic-broadcast-trees' factory (once per process) so the plugin can find its server's EBT instance.
 * Throws when ssb-ebt was loaded first (it captured the unwrapped factory) or when the versions are not the ones above.
 */
export function applyEbtScopePatch(): void {
  if (applied) return
  const ebtDir = dirname(require.resolve('ssb-ebt/package.json'))
  const ebtRequire = createRequire(`${ebtDir}/index.js`)
  const treesPath = ebtRequire.resolve('epidemic-broadcast-trees')
  const treesRequire = createRequire(treesPath)
  check('ssb-ebt', ebtRequire('./package.json') as { version: string })
  check('epidemic-broadcast-trees', treesRequire('./package.json') as { version: string })
  if (require.cache[`${ebtDir}/index.js`]) throw new Error('applyEbtScopePatch() must run before ssb-ebt loads, but it was loaded first')
  const factory = ebtRequire('epidemic-broadcast-trees') as (opts: { id: FeedId }) => EbtInstance
  const wrapped = (opts: { id: FeedId }) => {
    const ebt = factory(opts)
    made.set(opts.id, [...(made.get(opts.id) ?? []).filter((r) => r.deref()), new WeakRef(ebt)])
    return ebt
  }
  require.cache[treesPath]!.exports = wrapped
  applied = true
}

function check(name: keyof typeof EBT_SCOPE_VERSIONS, pkg: { version: string }): void {
  if (pkg.version !== EBT_SCOPE_VERSIONS[name]) {
    throw new Error(`the EBT scope view was written for ${name} ${EBT_SCOPE_VERSIONS[name]}, but ${pkg.version} is installed: check it against it and update EBT_SCOPE_VERSIONS`)
  }
}

/** Is `feed` one `peer` may be told of by the server `self`: its own feed, or the server's. */
export function inScope(self: FeedId, feed: string, peer: string): boolean {
  return feed === peer || feed === self
}

/**
 * `blocks` as epidemic-broadcast-trees reads it, with every pair outside the scope blocked; writes (real blocks and
 * unblocks, from ssb-ebt's `block`) go to the real table.
 */
export function scopedBlocks(real: Blocks, self: FeedId): Blocks {
  const views = new Map<string, Record<string, boolean>>()
  const viewOf = (feed: string): Record<string, boolean> =>
    new Proxy({} as Record<string, boolean>, {
      get: (_, peer) => (typeof peer !== 'string' ? undefined : real[feed]?.[peer] || !inScope(self, feed, peer)),
      set: (_, peer, value) => {
        ;(real[feed] ??= {})[peer as string] = value as boolean
        return true
      },
      deleteProperty: (_, peer) => {
        if (real[feed]) delete real[feed][peer as string]
        return true
      },
      has: (_, peer) => typeof peer === 'string' && peer in (real[feed] ?? {}),
      ownKeys: () => Reflect.ownKeys(real[feed] ?? {}),
      getOwnPropertyDescriptor: (_, peer) => (real[feed] && peer in real[feed] ? { value: real[feed][peer as string], writable: true, enumerable: true, configurable: true } : undefined),
    })
  return new Proxy(real, {
    get: (target, feed) => {
      if (typeof feed !== 'string') return Reflect.get(target, feed)
      let view = views.get(feed)
      if (!view) views.set(feed, (view = viewOf(feed)))
      return view
    },
    deleteProperty: (target, feed) => {
      delete target[feed as string]
      return true
    },
  })
}

type Hookable<F> = F & { hook(wrap: (this: unknown, fn: F, args: unknown[]) => unknown): void }
type ClockFn = (...args: unknown[]) => void

/** The plugin: load it after ssb-ebt, in a process where `applyEbtScopePatch()` ran before ssb-ebt loaded. */
export function ebtScopePlugin(): SbotPlugin {
  return {
    name: 'ebtScope',
    version: '1.0.0',
    needs: ['ebt'],
    init(sbot: { id: FeedId; ebt: { clock: Hookable<ClockFn> } }) {
      const instances = (made.get(sbot.id) ?? []).map((r) => r.deref()).filter((e): e is EbtInstance => e !== undefined)
      made.delete(sbot.id)
      if (instances.length === 0) throw new Error('ebtScope: no EBT instance was recorded for this server; call applyEbtScopePatch() before ssb-ebt loads')
      for (const ebt of instances) ebt.state.blocks = scopedBlocks(ebt.state.blocks, sbot.id)

      // ebt.clock is open to anonymous peers: a remote caller gets only what its notes would tell it.
      sbot.ebt.clock.hook(function (this: unknown, clock, args) {
        const caller = (this as { id?: unknown } | undefined)?.id
        const cbAt = args.findIndex((a) => typeof a === 'function')
        if (typeof caller !== 'string' || caller === sbot.id || cbAt < 0) return clock.apply(this, args)
        const cb = args[cbAt] as (err: Error | null, clock?: Record<string, number>) => void
        const rest = [...args]
        rest[cbAt] = (err: Error | null, full?: Record<string, number>) =>
          cb(err, full && Object.fromEntries(Object.entries(full).filter(([feed]) => inScope(sbot.id, feed, caller))))
        return clock.apply(this, rest)
      })
      return {}
    },
  }
}
