/** pull-stream, typed: the stream helpers muxrpc methods and db2 queries are consumed and served with. */
import { createRequire } from 'node:module'
import type { Duplex, Sink, Source } from 'pull-stream'

const require = createRequire(import.meta.url)
const pullStream: typeof import('pull-stream') = require('pull-stream')
const Pushable: (separated: true, onClose?: (err: unknown) => void) => SeparatedPushable = require('pull-pushable')

interface SeparatedPushable {
  push(item: unknown): void
  end(err?: unknown): void
  source: Source<unknown>
}

export type { Source, Duplex, Sink }

/** pull-stream itself (`pull(source, through, sink)` and its helpers). */
export const pull = pullStream

/** Drain a pull-stream source into an array. */
export function collect<T>(source: Source<T>): Promise<T[]> {
  return new Promise((resolve, reject) =>
    pullStream(source, pullStream.collect((err, items: T[]) => (err ? reject(err === true ? new Error('aborted') : err) : resolve(items)))),
  )
}

/** A pull-stream source fed by `push`, for live muxrpc streams; `end` finishes it, `onAbort` tells when the reader left. */
export function pushable<T>(onAbort?: () => void): { push(item: T): void; end(): void; source: Source<T> } {
  let ended = false
  // pull-pushable calls onClose on end and on abort alike; only a reader that left is an abort.
  const stream = Pushable(true, () => {
    if (!ended) onAbort?.()
    ended = true
  })
  return {
    push(item) {
      if (!ended) stream.push(item)
    },
    end() {
      if (ended) return
      ended = true
      stream.end()
    },
    source: stream.source as Source<T>,
  }
}

/** pull.drain, typed with the `abort` method it has at run time. */
export function drain<T>(op: (item: T) => boolean | void, done: (err: Error | null) => void): Sink<T> & { abort(): void } {
  return pullStream.drain(op, (err) => done(err === true ? null : (err as Error | null))) as Sink<T> & { abort(): void }
}
