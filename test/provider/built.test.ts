/** The built provider (`node dist/src/provider/main.js`, what `npm start` runs), not only the test runner's view. */
import { existsSync, mkdtempSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { publish } from '../../src/ssb/db2.js'
import { FeedId, InviteCode, MultiserverAddress } from '../../src/protocol/ids.js'
import { freePort } from '../../testkit/ports.js'
import { startNode, type Child } from '../support/processes.js'
import { endLocalPubs, joinWithInvite, messagesOfType, removeLater, startPeer, type TestPeer } from '../../testkit/sbots.js'
import { waitFor } from '../../testkit/wait.js'

const MAIN = resolve('dist/src/provider/main.js')

/** Does something accept TCP connections on 127.0.0.1:port? */
function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy()
      done(true)
    })
    socket.once('error', () => done(false))
  })
}
let child: Child | undefined
let user: TestPeer | undefined
afterEach(async () => {
  await user?.stop()
  await child?.stop()
  user = child = undefined
})

describe('the built provider', () => {
  it('starts on embedded defaults, prints its id, address and invite, runs a pub for a user, and stops on SIGTERM', async () => {
    expect(existsSync(MAIN), 'run `npm run build` first (npm test does)').toBe(true)
    const data = mkdtempSync(join(tmpdir(), 'bc-built-'))
    removeLater(data)
    const port = await freePort()
    const pubPort = await freePort()
    // The embedded default runtime runs pubs as local child processes: this one gets one port of its own.
    child = startNode(MAIN, [], { BUTTCLOUD_DATA: data, BUTTCLOUD_PORT: String(port), BUTTCLOUD_WEB_PORT: '0', BUTTCLOUD_PUB_PORTS: `${pubPort}-${pubPort}` })
    const [, id] = await child.waitForOutput(/id:\s+(@\S+)/)
    const [, address] = await child.waitForOutput(/address:\s+(net:\S+)/)
    const [, invite] = await child.waitForOutput(/^\s+(\S+:\d+:@\S+~\S+)$/m)
    expect(FeedId.safeParse(id).success).toBe(true)
    expect(MultiserverAddress.safeParse(address).success).toBe(true)
    expect(address).toBe(`net:127.0.0.1:${port}~shs:${id!.slice(1, -8)}`)
    expect(InviteCode.safeParse(invite).success).toBe(true)

    user = startPeer()
    await joinWithInvite(user.sbot, invite!, address!)
    const req = await publish(user.sbot.db, { type: 'buttcloud/request', version: 1, provider: id, plan: 'free', recps: [user.id, id!] })
    const up = await waitFor('the pub to be up', async () =>
        (await messagesOfType<Record<string, any>>(user!.sbot, 'buttcloud/status')).find(
          (m) => m.value.content.request === req.key && m.value.content.state === 'up',
        ), { timeoutMs: 60_000 })
    expect(up.value.author).toBe(id)
    expect(up.value.content.pub.address).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:${pubPort}~shs:`))
    expect(InviteCode.safeParse(up.value.content.invite).success).toBe(true)
    // The pub answers on its port (an SSB handshake needs its key; a TCP connect is enough to see it listen).
    expect(await canConnect(pubPort)).toBe(true)
    // Start-up, an invite made and used, a pub run: no stack trace in the output (ssb-ref's deprecation traces were).
    expect(child.output()).not.toMatch(/Trace:|^\s+at /m)

    expect(await child.stop()).toBe(0)
    // Its pubs outlive it (as Swarm services do; a restart adopts them): this one still serves, until the test ends it.
    expect(await canConnect(pubPort)).toBe(true)
    await endLocalPubs(data)
    await waitFor('the pub to end', async () => ((await canConnect(pubPort)) ? undefined : true), { timeoutMs: 10_000 })
  })

  it('prints help and refuses a broken config with a clear message', async () => {
    const help = startNode(MAIN, ['--help'])
    await help.waitForOutput(/Usage: npm start/)
    expect(await new Promise((r) => help.child.once('exit', r))).toBe(0)
    const broken = startNode(MAIN, [], { BUTTCLOUD_PORT: 'not-a-port' })
    await broken.waitForOutput(/invalid provider config .*port/)
    expect(await new Promise((r) => broken.child.once('exit', r))).toBe(1)
  })
})
