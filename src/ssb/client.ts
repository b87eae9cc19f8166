/** muxrpc clients of other sbots (the user's Patchwork, a hosted pub): connecting and calling methods by name. */
import { createRequire } from 'node:module'
import type { Source } from 'pull-stream'
import type { FeedId } from '../protocol/ids.js'
import { MAIN_NETWORK_CAPS, type SsbKeys } from './keys.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
const require = createRequire(import.meta.url)
// Loaded on first use: a server that never dials out as a client (a hosted pub) saves its few MB of modules.
const ssbClient = (keys: SsbKeys, opts: object, cb: (err: Error | null, sbot: any) => void): void => require('ssb-client')(keys, opts, cb)

/** A muxrpc client of some sbot: methods are looked up by name at the call site. */
export interface SbotClient {
  id: FeedId
  close(cb?: (err?: Error) => void): void
  [method: string]: any
}

/** Connect to the sbot at a multiserver address with the given keys (shs over TCP). */
export function connectClient(keys: SsbKeys, remote: string, opts: { caps?: string; manifest?: object } = {}): Promise<SbotClient> {
  return new Promise((resolve, reject) => {
    const config = { caps: { shs: opts.caps ?? MAIN_NETWORK_CAPS }, timers: { handshake: 5000 } }
    ssbClient(keys, { remote, config, caps: config.caps, manifest: opts.manifest }, (err, sbot) =>
      err ? reject(new Error(`could not connect to ${remote.replace(/~shs:.*/, '')}`, { cause: err })) : resolve(sbot as SbotClient),
    )
  })
}

/** Whether the sbot behind a client offers a method, by its dotted manifest path (e.g. `query.read`). */
export function clientHas(client: SbotClient, path: string): boolean {
  return typeof clientMethod(client, path) === 'function'
}

/** Open a muxrpc `source` method of a client by its dotted path; throws when the sbot does not offer it. */
export function clientSource(client: SbotClient, path: string, opts: object): Source<unknown> {
  const fn = clientMethod(client, path)
  if (typeof fn !== 'function') throw new Error(`the sbot has no ${path} method`)
  return fn(opts) as Source<unknown>
}

/** Call a muxrpc `async` method of a client by its dotted path; rejects when the sbot does not offer it. */
export function clientCall<T>(client: SbotClient, path: string, ...args: unknown[]): Promise<T> {
  const fn = clientMethod(client, path)
  if (typeof fn !== 'function') return Promise.reject(new Error(`the sbot has no ${path} method`))
  return call<T>(fn, ...args)
}

function clientMethod(client: SbotClient, path: string): any {
  let at: any = client
  for (const part of path.split('.')) at = at == null ? undefined : at[part]
  return at
}

/** Call a callback-style method (muxrpc's, or an in-process server's) as a promise. */
export function call<T>(fn: (...args: any[]) => void, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => fn(...args, (err: Error | null, value: T) => (err ? reject(err) : resolve(value))))
}
