/** The site's part in the provider's metrics: Stripe webhooks counted by outcome, and `/metrics` for Prometheus. */
import type { Context, Hono } from 'hono'
import type { ProviderMetrics } from '../src/log/metrics.js'

/** What the site needs of the metrics. */
export type SiteMetrics = Pick<ProviderMetrics, 'webhook' | 'scrape'>

/** The outcome a webhook answer stands for: the handler's own word when it gave one, else its status. */
async function outcomeOf(res: Response): Promise<string> {
  if (res.status === 429) return 'rate-limited'
  if (res.status === 400) return 'rejected'
  if (res.status >= 500 && res.status !== 503) return 'error'
  try {
    const body = (await res.clone().json()) as { outcome?: unknown }
    if (typeof body.outcome === 'string' && /^[a-z-]{1,32}$/.test(body.outcome)) return body.outcome
  } catch {
    // Not JSON: counted by status below.
  }
  return res.status === 503 ? 'retry-later' : 'other'
}

/** Count every answer of the webhook route (mounted before the rate limit, so refusals are counted too). */
export function countWebhooks(app: Hono, metrics: SiteMetrics): void {
  app.use('/webhooks/stripe', async (c: Context, next: () => Promise<void>) => {
    await next()
    metrics.webhook(await outcomeOf(c.res))
  })
}

/** Serve the exposition text at GET /metrics. */
export function mountMetrics(app: Hono, metrics: SiteMetrics): void {
  app.get('/metrics', async (c) => {
    const { contentType, body } = await metrics.scrape()
    return c.body(body, 200, { 'Content-Type': contentType })
  })
}
