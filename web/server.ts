/** Serve a Hono app over HTTP with @hono/node-server; resolves once listening, with the real port and a close. */
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'

export interface ServeOptions {
  /** Default 127.0.0.1: a payment site belongs behind a TLS-terminating proxy, not on every interface. */
  host?: string
  /** 0 picks a free port (tests); read the real one from the result. */
  port?: number
}

export interface RunningSite {
  host: string
  port: number
  /** http://host:port */
  url: string
  /** Stop accepting connections, end idle keep-alive ones, and resolve once the server is closed. */
  close(): Promise<void>
}

/** Start serving `app`. */
export function serveSite(app: Hono, options: ServeOptions = {}): Promise<RunningSite> {
  const host = options.host ?? '127.0.0.1'
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 0 }, (info: AddressInfo) => {
      server.off('error', reject)
      const urlHost = info.family === 'IPv6' ? `[${info.address}]` : info.address
      resolve({
        host: info.address,
        port: info.port,
        url: `http://${urlHost}:${info.port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()))
            // Keep-alive sockets would hold close() open for seconds; nothing is mid-request by now in an orderly stop.
            ;(server as Server).closeIdleConnections?.()
          }),
      })
    }) as Server
    // A busy port must fail the start, not leave a half-started server behind.
    server.once('error', reject)
  })
}
