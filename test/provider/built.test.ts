/** The built provider (`node dist/src/provider/main.js`, what `npm start` runs), not only the test runner's view. */
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { publish } from '../../src/ssb/adapter.js'
import { FeedId, InviteCode, MultiserverAddress } from '../../src/protocol/ids.js'
import { freePort } from '../support/ports.js'
import { startNode, type Child } from '../support/processes.js'
import { joinWithInvite, messagesOfType, removeLater, startPeer, waitFor, type TestPeer } from '../support/sbots.js'

const MAIN = resolve('dist/src/provider/main.js')
let child: Child | undefined
let user: TestPeer | undefined
afterEach(async () => {
  await user?.stop()
  await child?.stop()
  user = child = undefined
})

describe('the built provider', () => {
  it('starts on embedded defaults, prints its id, address and invite, serves a user, and stops on SIGTERM', async () => {
    expect(existsSync(MAIN), 'run `npm run build` first (npm test does)').toBe(true)
    const data = mkdtempSync(join(tmpdir(), 'bc-built-'))
    removeLater(data)
    const port = await freePort()
    child = startNode(MAIN, [], { BUTTCLOUD_DATA: data, BUTTCLOUD_PORT: String(port), BUTTCLOUD_WEB_PORT: '0' })
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
    const status = await waitFor(async () =>
      (await messagesOfType<Record<string, unknown>>(user!.sbot, 'buttcloud/status')).find((m) => m.value.content.request === req.key),
    )
    expect(status.value.author).toBe(id)
    expect(status.value.content.state).toBe('queued')

    expect(await child.stop()).toBe(0)
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
