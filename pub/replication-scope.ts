/**
 * What the pub replicates: itself, its owner, the feeds its owner follows out to `hops` counted from the owner, and
 * its guests (the feeds the pub itself follows: ssb-invite follows whoever uses one of its invites), nothing else.
 *
 * ssb-replication-scheduler counts hops from the server itself, so a pub that follows its owner and its guests
 * would, at hops 2, also replicate every guest's follows. The pub turns the scheduler off (`autostart: false`) and
 * asks ssb-ebt for exactly this set instead, again whenever the follow graph changes. Blocks are passed to ssb-ebt
 * as the scheduler does, so the pub never sends a feed to a peer that blocks it.
 */
import type { FeedId } from '../src/protocol/ids.js'
import type { Sbot, SbotPlugin } from '../src/ssb/server.js'
import { drain as drainer, pull, type Source } from '../src/ssb/pull.js'

type Graph = Record<string, Record<string, number>>
type HopsFn = (opts: { start: FeedId; max: number }, cb: (err: Error | null, hops?: Record<string, number>) => void) => void

interface ScopeSbot extends Sbot {
  friends: Sbot['friends'] & { hops: HopsFn; graphStream(opts: { old: boolean; live: boolean }): unknown }
  ebt: Sbot['ebt'] & { block(source: FeedId, dest: FeedId, blocking: boolean): void }
}

// Follow changes come in bursts (a guest's first replication brings many contacts): one pass after they settle.
const SETTLE_MS = 200

/** The feeds in scope: the pub, its owner, the owner's follows within `hops`, the pub's own follows (guests). */
export function feedsInScope(pub: FeedId, owner: FeedId, hops: number, fromOwner: Record<string, number>, fromPub: Record<string, number>): Set<FeedId> {
  const scope = new Set<FeedId>([pub, owner])
  for (const [feed, distance] of Object.entries(fromOwner)) if (distance >= 0 && distance <= hops) scope.add(feed as FeedId)
  for (const [feed, distance] of Object.entries(fromPub)) if (distance === 1) scope.add(feed as FeedId)
  return scope
}

/** The plugin; the pub's config must set `replicationScheduler.autostart` to false. */
export function replicationScopePlugin(opts: { owner: FeedId; hops: number }): SbotPlugin {
  return {
    name: 'buttcloudReplicationScope',
    version: '1.0.0',
    manifest: { scope: 'sync' },
    needs: ['friends', 'ebt'],
    init(sbot: ScopeSbot) {
      const requested = new Set<FeedId>()
      let timer: NodeJS.Timeout | undefined
      let running = false
      let again = false
      let closed = false

      const pass = () => {
        timer = undefined
        if (closed) return
        if (running) {
          again = true
          return
        }
        running = true
        // max 0 would mean "the configured max" to ssb-friends: ask for at least 1 and filter.
        sbot.friends.hops({ start: opts.owner, max: Math.max(1, opts.hops) }, (err1, fromOwner) => {
          sbot.friends.hops({ start: sbot.id, max: 1 }, (err2, fromPub) => {
            running = false
            if (closed) return
            if (!err1 && !err2) {
              const scope = feedsInScope(sbot.id, opts.owner, opts.hops, fromOwner ?? {}, fromPub ?? {})
              for (const feed of scope) if (!requested.has(feed)) sbot.ebt.request(feed, true)
              for (const feed of requested) if (!scope.has(feed)) sbot.ebt.request(feed, false)
              requested.clear()
              for (const feed of scope) requested.add(feed)
            }
            if (again || err1 || err2) {
              again = false
              soon()
            }
          })
        })
      }
      const soon = () => {
        if (timer || closed) return
        timer = setTimeout(pass, SETTLE_MS)
        timer.unref()
      }

      // The pub's own feed and its owner at once, before the graph has loaded.
      for (const feed of [sbot.id, opts.owner]) {
        sbot.ebt.request(feed, true)
        requested.add(feed)
      }
      const drain = drainer<Graph>((graph) => {
        for (const source of Object.keys(graph)) {
          for (const dest of Object.keys(graph[source]!)) {
            if (source !== sbot.id && dest !== sbot.id) sbot.ebt.block(source as FeedId, dest as FeedId, graph[source]![dest] === -1)
          }
        }
        soon()
      }, () => undefined)
      pull(sbot.friends.graphStream({ old: true, live: true }) as Source<Graph>, drain)

      sbot.close.hook?.(function (this: unknown, fn, args) {
        closed = true
        if (timer) clearTimeout(timer)
        drain.abort()
        return fn.apply(this, args)
      })
      return { scope: () => [...requested].sort() }
    },
  }
}
