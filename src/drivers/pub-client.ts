/**
 * The provider's (or an owner's) muxrpc client of a hosted pub: it dials the pub's multiserver address with its
 * own key, which the pub lists as a master, so no `docker exec` is needed. Each call opens a connection and closes
 * it again: calls are rare, and a kept connection would pin memory in every pub.
 */
import { InviteCode, FeedId, type MultiserverAddress } from '../protocol/ids.js'
import { DiskUsage } from '../protocol/disk.js'
import { clientCall, connectClient, type SbotClient } from '../ssb/client.js'
import type { SsbKeys } from '../ssb/keys.js'

export interface PubClientOptions {
  /** Secret-handshake capability of the pub's network (default: the main network). */
  caps?: string
  /** Give up after this long (connect + call). */
  timeoutMs?: number
}

export interface CreateInviteOptions extends PubClientOptions {
  /** How many people may use the code (default 1). */
  uses?: number
  /** Stored with the code on the pub, never shown to whoever uses it. */
  note?: string
}

/** Ask the pub at `pubAddress` to make an invite code; needs a master key (the provider's or the owner's). */
export async function createInvite(keys: SsbKeys, pubAddress: MultiserverAddress, opts: CreateInviteOptions = {}): Promise<InviteCode> {
  const request: { uses: number; note?: string } = { uses: opts.uses ?? 1 }
  if (opts.note !== undefined) request.note = opts.note
  const code = await withClient(keys, pubAddress, opts, (client) => clientCall<unknown>(client, 'invite.create', request))
  const parsed = InviteCode.safeParse(code)
  if (!parsed.success) throw new Error(`the pub at ${hostOf(pubAddress)} answered invite.create with something that is not an invite code`)
  return parsed.data
}

/** The feed id the pub at `pubAddress` answers `whoami` with; a master call, so it also proves the key's rights. */
export async function whoami(keys: SsbKeys, pubAddress: MultiserverAddress, opts: PubClientOptions = {}): Promise<FeedId> {
  const answer = await withClient(keys, pubAddress, opts, (client) => clientCall<{ id?: unknown }>(client, 'whoami'))
  return FeedId.parse(answer.id)
}

/**
 * A pub that has just started, asked for who it is and, on the same connection, its owner's first invite: the
 * provider's "up" carries both, and one secret handshake with a pub still busy starting costs ~100 ms under load.
 * The invite is left out (undefined) when only it fails: the pub answered, so it is up.
 */
export async function greet(keys: SsbKeys, pubAddress: MultiserverAddress, opts: PubClientOptions & { uses: number }): Promise<{ id: FeedId; invite?: InviteCode }> {
  return withClient(keys, pubAddress, opts, async (client) => {
    const answer = await clientCall<{ id?: unknown }>(client, 'whoami')
    const id = FeedId.parse(answer.id)
    const code = await clientCall<unknown>(client, 'invite.create', { uses: opts.uses }).catch(() => undefined)
    const invite = InviteCode.safeParse(code)
    return invite.success ? { id, invite: invite.data } : { id }
  })
}

/** How long closing a connection may take before it is abandoned. */
const CLOSE_WAIT_MS = 2000

/** The pub's own measurement of its log and blobs against its disk allowance (`pubDisk.usage`, masters only). */
export async function diskUsage(keys: SsbKeys, pubAddress: MultiserverAddress, opts: PubClientOptions = {}): Promise<DiskUsage> {
  const answer = await withClient(keys, pubAddress, opts, (client) => clientCall<unknown>(client, 'pubDisk.usage'))
  const parsed = DiskUsage.safeParse(answer)
  if (!parsed.success) throw new Error(`the pub at ${hostOf(pubAddress)} answered pubDisk.usage with something that is not a disk usage`)
  return parsed.data
}

/** What a pub's blob store holds (`buttcloudBlobs.usage`, pub/blobs.ts); a master call. */
export interface PubBlobUsage {
  count: number
  bytes: number
  /** Blobs its messages name that no connected peer has sent yet. */
  wanted: number
}

/** Ask the pub at `pubAddress` how many blobs, and bytes of them, it holds: its blob bytes against the plan's disk. */
export async function blobUsage(keys: SsbKeys, pubAddress: MultiserverAddress, opts: PubClientOptions = {}): Promise<PubBlobUsage> {
  const answer = await withClient(keys, pubAddress, opts, (client) => clientCall<Partial<Record<keyof PubBlobUsage, unknown>>>(client, 'buttcloudBlobs.usage'))
  const count = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined)
  const usage = { count: count(answer?.count), bytes: count(answer?.bytes), wanted: count(answer?.wanted) }
  if (usage.count === undefined || usage.bytes === undefined || usage.wanted === undefined) {
    throw new Error(`the pub at ${hostOf(pubAddress)} answered buttcloudBlobs.usage with something that is not a usage`)
  }
  return usage as PubBlobUsage
}

async function withClient<T>(keys: SsbKeys, address: MultiserverAddress, opts: PubClientOptions, fn: (client: SbotClient) => Promise<T>): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the pub at ${hostOf(address)} did not answer within ${timeoutMs} ms`)), timeoutMs)
  })
  const connecting = connectClient(keys, address, { caps: opts.caps })
  let client: SbotClient | undefined
  try {
    client = await Promise.race([connecting, timeout])
    return await Promise.race([fn(client), timeout])
  } finally {
    clearTimeout(timer)
    // The answer is returned at once and the connection closes behind it: a caller (a pass posting a pub's first
    // invite, a dial of a starting pub) waited ~90 ms per call for a close a pub busy starting was slow to finish.
    if (client) void closeClient(client)
    // A connection that completes after the timeout must still be closed.
    else connecting.then((late) => closeClient(late), () => undefined)
  }
}

/** Close a client, resolving when it has closed or after CLOSE_WAIT_MS, whichever comes first; never rejects. */
function closeClient(client: SbotClient): Promise<void> {
  return new Promise<void>((resolve) => {
    const giveUp = setTimeout(resolve, CLOSE_WAIT_MS)
    giveUp.unref()
    client.close(() => {
      clearTimeout(giveUp)
      resolve()
    })
  })
}

function hostOf(address: string): string {
  return address.replace(/~shs:.*/, '')
}
