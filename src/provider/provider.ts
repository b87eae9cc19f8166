/** Start and stop a provider: the sbot with the standard stack and the buttcloud plugin. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createButtcloudPlugin, type ButtcloudApi, type PluginDeps } from '../../plugins/buttcloud/index.js'
import type { FeedId } from '../protocol/ids.js'
import { call, closeSbot, createSbot, loadOrCreateKeys, type Sbot } from '../ssb/adapter.js'
import { sbotConfig } from '../ssb/config.js'
import type { ProviderSettings } from './settings.js'

export interface RunningProvider {
  id: FeedId
  sbot: Sbot
  api: ButtcloudApi
  /** The provider's multiserver address (`net:host:port~shs:key`). */
  address: string
  /** A fresh invite code (legacy `host:port:@key~seed`, what Patchwork's "Join pub" takes). */
  createInvite(uses?: number): Promise<string>
  close(): Promise<void>
}

/** Start the provider sbot; resolves once its log is read and the first pass has run. */
export async function startProvider(settings: ProviderSettings, deps: PluginDeps = {}): Promise<RunningProvider> {
  mkdirSync(settings.path, { recursive: true })
  const keys = loadOrCreateKeys(join(settings.path, 'secret'))
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
    buttcloud: settings.buttcloud,
  }
  const sbot = createSbot(config, [createButtcloudPlugin(deps)])
  const api = sbot.buttcloud as ButtcloudApi
  await api.ready()
  const address = sbot.getAddress('public') ?? sbot.getAddress()
  if (!address) throw new Error('the provider has no network address; check host and port')
  return {
    id: sbot.id,
    sbot,
    api,
    address: address.split(';')[0]!,
    createInvite: (uses = settings.inviteUses) =>
      call<string>(sbot.invite.create, { uses, ...(settings.externalHost ? { external: settings.externalHost } : {}) }),
    close: () => closeSbot(sbot),
  }
}
