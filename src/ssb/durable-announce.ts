/**
 * New messages reach replication only once the log has written them.
 *
 * ssb-db2 tells its listeners (ssb-ebt among them) about a message as soon as it is appended in memory, up to a
 * flush (tens of ms) before it is written. A provider killed in that window loses the message, but a peer may hold it
 * already: the restarted provider then posts a different message with the same sequence, and its feed is forked
 * for good (peers refuse everything after). This plugin, loaded right after ssb-db2, puts itself between ssb-db2's
 * `onMsgAdded` and every later listener and hands each message on, in order, once the log has drained past it. A
 * message is then on disk before any peer can ask for it; the cost is the flush delay on replication.
 */
import { createRequire } from 'node:module'
import type { SbotPlugin } from './server.js'

const require = createRequire(import.meta.url)
const Obv: () => Observable = require('obz')

/** obz: call with a listener to subscribe; `set` to emit. */
interface Observable {
  (listener: (value: unknown) => void): () => void
  set(value: unknown): void
}

interface Db2ForAnnounce {
  onMsgAdded: Observable
  getLog(): { onDrain(cb: () => void): void }
}

export const durableAnnounce: SbotPlugin = {
  name: 'durableAnnounce',
  version: '1.0.0',
  manifest: {},
  init(sbot: { db: Db2ForAnnounce }) {
    const written = Obv()
    const queue: unknown[] = []
    let draining = false
    const release = () => {
      // Only what was queued when the drain was asked for is known to be written; later ones wait for the next one.
      const count = queue.length
      draining = true
      sbot.db.getLog().onDrain(() => {
        for (const event of queue.splice(0, count)) written.set(event)
        draining = false
        if (queue.length > 0) release()
      })
    }
    sbot.db.onMsgAdded((event) => {
      queue.push(event)
      if (!draining) release()
    })
    sbot.db.onMsgAdded = written
    return {}
  },
}
