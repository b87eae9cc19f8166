/**
 * Customers joined by invite, kept private. ssb-invite 3's `use` ends by publishing a public `contact` that follows
 * the invitee: the provider's contact list was then the list of its customers, and every customer at default hops
 * replicated every other one through it (hops 2). This plugin lets `use` do all its checks and count the use, then
 * takes that one contact message out: the invitee is written to `private/members.jsonl` (src/ssb/journal.ts, durable
 * before `use` answers) and replicated directly with `ebt.request(feed, true)`, re-applied at every start from the
 * journal. ssb-replication-scheduler only ever unrequests feeds that appear in the follow graph (an unfollow, say):
 * a member's feed is never unrequested (docs/ssb-stack.md). An ssb-invite 2 client (ssb-server 16) sees `use`
 * succeed as before, then follows the provider and remembers its address itself.
 *
 * Migration: the public follows an older provider made for invitees (`contact` with `pub: true`) are recorded as
 * members, then undone with an unfollow, once per start until none is left; a crash in between repeats the step.
 */
import { join } from 'node:path'
import { FEED_ID_RE, type FeedId } from '../protocol/ids.js'
import { dbOps, type Db2 } from './db2.js'
import { Journal } from './journal.js'
import type { Callback, SsbMsg } from './message.js'
import type { SbotPlugin } from './server.js'

/** Where the member journal lives, under the data folder. */
export const MEMBERS_FILE = join('private', 'members.jsonl')

/**
 * One line of the journal: a customer joined (by invite, or moved over from an old public follow), or was found
 * again after a restore among the recipients of the provider's own private messages (`recovered`).
 */
interface MemberEntry {
  feed: FeedId
  at: number
  via: 'invite' | 'follow' | 'recovered'
}

const VIAS: ReadonlySet<unknown> = new Set(['invite', 'follow', 'recovered'])

/** secret-stack wraps plugin methods with hoox: a hook runs with the caller's `this` (muxrpc: the peer). */
type Hookable<F> = F & { hook(wrap: (this: unknown, fn: F, args: unknown[]) => unknown): void }
type AnyFn = (...args: unknown[]) => unknown

/** What the plugin exposes in-process (not over muxrpc). */
export interface PrivateMembersApi {
  /** Every member, in the order they joined. */
  list(): FeedId[]
  /** Resolves once old public follows (if any) are recorded and undone. */
  migrated(): Promise<void>
}

interface Deps {
  id: FeedId
  db: Db2 & { publish: Hookable<AnyFn> }
  invite: { use: Hookable<AnyFn> }
  ebt: { request: Hookable<(feed: FeedId, replicate: boolean) => void> }
  friends: {
    follow(id: FeedId, opts: { state: boolean }, cb: Callback<unknown>): void
    /** ssb-friends' follow graph (source -> dest -> hops value; >= 0 is a follow), once its index has caught up. */
    graph(cb: Callback<Record<FeedId, Record<FeedId, number>>>): void
  }
}

function parseEntry(value: unknown): MemberEntry {
  const v = value as Partial<MemberEntry> | null
  if (!v || typeof v.feed !== 'string' || !FEED_ID_RE.test(v.feed) || typeof v.at !== 'number' || !VIAS.has(v.via)) {
    throw new Error('expected { feed, at, via }')
  }
  return { feed: v.feed, at: v.at, via: v.via as MemberEntry['via'] }
}

/** Is this the contact message ssb-invite 3's `use` publishes for an invitee? */
function isInviteFollow(content: unknown): content is { contact: FeedId } {
  const c = content as { type?: unknown; contact?: unknown; following?: unknown; pub?: unknown } | null
  return !!c && c.type === 'contact' && c.following === true && c.pub === true && typeof c.contact === 'string'
}

/** The plugin; load it after ssb-invite, ssb-ebt and ssb-friends. */
export function privateMembersPlugin(opts: { now?: () => number; log?: (line: string) => void } = {}): SbotPlugin {
  const now = opts.now ?? Date.now
  return {
    name: 'privateMembers',
    version: '1.0.0',
    needs: ['invite', 'ebt', 'friends'],
    init(sbot: Deps & { close: { hook(fn: (fn: AnyFn, args: unknown[]) => unknown): void } }, config: { path: string }): PrivateMembersApi {
      const journal = Journal.open(join(config.path, MEMBERS_FILE), parseEntry)
      const members = new Set(journal.entries().map((e) => e.feed))
      /** Invitees whose `use` is under way: the contact ssb-invite is about to publish for them is ours to take. */
      const joining = new Set<FeedId>()
      const admit = (feed: FeedId, via: MemberEntry['via']) => {
        if (!members.has(feed)) {
          journal.append({ feed, at: now(), via })
          members.add(feed)
        }
        sbot.ebt.request(feed, true)
      }

      // The scheduler unrequests a feed when the follow graph drops it (an undone follow): a member stays requested.
      sbot.ebt.request.hook(function (request, args) {
        const [feed, replicate] = args as [FeedId, boolean]
        if (!replicate && members.has(feed)) return undefined
        return request.apply(this, args as [FeedId, boolean])
      })
      for (const feed of members) sbot.ebt.request(feed, true)

      sbot.invite.use.hook(function (use, args) {
        const req = args[0] as { feed?: unknown } | undefined
        const cb = args[args.length - 1] as Callback<unknown>
        const feed = typeof req?.feed === 'string' && FEED_ID_RE.test(req.feed) ? (req.feed as FeedId) : undefined
        if (!feed) return use.apply(this, args)
        joining.add(feed)
        return use.apply(this, [req, (err: Error | null, value?: unknown) => {
          joining.delete(feed)
          cb(err, value)
        }])
      })

      sbot.db.publish.hook(function (publish, args) {
        const content = args[0]
        if (!isInviteFollow(content) || !joining.has(content.contact)) return publish.apply(this, args)
        const cb = args[args.length - 1] as Callback<unknown>
        try {
          admit(content.contact, 'invite')
        } catch (err) {
          return cb(new Error('could not record the new member', { cause: err }), undefined)
        }
        // What the invitee's client hears; it reads nothing from it (ssb-invite 2 and 3 both only check for an error).
        return cb(null, { joined: true })
      })

      const migration = undoPublicFollows(sbot, admit).catch((err: unknown) => {
        opts.log?.(`moving old public follows to the member journal failed (retried at the next start): ${err instanceof Error ? err.message : String(err)}`)
      })
      sbot.close.hook(function (this: unknown, fn, args) {
        journal.close()
        return fn.apply(this, args)
      })
      return { list: () => [...members], migrated: () => migration }
    },
  }
}

/**
 * After a restore: every feed the provider wrote to privately (its replies and statuses are boxed to their owners,
 * and its feed is caught up from its peers) is a customer, so one who joined after the backup is a member again
 * and its requests and commands are replicated. Run with the provider stopped (the journal has one writer);
 * returns the feeds added. A customer who joined after the backup and was never written to is not found: it
 * left no trace on the provider's side (docs/restore.md).
 */
export async function recoverMembers(sbot: { id: FeedId; db: Db2 }, dataPath: string, now = Date.now()): Promise<FeedId[]> {
  const own = await new Promise<SsbMsg[]>((resolve, reject) =>
    sbot.db.query(
      dbOps.where(dbOps.and(dbOps.author(sbot.id), dbOps.isPrivate())),
      dbOps.toCallback((err, msgs) => (err ? reject(err) : resolve(msgs ?? []))),
    ),
  )
  const journal = Journal.open(join(dataPath, MEMBERS_FILE), parseEntry)
  try {
    const members = new Set(journal.entries().map((e) => e.feed))
    const added: FeedId[] = []
    for (const m of own) {
      const recps = (m.value.content as { recps?: unknown } | null)?.recps
      if (!Array.isArray(recps)) continue
      for (const r of recps) {
        if (typeof r !== 'string' || !FEED_ID_RE.test(r) || r === sbot.id || members.has(r as FeedId)) continue
        journal.append({ feed: r as FeedId, at: now, via: 'recovered' })
        members.add(r as FeedId)
        added.push(r as FeedId)
      }
    }
    return added
  } finally {
    journal.close()
  }
}

/** Record every invitee an older provider followed publicly as a member, then unfollow them, one at a time. */
async function undoPublicFollows(sbot: Deps, admit: (feed: FeedId, via: 'follow') => void): Promise<void> {
  // A provider that follows no one has nothing to undo. Asking the follow graph (ssb-friends' leveldb index, read at
  // start) first spares the query below, which on a log without jitdb's author and type indexes (a first start, an
  // index rebuild) reads and decrypts the whole log once more: ~4 s at 100,000 boxed messages (bench/coldstart).
  const graph = await new Promise<Record<FeedId, Record<FeedId, number>>>((resolve, reject) => sbot.friends.graph((err, g) => (err ? reject(err) : resolve(g ?? {}))))
  if (!Object.entries(graph[sbot.id] ?? {}).some(([feed, hops]) => feed !== sbot.id && hops >= 0)) return
  const own = await new Promise<SsbMsg[]>((resolve, reject) =>
    sbot.db.query(
      dbOps.where(dbOps.and(dbOps.author(sbot.id), dbOps.type('contact'))),
      dbOps.toCallback((err, msgs) => (err ? reject(err) : resolve(msgs ?? []))),
    ),
  )
  // The last word per contact, in feed order: who the provider follows now because an invite was used.
  const following = new Map<FeedId, boolean>()
  for (const m of own.sort((a, b) => a.value.sequence - b.value.sequence)) {
    const c = m.value.content as { contact?: unknown; following?: unknown; pub?: unknown }
    if (typeof c.contact !== 'string' || !FEED_ID_RE.test(c.contact)) continue
    if (c.following === true && c.pub === true) following.set(c.contact as FeedId, true)
    else if (c.following === false) following.set(c.contact as FeedId, false)
  }
  for (const [feed, follows] of following) {
    if (!follows) continue
    // Recorded first: a crash before the unfollow repeats both steps, never loses the member.
    admit(feed, 'follow')
    await new Promise<void>((resolve, reject) => sbot.friends.follow(feed, { state: false }, (err) => (err ? reject(err) : resolve())))
  }
}
