/** Valid sample messages of every protocol type, with real ids, for schema and fold tests. */
import { createHash } from 'node:crypto'
import { generateKeys } from '../../src/ssb/keys.js'
import type { FeedId, MsgId } from '../../src/protocol/ids.js'

export const owner = generateKeys().id
export const provider = generateKeys().id
export const stranger = generateKeys().id

/** A syntactically valid message id derived from a label. */
export function msgId(label: string): MsgId {
  return `%${createHash('sha256').update(label).digest('base64')}.sha256`
}

export const requestId = msgId('request')
export const commandId = msgId('command')

export const samples = {
  'buttcloud/offer': {
    type: 'buttcloud/offer',
    version: 1,
    name: 'ButtCloud',
    plans: [{ id: 'basic', name: 'Basic', memoryMiB: 128, price: 100, currency: 'usd', interval: 'month', diskMiB: 512, webView: true }],
    paymentSite: 'https://pay.example.org',
    terms: 'https://pay.example.org/terms',
    operator: { name: 'Example Pubs Ltd', contact: 'help@pay.example.org', jurisdiction: 'Ireland' },
  },
  'buttcloud/request': { type: 'buttcloud/request', version: 1, provider, plan: 'basic', name: 'my pub', recps: [owner, provider] },
  'buttcloud/command': { type: 'buttcloud/command', version: 1, request: requestId, verb: 'invite', args: { uses: 2 }, recps: [owner, provider] },
  'buttcloud/status': {
    type: 'buttcloud/status',
    version: 1,
    request: requestId,
    state: 'up',
    pub: { id: owner, address: `net:pub.example.org:8008~shs:${owner.slice(1, -8)}`, web: 'http://pub.example.org:9008/' },
    invite: `pub.example.org:8008:${owner}~${Buffer.alloc(32, 7).toString('base64')}`,
    recps: [owner, provider],
  },
  'buttcloud/reply': {
    type: 'buttcloud/reply',
    version: 1,
    command: commandId,
    request: requestId,
    ok: false,
    error: { code: 'not-owner', reason: 'only the owner may command this pub' },
    recps: [stranger, provider],
  },
  'buttcloud/stats': {
    type: 'buttcloud/stats',
    version: 1,
    request: requestId,
    summary: {
      window: { from: 1_700_000_000_000, to: 1_700_086_400_000 },
      samples: 24,
      cpu: { avgPercent: 0.5, maxPercent: 3 },
      memory: { avgBytes: 30_000_000, maxBytes: 40_000_000, limitBytes: 134_217_728 },
      network: { rxBytes: 1000, txBytes: 2000 },
      disk: { usedBytes: 300_000_000, allowedBytes: 536_870_912 },
      uptimeSeconds: 86_400,
      restarts: 0,
    },
    recps: [owner, provider],
  },
} as const

/** A raw message envelope as ssb-db2 hands it over. */
/**
 * A message as ssb-db2 hands it over: `value.timestamp` is what the author claims (`timestamp`), the outer one when
 * it was stored (`receivedAt`; by default the claim, as for a peer whose clock is right).
 */
export function envelope(
  content: unknown,
  opts: { author?: FeedId; sequence?: number; timestamp?: number; receivedAt?: number; key?: MsgId } = {},
) {
  const sequence = opts.sequence ?? 1
  return {
    key: opts.key ?? msgId(`${opts.author ?? owner}:${sequence}:${JSON.stringify(content)}`),
    value: {
      previous: null,
      author: opts.author ?? owner,
      sequence,
      timestamp: opts.timestamp ?? 1_700_000_000_000 + sequence,
      content,
    },
    timestamp: opts.receivedAt ?? opts.timestamp ?? 1_700_000_000_000 + sequence,
  }
}
