/**
 * What a pub says about itself when it first starts: an `about` with its name and a `contact` following its owner.
 * Decided from the pub's own feed, not from a marker file, so a crash between publishing and recording can never
 * cause a second copy, and a restart publishes nothing new.
 */
import { dbOps, publish } from '../src/ssb/db2.js'
import type { SsbMsg } from '../src/ssb/message.js'
import type { Sbot } from '../src/ssb/server.js'
import type { FeedId } from '../src/protocol/ids.js'

interface AboutContent {
  type: 'about'
  about: FeedId
  name?: string
}

interface ContactContent {
  type: 'contact'
  contact: FeedId
  following?: boolean
}

/** The self-description messages first-start published this time (empty when the feed already had them). */
export type FirstStartResult = Array<'about' | 'contact'>

/**
 * Publish the pub's about (when it has none, or its latest names it differently: a rename by the provider)
 * and a follow of its owner (when it has never published a contact about the owner: a later unfollow stands).
 */
export async function firstStart(sbot: Sbot, opts: { name: string; owner: FeedId }): Promise<FirstStartResult> {
  const published: FirstStartResult = []

  const abouts = (await ownMessages<AboutContent>(sbot, 'about')).filter((m) => m.value.content.about === sbot.id && typeof m.value.content.name === 'string')
  const latestName = abouts.length ? abouts[abouts.length - 1]!.value.content.name : undefined
  if (latestName !== opts.name) {
    await publish(sbot.db, { type: 'about', about: sbot.id, name: opts.name } satisfies AboutContent)
    published.push('about')
  }

  const contacts = (await ownMessages<ContactContent>(sbot, 'contact')).filter((m) => m.value.content.contact === opts.owner)
  if (contacts.length === 0) {
    await publish(sbot.db, { type: 'contact', contact: opts.owner, following: true } satisfies ContactContent)
    published.push('contact')
  }
  return published
}

/** The pub's own messages of one type, oldest first. */
function ownMessages<C>(sbot: Sbot, type: string): Promise<Array<SsbMsg<C>>> {
  return new Promise((resolve, reject) => {
    sbot.db.query(
      dbOps.where(dbOps.and(dbOps.author(sbot.id), dbOps.type(type))),
      dbOps.toCallback((err, msgs) => {
        if (err) reject(new Error(`reading the pub's own ${type} messages failed`, { cause: err }))
        else resolve((msgs as Array<SsbMsg<C>>).sort((a, b) => a.value.sequence - b.value.sequence))
      }),
    )
  })
}
