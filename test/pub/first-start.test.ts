import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { firstStart } from '../../pub/first-start.js'
import { dbOps, publish } from '../../src/ssb/db2.js'
import { generateKeys } from '../../src/ssb/keys.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import { closeSbot, type Sbot } from '../../src/ssb/server.js'
import { removeAfterLateWrites, startSbot } from '../../testkit/sbots.js'

const owner = generateKeys().id
const open: Array<{ sbot: Sbot; dir: string }> = []

function startPubSbot(): Sbot {
  const { sbot, dir } = startSbot({ prefix: 'bc-first-', unixSocket: false })
  open.push({ sbot, dir })
  return sbot
}

function ownFeed(sbot: Sbot): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) =>
    sbot.db.query(
      dbOps.where(dbOps.author(sbot.id)),
      dbOps.toCallback((err, msgs) => (err ? reject(err) : resolve((msgs as SsbMsg[]).map((m) => m.value.content as Record<string, unknown>)))),
    ),
  )
}

const closed: string[] = []
afterEach(async () => {
  for (const { sbot, dir } of open.splice(0)) {
    await closeSbot(sbot)
    closed.push(dir)
  }
})
afterAll(() => removeAfterLateWrites(closed))

describe('first start', () => {
  it('publishes an about with the name and a follow of the owner, then nothing on the next start', async () => {
    const sbot = startPubSbot()
    expect(await firstStart(sbot, { name: 'Pub one', owner })).toEqual(['about', 'contact'])
    expect(await firstStart(sbot, { name: 'Pub one', owner })).toEqual([])
    expect(await ownFeed(sbot)).toEqual([
      { type: 'about', about: sbot.id, name: 'Pub one' },
      { type: 'contact', contact: owner, following: true },
    ])
  })

  it('completes a start that was cut short after the about (no second about)', async () => {
    const sbot = startPubSbot()
    await publish(sbot.db, { type: 'about', about: sbot.id, name: 'Pub two' })
    expect(await firstStart(sbot, { name: 'Pub two', owner })).toEqual(['contact'])
    expect((await ownFeed(sbot)).filter((c) => c.type === 'about')).toHaveLength(1)
  })

  it('publishes a new about when the provider renames the pub, and respects a later unfollow of the owner', async () => {
    const sbot = startPubSbot()
    await firstStart(sbot, { name: 'Old name', owner })
    await publish(sbot.db, { type: 'contact', contact: owner, following: false })
    expect(await firstStart(sbot, { name: 'New name', owner })).toEqual(['about'])
    const feed = await ownFeed(sbot)
    expect(feed.at(-1)).toEqual({ type: 'about', about: sbot.id, name: 'New name' })
    expect(feed.filter((c) => c.type === 'contact' && c.following === true)).toHaveLength(1)
  })

  it('ignores abouts that describe someone else', async () => {
    const sbot = startPubSbot()
    await publish(sbot.db, { type: 'about', about: owner, name: 'Pub three' })
    expect(await firstStart(sbot, { name: 'Pub three', owner })).toEqual(['about', 'contact'])
  })
})
