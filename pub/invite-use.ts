/**
 * "Already following" is never an error a joining client sees. ssb-invite 3's `invite.use` answers that error when
 * the pub already follows the invitee (always so for the owner, whom the pub follows on first start), before it
 * checks or spends the invite. ssb-invite 2.x's `invite.accept` (inside ssb-server 16) turns any error into "invite
 * not accepted", and ssb-invite 3's `accept` takes it as a success but then skips following the pub.
 *
 * This plugin makes ssb-invite run its whole path for such an invitee: it checks the code, refuses one used up
 * ("invite has expired"), spends a use, and answers success, so both clients go on to follow the pub and remember
 * its address. ssb-invite keeps its invites in a leveldb only it can open, so the plugin does not reimplement the
 * checks: while one such `use` runs it tells ssb-invite's `isFollowing` question "not yet" for that feed, and drops
 * the duplicate follow ssb-invite then publishes (the standing one stays; the answer is null instead of a message).
 */
import type { FeedId } from '../src/protocol/ids.js'
import { isFeedId } from '../src/protocol/text-checks.js'
import type { Sbot, SbotPlugin } from '../src/ssb/server.js'

type Callback = (err: Error | null, value?: unknown) => void
type Fn = (...args: unknown[]) => unknown
type Hookable = Fn & { hook(wrapper: (this: unknown, original: Fn, args: unknown[]) => unknown): void }

/** Load after ssb-invite (and ssb-db2's compat/db, whose `publish` ssb-invite calls). */
export function inviteUsePlugin(): SbotPlugin {
  return {
    name: 'buttcloud-pub-invite-use',
    version: '1.0.0',
    needs: ['invite', 'friends'],
    init(sbot: Sbot) {
      // Feeds with such a `use` under way, counted: two invites for one feed may be used at once.
      const rejoining = new Map<FeedId, number>()
      const begin = (feed: FeedId) => rejoining.set(feed, (rejoining.get(feed) ?? 0) + 1)
      const end = (feed: FeedId) => {
        const left = (rejoining.get(feed) ?? 1) - 1
        if (left > 0) rejoining.set(feed, left)
        else rejoining.delete(feed)
      }

      ;(sbot.friends.isFollowing as unknown as Hookable).hook(function (original, args) {
        const [opts, cb] = args as [{ source?: unknown; dest?: unknown } | undefined, Callback]
        if (opts?.source === sbot.id && typeof opts.dest === 'string' && rejoining.has(opts.dest as FeedId)) return cb(null, false)
        return original.apply(this, args)
      })

      ;(sbot.publish as Hookable).hook(function (original, args) {
        const [content, cb] = args as [Record<string, unknown> | undefined, Callback]
        const isInviteFollow = content?.type === 'contact' && content.following === true && content.pub === true
        if (isInviteFollow && typeof content.contact === 'string' && rejoining.has(content.contact as FeedId)) return cb(null, null)
        return original.apply(this, args)
      })

      ;(sbot.invite.use as unknown as Hookable).hook(function (original, args) {
        const [req, cb] = args as [{ feed?: unknown } | undefined, Callback]
        const feed = req?.feed
        // Anything odd goes to ssb-invite unchanged: it has its own answers for a missing feed or a bad code.
        if (typeof cb !== 'function' || !isFeedId(feed)) return original.apply(this, args)
        const rejoin = () => {
          begin(feed)
          original.call(this, req, (err: Error | null, value?: unknown) => {
            end(feed)
            cb(err, value)
          })
        }
        if (rejoining.has(feed)) return rejoin()
        sbot.friends.isFollowing({ source: sbot.id, dest: feed }, (err, following) => {
          if (!err && following === true) rejoin()
          else original.apply(this, args)
        })
        return undefined
      })
      return {}
    },
  }
}
