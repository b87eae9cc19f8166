/**
 * The site's guards for what browsers and strangers send: an Origin check on form posts, a per-client rate limit
 * on POST routes, and HSTS. Each is a small Hono middleware with its options spelled out.
 */
import type { Context, MiddlewareHandler } from 'hono'

/**
 * Form posts must come from a page of this site. Browsers send `Origin` on every POST; a cross-site form (a page
 * elsewhere posting to a pay link it learned) carries that other origin and is refused. A post without `Origin`
 * is not a browser's (curl, a script), so it cannot carry a visitor's ambient authority: there is none here, and
 * such a client could send any Origin it liked anyway. `Sec-Fetch-Site`, where present, backs the check up.
 */
export function sameOriginPosts(publicOrigin: string, refuse: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header('origin')
    const site = c.req.header('sec-fetch-site')
    const crossSite = origin !== undefined ? origin !== publicOrigin : site !== undefined && site !== 'same-origin' && site !== 'none'
    if (crossSite) return refuse(c)
    await next()
    return undefined
  }
}

export interface RateLimitOptions {
  /** Requests one client may make per window. */
  limit: number
  windowMs: number
  /** The most clients tracked at once; past that the oldest window is dropped (a bounded map, not a leak). */
  maxClients: number
  /** The client's key: its address (see `clientAddress`). */
  key: (c: Context) => string
  now?: () => number
  refuse: (c: Context, retryAfterSec: number) => Response | Promise<Response>
}

/**
 * A fixed-window counter per client, in memory: enough to stop one client from hammering Stripe through the Pay
 * form or the webhook with junk, and nothing to persist (a restart forgets, which only ever lets more through).
 */
export function rateLimit(o: RateLimitOptions): MiddlewareHandler {
  const windows = new Map<string, { start: number; count: number }>()
  const now = o.now ?? Date.now
  return async (c, next) => {
    const key = o.key(c)
    const t = now()
    let w = windows.get(key)
    if (!w || t - w.start >= o.windowMs) {
      windows.delete(key)
      // Insertion order is age order: the first key is the one whose window started longest ago.
      while (windows.size >= o.maxClients) windows.delete(windows.keys().next().value as string)
      w = { start: t, count: 0 }
      windows.set(key, w)
    }
    w.count++
    if (w.count > o.limit) return o.refuse(c, Math.max(1, Math.ceil((w.start + o.windowMs - t) / 1000)))
    await next()
    return undefined
  }
}

/**
 * The client's address: the socket's peer, or with `trustProxy` the last `X-Forwarded-For` hop (the one our own
 * TLS-terminating proxy appended; the ones before it are whatever the client claimed). Without a socket (tests
 * calling `app.request()`) every request shares one key.
 */
export function clientAddress(trustProxy: boolean): (c: Context) => string {
  return (c) => {
    if (trustProxy) {
      const hops = c.req.header('x-forwarded-for')?.split(',')
      const last = hops?.at(-1)?.trim()
      if (last) return last.slice(0, 64)
    }
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined
    return env?.incoming?.socket?.remoteAddress ?? 'local'
  }
}

/** One year of HSTS, only for a site whose public URL is https: over plain http the header would be a lie. */
export function hsts(publicUrl: string): MiddlewareHandler {
  const on = publicUrl.startsWith('https://')
  return async (c, next) => {
    await next()
    if (on) c.header('Strict-Transport-Security', 'max-age=31536000')
  }
}
