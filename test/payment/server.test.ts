import { describe, expect, it } from 'vitest'
import { Hono } from 'hono'
import { serveSite } from '../../web/server.js'

describe('serveSite', () => {
  it('serves on 127.0.0.1 and a free port, and closes', async () => {
    const app = new Hono().get('/healthz', (c) => c.json({ ok: true }))
    const site = await serveSite(app)
    expect(site.host).toBe('127.0.0.1')
    expect(site.port).toBeGreaterThan(0)
    expect(site.url).toBe(`http://127.0.0.1:${site.port}`)
    // A keep-alive connection stays open after this request: close must not wait for it.
    expect(await (await fetch(`${site.url}/healthz`)).json()).toEqual({ ok: true })
    const started = Date.now()
    await site.close()
    expect(Date.now() - started).toBeLessThan(1000)
    await expect(fetch(`${site.url}/healthz`)).rejects.toThrow()
  })

  it('fails to start on a port that is taken, leaving nothing running', async () => {
    const app = new Hono()
    const first = await serveSite(app)
    try {
      await expect(serveSite(app, { port: first.port })).rejects.toMatchObject({ code: 'EADDRINUSE' })
    } finally {
      await first.close()
    }
  })
})
