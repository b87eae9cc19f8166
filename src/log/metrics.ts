/**
 * The provider's Prometheus metrics (prom-client), on a registry of its own (never the library's global one, so two
 * providers in one process, as in tests, keep their figures apart). The runtime and the payment site report into it
 * through the narrow methods below; the text exposition is served on its own port or on the site (settings).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** The metrics one provider keeps. */
export interface ProviderMetrics {
  /** One reconcile pass: how long it took, and whether the engine answered (false: unreachable; undefined: other failure). */
  pass(seconds: number, engineReachable: boolean | undefined): void
  /** The changes a pass ran, and those that failed, by action kind. */
  actions(ran: ReadonlyArray<{ kind: string }>, failed: ReadonlyArray<{ kind: string }>): void
  /** Pubs by the state the last pass observed, and how many wait for room. */
  pubs(states: Iterable<string>, queued: number): void
  /** A Stripe webhook answered: `recorded`, `duplicate`, `ignored`, `retry-later`, `rejected`, `error`, `rate-limited`. */
  webhook(outcome: string): void
  /** The exposition text and its content type. */
  scrape(): Promise<{ contentType: string; body: string }>
}

/**
 * Create the metrics on a fresh registry. `pubStates`: every state a pub's status can have (src/protocol/status.ts),
 * each exported, 0 when no pub is in it, so a dashboard never loses a series.
 */
export function createMetrics(opts: { pubStates: readonly string[] }): ProviderMetrics {
  const PUB_STATES = opts.pubStates
  const registry = new Registry()
  const passDuration = new Histogram({
    name: 'buttcloud_pass_duration_seconds',
    help: 'Duration of reconcile passes',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  })
  const passes = new Counter({ name: 'buttcloud_passes_total', help: 'Reconcile passes by outcome', labelNames: ['outcome'], registers: [registry] })
  const engineUp = new Gauge({ name: 'buttcloud_engine_up', help: '1 when the last pass reached the container engine, 0 when it was unreachable', registers: [registry] })
  const actions = new Counter({ name: 'buttcloud_actions_total', help: 'Changes the runtime ran, by action kind', labelNames: ['kind'], registers: [registry] })
  const failures = new Counter({ name: 'buttcloud_action_failures_total', help: 'Changes that failed, by action kind', labelNames: ['kind'], registers: [registry] })
  const pubs = new Gauge({ name: 'buttcloud_pubs', help: 'Pubs by the state the last pass observed', labelNames: ['state'], registers: [registry] })
  const queue = new Gauge({ name: 'buttcloud_queue_length', help: 'Pubs waiting for a hub with room', registers: [registry] })
  const webhooks = new Counter({ name: 'buttcloud_webhooks_total', help: 'Stripe webhooks by outcome', labelNames: ['outcome'], registers: [registry] })
  for (const state of PUB_STATES) pubs.set({ state }, 0)

  return {
    pass(seconds, engineReachable) {
      passDuration.observe(seconds)
      passes.inc({ outcome: engineReachable === true ? 'ok' : engineReachable === false ? 'engine-unreachable' : 'error' })
      if (engineReachable !== undefined) engineUp.set(engineReachable ? 1 : 0)
    },
    actions(ran, failed) {
      for (const a of ran) actions.inc({ kind: a.kind })
      for (const a of failed) failures.inc({ kind: a.kind })
    },
    pubs(states, queued) {
      const counts = new Map<string, number>(PUB_STATES.map((s) => [s, 0]))
      for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1)
      for (const [state, n] of counts) pubs.set({ state }, n)
      queue.set(queued)
    },
    webhook(outcome) {
      webhooks.inc({ outcome })
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() }
    },
  }
}
