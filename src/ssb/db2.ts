/** ssb-db2's surface as ButtCloud uses it: the database's methods, its query operators, publishing. */
import { createRequire } from 'node:module'
import type { Source } from 'pull-stream'
import type { FeedId, MsgId } from '../protocol/ids.js'
import type { SsbKeys } from './keys.js'
import type { Callback, SsbMsg } from './message.js'

const require = createRequire(import.meta.url)

/** An opaque ssb-db2 query operator. */
export type DbOperator = { readonly __dbOperator: unique symbol }

/** The `db` an ssb-db2 server exposes. */
export interface Db2 {
  create(opts: { content: object; encryptionFormat?: 'box' | 'box2'; keys?: SsbKeys }, cb: Callback<SsbMsg>): void
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query(...ops: unknown[]): any
  get(id: MsgId, cb: Callback<SsbMsg['value']>): void
  getMsg(id: MsgId, cb: Callback<SsbMsg>): void
  onDrain(indexName: string, cb: () => void): void
  onDrain(cb: () => void): void
  getStatus(): { value: { log: number; jit: Record<string, number>; indexes: Record<string, number> } }
  add(nativeMsg: object, cb: Callback<SsbMsg>): void
}

/** ssb-db2's query operators. */
export interface DbOps {
  where(...args: unknown[]): DbOperator
  and(...args: unknown[]): DbOperator
  or(...args: unknown[]): DbOperator
  type(t: string): DbOperator
  author(id: FeedId): DbOperator
  isPrivate(): DbOperator
  isPublic(): DbOperator
  live(opts?: { old: boolean }): DbOperator
  descending(): DbOperator
  paginate(n: number): DbOperator
  toPullStream(): DbOperator
  toCallback(cb: Callback<SsbMsg[]>): DbOperator
  toPromise(): DbOperator
}

/** ssb-db2's query operators, typed loosely but in one place (they load none of the modules `applyDb2Patches` patches). */
export const dbOps = require('ssb-db2/operators/index.js') as DbOps

/** A pull-stream of every message whose content type is one of `types`, private ones decrypted. */
export function queryTypes(db: Db2, types: readonly string[], opts: { live: 'old' | 'live' | 'both' }): Source<SsbMsg> {
  const typeOps = types.map((t) => dbOps.type(t))
  const where = dbOps.where(typeOps.length === 1 ? typeOps[0] : dbOps.or(...typeOps))
  if (opts.live === 'old') return db.query(where, dbOps.toPullStream())
  return db.query(where, dbOps.live({ old: opts.live === 'both' }), dbOps.toPullStream())
}

/** Publish content, boxed to `recps` (box1) when given. */
export function publish<C extends object>(db: Db2, content: C & { recps?: FeedId[] }): Promise<SsbMsg<C>> {
  return new Promise((resolve, reject) => {
    const opts = content.recps ? { content, encryptionFormat: 'box' as const } : { content }
    db.create(opts, (err, msg) => (err ? reject(new Error('publish failed', { cause: err })) : resolve(msg as SsbMsg<C>)))
  })
}
