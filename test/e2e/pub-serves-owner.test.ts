/**
 * The hosted pub does a pub's whole job for its owner, under the local runtime with the real provider: the story of
 * test/e2e/owner-story.ts (join with the "up" invite, a post with a 200 KB picture at the pub within seconds, a feed
 * nobody in scope follows left alone, and a guest served from the pub alone while the owner is offline).
 */
import { describe } from 'vitest'
import { freePort } from '../../testkit/ports.js'
import { ownerStory } from './owner-story.js'

describe("a classic owner's pub serves its posts and pictures while the owner is offline (local runtime)", () => {
  ownerStory(async () => {
    const pubPort = await freePort()
    return { runtime: { kind: 'local', ports: { first: pubPort, last: pubPort }, statsIntervalMs: 0 } }
  })
})
