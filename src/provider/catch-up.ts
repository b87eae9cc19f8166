/**
 * After a restore, fetch the provider's own feed from peers before it publishes anything. A backup is older than the
 * feed it came from: peers (the provider's users, who replicate it) may hold messages it posted after the backup.
 * Publishing from the backup's end would give two different messages the same sequence: a forked feed, which
 * every peer that holds the newer one rejects, for good. So the restored provider asks each peer how far it has
 * the provider's feed (EBT's vector clock, which any peer may be asked), replicates its own feed over EBT from them,
 * and is caught up only once it holds as much as every peer it asked.
 */
import { call } from '../ssb/client.js'
import { loadKeys } from '../ssb/keys.js'
import { closeSbot, type Sbot } from '../ssb/server.js'
import type { FeedId } from '../protocol/ids.js'
import { join } from 'node:path'
import { clearRestorePending, openOwnSbot } from './identity-store.js'
import { recoverMembers } from '../ssb/private-members.js'
import type { ProviderSettings } from './settings.js'

/** What one peer said about the provider's feed. */
export interface PeerReport {
  address: string
  /** The latest sequence of the provider's feed the peer holds (0: none); absent when it could not be asked. */
  latest?: number
  error?: string
}

export interface CatchUpResult {
  caughtUp: boolean
  /** The latest sequence of the provider's feed in its own log now. */
  latest: number
  peers: PeerReport[]
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface PeerRpc {
  ebt: { clock(opts: { format: string }, cb: (err: Error | null, clock?: Record<FeedId, number>) => void): void }
}

async function latestOwn(sbot: Sbot): Promise<number> {
  const state = await call<{ sequence: number }>(sbot.getFeedState as never, sbot.id)
  return state.sequence
}

/** Connect to a peer and ask how far it holds `id`'s feed, retrying until `deadline`. */
async function askPeer(sbot: Sbot, address: string, deadline: number): Promise<PeerReport> {
  let last = 'no answer'
  while (Date.now() < deadline) {
    try {
      const rpc = await call<PeerRpc | false>(sbot.conn.connect, address)
      if (!rpc) throw new Error('the connection was refused')
      const clock = await call<Record<FeedId, number>>(rpc.ebt.clock.bind(rpc.ebt), { format: 'classic' })
      return { address, latest: Math.max(0, clock[sbot.id] ?? 0) }
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
      await sleep(250)
    }
  }
  return { address, error: last }
}

/**
 * Replicate the provider's own feed from `peers` until it holds as much as each of them, or `timeoutMs` passes.
 * Caught up only when every peer answered and none holds more; then the restore marker is removed.
 */
export async function catchUp(settings: ProviderSettings, peers: readonly string[], opts: { timeoutMs: number; log?: (line: string) => void }): Promise<CatchUpResult> {
  if (peers.length === 0) throw new Error('catching up needs at least one peer address (net:host:port~shs:key)')
  const log = opts.log ?? (() => undefined)
  const keys = loadKeys(join(settings.path, 'secret'))
  const sbot = openOwnSbot(settings, keys, { network: true })
  const deadline = Date.now() + opts.timeoutMs
  try {
    sbot.ebt.request(sbot.id, true)
    let reports = await Promise.all(peers.map((p) => askPeer(sbot, p, deadline)))
    for (;;) {
      const target = Math.max(0, ...reports.map((r) => r.latest ?? 0))
      const latest = await latestOwn(sbot)
      const answered = reports.every((r) => r.latest !== undefined)
      if (latest >= target && answered) {
        // Ask once more: a peer may have received newer messages from another peer while this one caught up.
        const again = await Promise.all(peers.map((p) => askPeer(sbot, p, Math.max(deadline, Date.now() + 5_000))))
        if (again.every((r) => r.latest !== undefined && r.latest <= latest)) {
          await new Promise<void>((resolve) => sbot.db.onDrain(() => resolve()))
          // Customers who joined after the backup: the provider replicates only its members, so their requests
          // would never arrive. Those it ever wrote to are found among its private messages' recipients.
          const recovered = await recoverMembers(sbot, settings.path)
          if (recovered.length > 0) log(`${recovered.length} member(s) who joined after the backup recovered from the provider's own private messages`)
          clearRestorePending(settings.path)
          log(`caught up: the provider's feed is at ${latest}; ${peers.length} peers hold no more`)
          return { caughtUp: true, latest, peers: again }
        }
        reports = again
        continue
      }
      if (Date.now() >= deadline) {
        const missing = reports.filter((r) => r.latest === undefined).map((r) => `${r.address} (${r.error})`)
        log(`not caught up: the feed is at ${latest}, peers hold up to ${target}${missing.length ? `; unreachable: ${missing.join(', ')}` : ''}`)
        return { caughtUp: false, latest, peers: reports }
      }
      await sleep(100)
    }
  } finally {
    await closeSbot(sbot)
  }
}
