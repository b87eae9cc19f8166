/**
 * The replication legs the round-trip and provisioning benchmarks share: a provider that answers pings with
 * boxed pongs (the floor: replication and a publish, no plugin logic), and a watch on the user's log that says
 * when the provider's pongs and statuses arrive.
 */
import { statusOfPost } from '../src/protocol/post.js'
import { publish, queryTypes } from '../src/ssb/db2.js'
import type { SsbMsg } from '../src/ssb/message.js'
import { drain, pull } from '../src/ssb/pull.js'
import type { Sbot } from '../src/ssb/server.js'
import type { FeedId } from '../src/protocol/ids.js'

/** The provider answers each `bench/ping` from `user` with a `bench/pong` boxed to both. */
export function echoPings(provider: Sbot, user: FeedId): { stop(): void } {
  const responder = drain<SsbMsg<{ type: string; n: number }>>(
    (msg) => {
      if (msg.value.author !== user) return
      void publish(provider.db, { type: 'bench/pong', n: msg.value.content.n, recps: [user, provider.id] })
    },
    () => undefined,
  )
  pull(queryTypes(provider.db, ['bench/ping'], { live: 'live' }), responder)
  return { stop: () => responder.abort() }
}

/**
 * Watch the user's log for the provider's messages. `arrival(id)` resolves when `pong:<n>` arrives, or a status
 * about a request: `status:<request>` for any state, `<state>:<request>` for one state. A status comes as a typed
 * `buttcloud/status` from older providers, and inside the private `post` that announces it from this one
 * (src/protocol/post.ts): both are read, or a wait for a status would never end.
 */
export function watchArrivals(user: Sbot, provider: FeedId): { arrival(id: string): Promise<void>; stop(): void } {
  const waiters = new Map<string, () => void>()
  const watcher = drain<SsbMsg<{ type: string; n?: number; request?: string; state?: string }>>(
    (msg) => {
      const c = msg.value.content
      if (msg.value.author !== provider || typeof c !== 'object') return
      if (c.type === 'bench/pong') return waiters.get(`pong:${c.n}`)?.()
      const posted = c.type === 'post' ? statusOfPost(c) : undefined
      if (posted && !posted.ok) return
      const status = posted?.ok ? posted.status : c
      waiters.get(`status:${status.request}`)?.()
      waiters.get(`${status.state}:${status.request}`)?.()
    },
    () => undefined,
  )
  pull(queryTypes(user.db, ['bench/pong', 'buttcloud/status', 'post'], { live: 'live' }), watcher)
  return {
    arrival: (id) => new Promise<void>((resolve) => waiters.set(id, resolve)),
    stop: () => watcher.abort(),
  }
}
