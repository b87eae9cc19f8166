/** Start and stop a provider: the sbot with the standard stack and the buttcloud plugin, and its payment site. */
import { quietSsbRefDeprecations } from '../ssb/quiet-ssb-ref.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createButtcloudPlugin, type ButtcloudApi, type PluginDeps } from '../../plugins/buttcloud/index.js'
import { buildOffer, pluginConfig } from '../../plugins/buttcloud/config.js'
import { createLogger, logTo } from '../log/logger.js'
import type { FeedId } from '../protocol/ids.js'
import { call } from '../ssb/client.js'
import { loadOrCreateKeys } from '../ssb/keys.js'
import { applyDb2Patches } from '../ssb/patches.js'
import { closeSbot, createSbot, type Sbot } from '../ssb/server.js'
import { sbotConfig } from '../ssb/config.js'
import { inviteExpiryPlugin } from '../ssb/invite-expiry.js'
import { privateMembersPlugin } from '../ssb/private-members.js'
import { ebtScopePlugin } from '../ssb/ebt-scope.js'
import { serveSite, type RunningSite } from '../../web/index.js'
import { mountMetrics } from '../../web/metrics.js'
import { Hono } from 'hono'
import { createMetrics, type ProviderMetrics } from '../log/metrics.js'
import { PUB_STATES } from '../protocol/status.js'
import { paymentHooks, paymentSetup, startPaymentSite, startStripeSync, type PaymentSetup, type StripeSync } from './payment.js'
import type { ProviderSettings } from './settings.js'
import { backupDirFromSettings, capacityFromSettings, runtimeFromSettings } from './runtime-from-settings.js'
import { restorePending } from './identity-store.js'
import { makePrivateTree, usePrivateUmask } from '../files/private.js'
import { diskShortage } from '../files/disk.js'

export interface RunningProvider {
  id: FeedId
  sbot: Sbot
  api: ButtcloudApi
  /** The provider's multiserver address (`net:host:port~shs:key`). */
  address: string
  /** The payment site's URL, when it runs. */
  siteUrl?: string
  /** Where Prometheus scrapes (`<url>/metrics`): the site, or the metrics' own listener; absent when off. */
  metricsUrl?: string
  metrics?: ProviderMetrics
  payment: PaymentSetup
  /** With Stripe: the read-back of the payment events Stripe kept, started once the log is read (docs/restore.md). */
  stripeSync?: StripeSync
  /** A fresh invite code (legacy `host:port:@key~seed`, what Patchwork's "Join pub" takes) that expires after `ttlMs`. */
  createInvite(uses?: number, ttlMs?: number): Promise<string>
  close(): Promise<void>
}

/** What a provider may be handed instead of what its settings make (tests). */
export type ProviderDeps = PluginDeps & {
  metrics?: ProviderMetrics
  /** The first wait before payment events for requests not known yet are read from Stripe again (default a minute). */
  stripeSyncRetryMs?: number
}

/** Start the provider sbot (and its site); resolves once its log is read and the first pass has run. */
export async function startProvider(
  settings: ProviderSettings,
  deps: ProviderDeps = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningProvider> {
  // The provider is the process: its files and its local pubs' (children inherit the umask) are its user's alone.
  usePrivateUmask()
  // Publishing before a restored feed has caught up with its peers could fork it, for good.
  if (restorePending(settings.path)) {
    throw new Error(
      `${settings.path} was restored from a backup and has not caught up with its peers yet; run ` +
        '`node dist/src/provider/identity.js catch-up --peer ADDRESS` (or --no-peer-has-newer) first',
    )
  }
  const log = deps.log ?? logTo(createLogger('provider'))
  const fixed = makePrivateTree(settings.path)
  if (fixed > 0) log(`made ${fixed} files and folders under ${settings.path} private to this user (0600/0700)`)
  const keys = loadOrCreateKeys(join(settings.path, 'secret'))
  const publicUrl = settings.web.publicUrl.replace(/\/+$/, '')
  const payment = paymentSetup(env, keys, publicUrl)
  const section = pluginConfig({
    ...settings.buttcloud,
    terms: settings.buttcloud.terms ?? `${publicUrl}/terms`,
    ...(payment.stripe ? { paymentSite: publicUrl } : {}),
    // The runtime's retention, so owners are reminded before their destroyed pub's data is purged.
    ...(settings.runtime.kind !== 'none' ? { purgeAfterMs: capacityFromSettings(settings).retentionMs } : {}),
  })
  const config = {
    ...sbotConfig({
      path: settings.path,
      keys,
      host: settings.host,
      port: settings.port,
      externalHost: settings.externalHost ?? undefined,
      caps: settings.caps ?? undefined,
      hops: settings.hops,
      throttles: settings.throttles,
      allowPrivate: settings.allowPrivate,
    }),
    buttcloud: section,
  }
  const hooks = payment.stripe ? paymentHooks(payment, section.plans, keys.id) : undefined
  // The runtime the settings ask for (none, local processes, or Swarm), unless a test hands one in.
  const metrics = settings.metrics.enabled ? (deps.metrics ?? createMetrics({ pubStates: PUB_STATES })) : undefined
  const runtime = deps.runtime ?? runtimeFromSettings(settings, metrics)
  const minFree = settings.minFreeMiB * 1024 * 1024
  applyDb2Patches()
  quietSsbRefDeprecations()
  const sbot = createSbot(config, [
    createButtcloudPlugin({ payment: hooks, diskShortage: () => diskShortage(settings.path, minFree), ...deps, log, runtime }),
    inviteExpiryPlugin({ defaultTtlMs: settings.inviteTtlMs, ...(deps.now ? { now: deps.now } : {}) }),
    // Invitees are replicated without a public follow, and recorded where only the provider reads them.
    privateMembersPlugin({ ...(deps.now ? { now: deps.now } : {}), log: (line) => log(line, {}, 'warn') }),
    // Each peer's EBT notes name only its own feed and the provider's: no customer learns another's id.
    ebtScopePlugin(),
  ])
  const api = sbot.buttcloud as ButtcloudApi
  let site: RunningSite | undefined
  let metricsSite: RunningSite | undefined
  let stripeSync: StripeSync | undefined
  try {
    await api.ready()
    // Facts the journal lacks (a restore from an older backup): Stripe does not send an answered event again.
    stripeSync = startStripeSync({ api, provider: sbot.id, setup: payment, log, ...(deps.stripeSyncRetryMs ? { retryFirstMs: deps.stripeSyncRetryMs } : {}) })
    if (settings.web.enabled) {
      site = await startPaymentSite({
        api,
        provider: sbot.id,
        offer: buildOffer(section),
        setup: payment,
        host: settings.web.host,
        port: settings.web.port,
        termsText: settings.web.termsFile ? readFileSync(settings.web.termsFile, 'utf8') : undefined,
        privacyText: settings.web.privacyFile ? readFileSync(settings.web.privacyFile, 'utf8') : undefined,
        log: deps.log,
        backupsDir: backupDirFromSettings(settings),
        trustProxy: settings.web.trustProxy,
        ...(metrics ? { metrics, metricsRoute: settings.metrics.port === undefined } : {}),
      })
    }
    if (metrics && settings.metrics.port !== undefined) {
      // A listener of its own: scraped from inside the operator's network, never through the public site's proxy.
      const app = new Hono()
      mountMetrics(app, metrics)
      metricsSite = await serveSite(app, { host: settings.metrics.host, port: settings.metrics.port })
    }
  } catch (err) {
    stripeSync?.stop()
    await site?.close()
    await closeSbot(sbot)
    throw err
  }
  const address = sbot.getAddress('public') ?? sbot.getAddress()
  if (!address) throw new Error('the provider has no network address; check host and port')
  return {
    id: sbot.id,
    sbot,
    api,
    address: address.split(';')[0]!,
    siteUrl: site?.url,
    ...(metricsSite ? { metricsUrl: metricsSite.url } : metrics && site ? { metricsUrl: site.url } : {}),
    ...(metrics ? { metrics } : {}),
    payment,
    ...(stripeSync ? { stripeSync } : {}),
    createInvite: (uses = settings.inviteUses, ttlMs = settings.inviteTtlMs) =>
      call<string>(sbot.invite.create, { uses, ttlMs, ...(settings.externalHost ? { external: settings.externalHost } : {}) }),
    close: async () => {
      stripeSync?.stop()
      await stripeSync?.first.catch(() => undefined)
      await metricsSite?.close()
      await site?.close()
      await closeSbot(sbot)
    },
  }
}
