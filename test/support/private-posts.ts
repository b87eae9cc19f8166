/**
 * A Patchwork-like user's side of a conversation with a provider by private posts: post a command line, read the
 * provider's private posts as the user's classic ssb-server decrypts them, wait for one that matches.
 */
import { clientCall, clientSource } from '../../src/ssb/client.js'
import { collect } from '../../src/ssb/pull.js'
import type { SsbMsg } from '../../src/ssb/message.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'
import { waitFor } from '../../testkit/wait.js'
import type { ClassicSbot } from './classic-sbot.js'

export type Post = { type: 'post'; text: string; mentions?: Array<{ link: string }>; buttcloud?: Record<string, unknown>; recps?: string[] }

/** The user's private-post helpers towards `provider` (read lazily: the test may start its sbots later). */
export function privatePosts(user: () => ClassicSbot, provider: () => { id: FeedId }, timeoutMs = 60_000) {
  /** The user posts a private line to the provider, as Patchwork's private message box does. */
  const say = async (text: string): Promise<MsgId> =>
    (await clientCall<SsbMsg>(user().client, 'publish', { type: 'post', text, recps: [user().id, provider().id] })).key
  /** The provider's private posts as the user's classic server reads them (messagesByType, decrypted). */
  const postsToUser = async (): Promise<Array<SsbMsg<Post>>> => {
    const all = (await collect(clientSource(user().client, 'messagesByType', { type: 'post', private: true }))) as Array<SsbMsg<Post | string>>
    return all.filter((m) => m.value.author === provider().id && typeof m.value.content === 'object') as Array<SsbMsg<Post>>
  }
  /** The first of the provider's posts after sequence `after` whose text matches. */
  const postMatching = (what: string, re: RegExp, after = 0) =>
    waitFor(what, async () => (await postsToUser()).find((m) => m.value.sequence > after && re.test(m.value.content.text)), { timeoutMs })
  return { say, postsToUser, postMatching }
}
