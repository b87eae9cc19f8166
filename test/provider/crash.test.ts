/**
 * kill -9 of the provider at every step of provisioning and of each command, with the built provider, the local
 * runtime and a real user sbot. The provider SIGKILLs itself at a named crash point (src/faults/crash-point.ts),
 * the test starts it again on the same data, and the owner's script goes on. However it died, in the end: every
 * command has exactly one reply, one first invite was sent, the pub ran as one process at a time on one port, and
 * nothing of it runs once destroyed.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { call } from '../../src/ssb/client.js'
import { publish } from '../../src/ssb/db2.js'
import type { Sbot } from '../../src/ssb/server.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { freePort } from '../../testkit/ports.js'
import { endLocalPubs, joinWithInvite, messagesOfType, removeLater, startPeer, type TestPeer } from '../../testkit/sbots.js'
import { Fatal, waitFor } from '../../testkit/wait.js'
import { startNode, type Child } from '../support/processes.js'

const MAIN = resolve('dist/src/provider/main.js')
type Content = Record<string, any>

/** Where the provider kills itself: each step of provisioning, then each command's reply and change. */
const POINTS = [
  'published:buttcloud/placement',
  'after:record-placement',
  'after:create-volume',
  'after:create-service',
  'published:buttcloud/status#1', // up (one status post per transition; provisioning is not posted)
  'published:buttcloud/status#2', // the next one (stopped, or a restart seen as down)
  'published:buttcloud/reply#1', // restart
  'after:update-service#1',
  'published:buttcloud/reply#2', // invite
  'published:buttcloud/reply#3', // stop
  'after:update-service#2',
  'published:buttcloud/reply#4', // start
  'published:buttcloud/reply#5', // destroy
  'after:remove-service',
]
const VERBS = ['restart', 'invite', 'stop', 'start', 'destroy'] as const

/** Live processes of this provider's local pubs, by pub folder (a zombie is not alive). */
function pubProcesses(providerPath: string): Map<string, number[]> {
  const out = new Map<string, number[]>()
  const marker = `PUB_DATA=${join(providerPath, 'pubs')}/`
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) continue
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith(marker))
      if (!env) continue
      const dir = env.slice(marker.length).split('/')[0]!
      out.set(dir, [...(out.get(dir) ?? []), Number(pid)])
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return out
}

let user: TestPeer | undefined
let provider: Child | undefined
let dataDir: string | undefined
afterEach(async () => {
  await user?.stop()
  await provider?.stop()
  if (dataDir) {
    await endLocalPubs(dataDir)
    // The killed provider's folders (its data and its backups' shelf beside it) go when this test process ends.
    removeLater(dataDir)
    removeLater(`${dataDir}-backups`)
  }
  user = provider = dataDir = undefined
})

describe('the provider killed at every step', () => {
  for (const point of POINTS) {
    it(`converges with nothing done twice after a SIGKILL at ${point}`, async () => {
      expect(existsSync(MAIN), 'run `npm run build` first (npm test does)').toBe(true)
      const data = (dataDir = mkdtempSync(join(tmpdir(), 'bc-crash-')))
      removeLater(data)
      const port = await freePort()
      const pubPort = await freePort()
      const env = { BUTTCLOUD_DATA: data, BUTTCLOUD_PORT: String(port), BUTTCLOUD_WEB_PORT: '0', BUTTCLOUD_PUB_PORTS: `${pubPort}-${pubPort}` }
      let crashes = 0
      const start = (crashAt?: string) => {
        provider = startNode(MAIN, [], crashAt ? { ...env, BUTTCLOUD_CRASH_AT: crashAt } : env)
        return provider
      }
      let current = start(point)
      const [, id] = await current.waitForOutput(/id:\s+(@\S+)/)
      const [, address] = await current.waitForOutput(/address:\s+(net:\S+)/)
      const [, invite] = await current.waitForOutput(/^\s+(\S+:\d+:@\S+~\S+)$/m)
      const providerId = id as FeedId
      user = startPeer()
      await joinWithInvite(user.sbot, invite!, address!)
      const sbot: Sbot = user.sbot
      const me = user.id

      /** Wait for a condition at the user; when the provider has died at its crash point, start it again. */
      const until = async <T,>(what: string, check: () => Promise<T | undefined>): Promise<T> =>
        waitFor<T>(
          what,
          async () => {
            if (current.child.signalCode === 'SIGKILL') {
              if (!current.output().includes(`crash point ${point.split('#')[0]}`)) throw new Fatal(`killed, but not at ${point}`)
              crashes++
              current = start()
              await current.waitForOutput(/address:\s+net:/)
              await call(sbot.conn.connect, address!).catch(() => undefined)
              return undefined
            }
            return check()
          },
          // A restart plus a pass under the whole suite's load on two cores can pass 30 s.
          { timeoutMs: 45_000 },
        ).catch((err: Error) => {
          const pubs = join(data, 'pubs')
          const pubOutput = existsSync(pubs)
            ? readdirSync(pubs).map((d) => ['pub.log', 'pub.err'].map((f) => (existsSync(join(pubs, d, f)) ? readFileSync(join(pubs, d, f), 'utf8').slice(-1500) : '')).join('\n'))
            : []
          throw new Error(`${err.message}\nprovider output:\n${current.output().slice(-2000)}\npubs:\n${pubOutput.join('\n')}`)
        })
      const statuses = async (request: MsgId) =>
        (await messagesOfType<Content>(sbot, 'buttcloud/status')).filter((m) => m.value.content.request === request).map((m) => m.value.content)
      const replies = async () => (await messagesOfType<Content>(sbot, 'buttcloud/reply')).map((m) => m.value.content)
      const lastState = async (request: MsgId) => (await statuses(request)).at(-1)?.state

      const req = await publish(sbot.db, { type: 'buttcloud/request', version: 1, provider: providerId, plan: 'free', recps: [me, providerId] })
      await until('the pub up', async () => ((await lastState(req.key)) === 'up' ? true : undefined))
      const commands: MsgId[] = []
      for (const verb of VERBS) {
        const cmd = await publish(sbot.db, { type: 'buttcloud/command', version: 1, request: req.key, verb, recps: [me, providerId] })
        commands.push(cmd.key)
        await until(`the reply to ${verb}`, async () => ((await replies()).some((r) => r.command === cmd.key) ? true : undefined))
        const want = verb === 'stop' ? 'stopped' : verb === 'destroy' ? 'destroyed' : 'up'
        await until(`"${want}" after ${verb}`, async () => ((await lastState(req.key)) === want ? true : undefined))
        const running = [...pubProcesses(data).values()].flat()
        expect(running, `pub processes after ${verb}`).toHaveLength(want === 'up' ? 1 : 0)
      }
      // A later command's answer proves the provider has passed over everything before it again.
      const sentinel = await publish(sbot.db, { type: 'buttcloud/command', version: 1, request: req.key, verb: 'stats', recps: [me, providerId] })
      await until('the answer to a later command', async () => ((await replies()).some((r) => r.command === sentinel.key) ? true : undefined))

      expect(crashes, `the provider was killed at ${point}`).toBe(1)
      const all = await replies()
      for (const key of [...commands, sentinel.key]) expect(all.filter((r) => r.command === key), `replies to ${key}`).toHaveLength(1)
      const said = await statuses(req.key)
      expect(said.filter((s) => s.invite), 'statuses carrying the first invite').toHaveLength(1)
      const addresses = new Set(said.filter((s) => s.pub).map((s) => s.pub.address))
      expect([...addresses]).toEqual([expect.stringContaining(`:${pubPort}~shs:`)])
      expect([...pubProcesses(data).values()].flat()).toEqual([])
    }, 180_000)
  }
})
