/**
 * The pub's public, read-only web page: its name, id, address and how to join. Only facts that the pub already
 * publishes on SSB appear here; no invite codes, no keys, no muxrpc.
 */
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { html } from 'hono/html'
import type { FeedId, MultiserverAddress } from '../src/protocol/ids.js'

export interface WebViewInfo {
  name: string
  id: FeedId
  address: MultiserverAddress
  owner: FeedId
}

/** The web view as a Hono app (GET / as HTML, GET /json as JSON); testable with `app.request`. */
export function webViewApp(info: WebViewInfo): Hono {
  const app = new Hono()
  const facts = { name: info.name, id: info.id, address: info.address, owner: info.owner }

  app.use(async (c, next) => {
    await next()
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'")
    c.header('Cache-Control', 'public, max-age=60')
  })
  app.get('/json', (c) => c.json(facts))
  app.get('/', (c) =>
    c.html(html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${info.name} · Scuttlebutt pub</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
code { display: block; overflow-wrap: anywhere; background: #f4f4f4; padding: .4rem .6rem; border-radius: 4px; }
dt { font-weight: 600; margin-top: 1rem; }
</style>
</head>
<body>
<h1>${info.name}</h1>
<p>A <a href="https://scuttlebutt.nz">Scuttlebutt</a> pub: it stays online and passes messages between the people who joined it.</p>
<dl>
<dt>Pub id</dt><dd><code id="pub-id">${info.id}</code></dd>
<dt>Address</dt><dd><code id="pub-address">${info.address}</code></dd>
<dt>Run by</dt><dd><code id="pub-owner">${info.owner}</code></dd>
</dl>
<h2>How to join</h2>
<ol>
<li>Ask the owner of this pub for an invite code (they make one with their Scuttlebutt app or <code>ssb-client</code>).</li>
<li>In Patchwork, Manyverse or another Scuttlebutt app, choose <em>Join pub</em> and paste the code.</li>
<li>Your app and the pub follow each other, and the pub starts passing on your messages.</li>
</ol>
</body>
</html>`),
  )
  app.notFound((c) => c.text('not found', 404))
  return app
}

/** A running web view; `close` stops listening. */
export interface WebView {
  port: number
  close(): Promise<void>
}

/** Serve the web view on host:port (port 0 picks a free one). */
export function startWebView(info: WebViewInfo, listen: { host: string; port: number }): Promise<WebView> {
  const app = webViewApp(info)
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`web view cannot listen on ${listen.host}:${listen.port}`, { cause: err }))
    const server = serve({ fetch: app.fetch, hostname: listen.host, port: listen.port }, (address: AddressInfo) => {
      server.off('error', onError)
      resolve({
        port: address.port,
        close: () => new Promise<void>((res) => server.close(() => res())),
      })
    })
    server.once('error', onError)
  })
}
