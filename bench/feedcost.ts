/**
 * Feed cost: how many bytes the provider's own feed grows per pub per day in steady state, measured through the whole
 * provider (plugin, planner, local runtime with real pub processes). The provider's clock is moved ahead an hour at a
 * time while passes keep running, so a few seconds cover several days: statuses are posted only when what is observed
 * changes (so a steady pub costs none however many passes run), and no stats summary unless one is configured. Bytes are the
 * messages as they replicate (the signed JSON value, private ones as their ciphertext). Target: <= 100 B per pub per
 * day (issue 12; stats summaries are on demand, so a steady pub should cost nothing). Status posts (one private `post`
 * per transition) come only with transitions: their cost is shown from the start-up's "up" posts, with the worst case
 * the daily cap allows. bench/fanout sizes the same layout for many customers.
 *
 * Run alone: node --import tsx bench/feedcost.ts [pubs] [days]
 */
import { performance } from 'node:perf_hooks'
import { runtimeFromSettings } from '../src/provider/runtime-from-settings.js'
import type { MsgId } from '../src/protocol/ids.js'
import { call } from '../src/ssb/client.js'
import { dbOps, publish } from '../src/ssb/db2.js'
import type { SsbMsg } from '../src/ssb/message.js'
import type { Sbot } from '../src/ssb/server.js'
import { joinWithInvite, messagesOfType, startPeer, startTestProvider, testProviderSettings } from '../testkit/sbots.js'
import { NOTICES_PER_PUB_PER_DAY } from '../src/control/notify.js'
import { runAsMain, type BenchResult } from './report.js'
import { waitFor } from '../testkit/wait.js'

const TARGET_BYTES = 100
const HOUR = 3600_000
const PASS_INTERVAL_MS = 100

/** The provider's own messages: bytes as replicated, by (decrypted) type. */
interface TypeCost {
  count: number
  /** As replicated: the whole signed value. */
  bytes: number
  /** The decrypted content alone, and the ciphertext that carries it. */
  plainBytes: number
  boxBytes: number
}

/**
 * The provider's own feed by type. Messages boxed to the owner alone (daily stats) are ciphertext to the provider:
 * their type is read from the owner's copy, which the owner's sbot decrypts.
 */
async function ownFeed(sbot: Sbot, reader: Sbot): Promise<{ bytes: number; count: number; byType: Map<string, TypeCost> }> {
  const msgs = await new Promise<SsbMsg[]>((resolve, reject) =>
    sbot.db.query(dbOps.where(dbOps.author(sbot.id)), dbOps.toCallback((err, m) => (err ? reject(err) : resolve(m)))),
  )
  const byType = new Map<string, TypeCost>()
  let bytes = 0
  for (const m of msgs) {
    // Decrypted for us in `content`; what peers store and replicate is the original (boxed) value.
    const wire = m.meta?.originalContent !== undefined ? { ...m.value, content: m.meta.originalContent } : m.value
    const size = Buffer.byteLength(JSON.stringify(wire))
    const opaque = typeof m.value.content === 'string'
    const content = opaque ? await call<SsbMsg['value']>(reader.db.get, m.key).then((v: SsbMsg['value']) => v.content, () => undefined) : m.value.content
    const type = (content as { type?: string } | undefined)?.type ?? 'unknown'
    const t = byType.get(type) ?? { count: 0, bytes: 0, plainBytes: 0, boxBytes: 0 }
    t.count++
    t.bytes += size
    t.plainBytes += typeof content === 'object' ? Buffer.byteLength(JSON.stringify(content)) : 0
    const boxed = opaque ? m.value.content : m.meta?.originalContent
    t.boxBytes += boxed !== undefined ? Buffer.byteLength(JSON.stringify(boxed)) : 0
    byType.set(type, t)
    bytes += size
  }
  return { bytes, count: msgs.length, byType }
}

/** Run with `pubs` pubs for `days` simulated days of steady state. */
export async function run(pubs = 5, days = 3): Promise<BenchResult> {
  let offset = 0
  const settings = testProviderSettings({
    runtime: { kind: 'local', hubAddress: '127.0.0.1', ports: { first: 29600, last: 29649 }, statsIntervalMs: 0, settleMs: 20_000 },
    buttcloud: { pubsPerOwner: 1000, passIntervalMs: PASS_INTERVAL_MS },
  })
  const provider = await startTestProvider(settings, { runtime: runtimeFromSettings(settings), now: () => Date.now() + offset })
  const user = startPeer()
  try {
    await joinWithInvite(user.sbot, await provider.createInvite(1), provider.address)
    const requests: MsgId[] = []
    for (let i = 0; i < pubs; i++) {
      const msg = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: provider.id, plan: 'free', name: `pub ${i}`, recps: [user.id, provider.id] })
      requests.push(msg.key)
    }
    await waitFor('every pub up', async () => {
        const up = new Set((await messagesOfType<{ request: string; state: string }>(user.sbot, 'buttcloud/status')).filter((m) => m.value.content.state === 'up').map((m) => m.value.content.request))
        return requests.every((r) => up.has(r)) ? true : undefined
      }, { timeoutMs: 60_000 })
    // Steady state from here: whatever the start-up posted (offer, placements, first statuses) is not counted.
    await new Promise((r) => setTimeout(r, 500))
    await provider.api.settled()
    const before = await ownFeed(provider.sbot, user.sbot)

    const started = performance.now()
    for (let hour = 0; hour < days * 24; hour++) {
      offset += HOUR
      // A few passes at every simulated hour, each one reading the runtime and comparing every pub's status.
      await new Promise((r) => setTimeout(r, PASS_INTERVAL_MS * 3))
      await provider.api.settled()
    }
    const realMs = performance.now() - started
    const after = await ownFeed(provider.sbot, user.sbot)

    const grown = after.bytes - before.bytes
    const perPubPerDay = grown / pubs / days
    const rows: BenchResult['rows'] = []
    const grownBy = new Map<string, TypeCost>()
    for (const [type, t] of after.byType) {
      const b = before.byType.get(type) ?? { count: 0, bytes: 0, plainBytes: 0, boxBytes: 0 }
      if (t.count === b.count) continue
      const d = { count: t.count - b.count, bytes: t.bytes - b.bytes, plainBytes: t.plainBytes - b.plainBytes, boxBytes: t.boxBytes - b.boxBytes }
      grownBy.set(type, d)
      rows.push({ what: `${type} messages`, count: d.count, bytes: d.bytes, per_pub_per_day: d.bytes / pubs / days })
      // Where one message's bytes go: the content, its encryption, and the signed envelope around it.
      rows.push({
        what: `  one ${type}: content ${Math.round(d.plainBytes / d.count)} B, boxed ${Math.round(d.boxBytes / d.count)} B, envelope ${Math.round((d.bytes - d.boxBytes) / d.count)} B`,
        count: '',
        bytes: Math.round(d.bytes / d.count),
        per_pub_per_day: '',
      })
    }
    // Notification posts come only with transitions (none in steady state): the start-up's "up" notices show what one
    // costs, and the daily cap bounds what a flapping pub can cost.
    const notices = before.byType.get('post')
    const noticeBytes = notices && notices.count > 0 ? Math.round(notices.bytes / notices.count) : 0
    const noticeCap = provider.settings.buttcloud.noticesPerPubPerDay ?? NOTICES_PER_PUB_PER_DAY
    if (notices) {
      rows.push({ what: `start-up: status posts, one "up" (with its invite) per pub`, count: notices.count, bytes: notices.bytes, per_pub_per_day: '' })
      rows.push({ what: `  worst case: ${noticeCap} status posts per pub per day (the cap) at ${noticeBytes} B`, count: '', bytes: '', per_pub_per_day: noticeCap * noticeBytes })
    }
    const statuses = grownBy.get('buttcloud/status')?.bytes ?? 0
    const passesPerDay = Math.round(realMs / PASS_INTERVAL_MS / days)
    rows.push({ what: `total over ${days} days, ${pubs} pubs (~${passesPerDay} passes/day)`, count: after.count - before.count, bytes: grown, per_pub_per_day: perPubPerDay })
    rows.push({ what: `target (bytes per pub per day)`, count: '', bytes: '', per_pub_per_day: TARGET_BYTES })
    return {
      name: 'feedcost',
      rows,
      json: {
        pubs,
        days,
        passesPerDay,
        bytes: grown,
        messages: after.count - before.count,
        byType: Object.fromEntries(grownBy),
        statusBytes: statuses,
        noticeBytes,
        noticeWorstPerPubPerDay: noticeCap * noticeBytes,
        perPubPerDay,
        target: TARGET_BYTES,
        pass: perPubPerDay <= TARGET_BYTES,
      },
    }
  } finally {
    await user.stop()
    await provider.stop()
  }
}

runAsMain(import.meta.url, () => run(Number(process.argv[2] ?? 5), Number(process.argv[3] ?? 3)))
