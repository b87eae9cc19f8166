/**
 * From the control plane's view of a pub (a record with payment applied) to the planner's DesiredPub, and the
 * pub's identity.
 *
 * The pub's key is derived, not generated: HMAC-SHA256(provider secret, request id) is the ed25519 seed. So the
 * provider knows every pub's id and address before the pub first starts, a crash between "key made" and "key
 * stored" cannot give a pub two identities, and nothing secret is ever written to the (replicated) log: the
 * provider's own secret key file is the only secret to keep.
 */
import { createHmac } from 'node:crypto'
import type { RuntimePub } from '../control/runtime.js'
import type { FeedId, MsgId } from '../protocol/ids.js'
import type { DesiredPub } from '../planner/index.js'
import { generateKeys, type SsbKeys } from '../ssb/keys.js'

/** Domain separation: a seed made for pub keys can never equal one the same secret makes for anything else. */
const KEY_CONTEXT = 'buttcloud/pub-key/v1\n'

/** The pub's ed25519 keys, derived deterministically from the provider's secret key and the request id. */
export function derivePubKeys(providerKeys: SsbKeys, request: MsgId): SsbKeys {
  const secret = Buffer.from(providerKeys.private.replace(/\.ed25519$/, ''), 'base64')
  if (secret.length !== 64) throw new Error('the provider key is not an ed25519 secret key')
  const seed = createHmac('sha256', secret).update(KEY_CONTEXT).update(request).digest()
  return generateKeys(seed)
}

/**
 * Derived keys, cached per request: one pass asks for every pub's id, and deriving is a signature-library call.
 * `retain` drops entries for pubs no longer listed, so the cache never outgrows the pub list.
 */
export class PubKeyring {
  private readonly cache = new Map<MsgId, SsbKeys>()

  constructor(private readonly providerKeys: SsbKeys) {}

  /** The keys of the pub for `request`. */
  keys(request: MsgId): SsbKeys {
    let keys = this.cache.get(request)
    if (!keys) this.cache.set(request, (keys = derivePubKeys(this.providerKeys, request)))
    return keys
  }

  /** The pub's feed id. */
  id(request: MsgId): FeedId {
    return this.keys(request).id
  }

  /** Forget every request not in `requests`. */
  retain(requests: ReadonlySet<MsgId>): void {
    for (const request of this.cache.keys()) if (!requests.has(request)) this.cache.delete(request)
  }
}

export interface DesiredOptions {
  /** The image version (tag) a pub runs when its owner never asked for one with `upgrade`. */
  defaultImageVersion: string
}

/**
 * The planner's desired pubs for one pass. `hold` pubs are left out: they are unpaid, expired or rejected, so they
 * were never placed and have nothing to converge; an existing service of theirs is then only warned about (an
 * orphan), never touched.
 */
export function desiredPubs(pubs: readonly RuntimePub[], keyring: PubKeyring, opts: DesiredOptions): DesiredPub[] {
  const out: DesiredPub[] = []
  for (const p of pubs) {
    if (p.intent === 'hold') continue
    const r = p.record
    // Assigned field by field rather than spread: this runs for every pub, destroyed ones included, on every pass.
    const pub = {
      request: r.request,
      owner: r.owner,
      plan: r.plan,
      memoryMiB: p.memoryMiB,
      pubId: keyring.id(r.request),
      requestedAt: r.requestedAt,
      restartGeneration: r.restartGeneration,
      imageVersion: r.version ?? opts.defaultImageVersion,
      intent: p.intent,
    } as DesiredPub
    if (r.name !== undefined) pub.name = r.name
    if (p.placement) {
      pub.placement = { hub: p.placement.hub, port: p.placement.port }
      if (p.placement.released) pub.placement.released = true
    }
    if (p.free) pub.free = true
    if (p.diskMiB !== undefined) pub.diskMiB = p.diskMiB
    if (p.webView !== undefined) pub.webView = p.webView
    if (p.hops !== undefined) pub.hops = p.hops
    if (pub.intent === 'destroyed') {
      // Without a destroy time the retention period cannot be counted; never purging is the safe side of that.
      pub.destroyedAt = p.destroyedAt ?? r.destroyedAt ?? Number.POSITIVE_INFINITY
    }
    out.push(pub)
  }
  return out
}
