/**
 * `buttcloud/command` v1: the owner tells their pub what to do. Private to owner and provider.
 * Only the author of the targeted request may command it; everyone else gets an error reply.
 */
import { z } from 'zod'
import { MsgId } from './ids.js'
import { Recps } from './common.js'

const NoArgs = z.strictObject({}).optional()

const base = {
  type: z.literal('buttcloud/command'),
  version: z.literal(1),
  /** The request message that created the pub. */
  request: MsgId,
  recps: Recps,
}

export const VERBS = ['start', 'stop', 'restart', 'invite', 'upgrade', 'backup', 'destroy', 'stats', 'billing'] as const
export const Verb = z.enum(VERBS)
export type Verb = z.infer<typeof Verb>

export const PubCommand = z.discriminatedUnion('verb', [
  z.strictObject({ ...base, verb: z.literal('start'), args: NoArgs }),
  z.strictObject({ ...base, verb: z.literal('stop'), args: NoArgs }),
  z.strictObject({ ...base, verb: z.literal('restart'), args: NoArgs }),
  z.strictObject({
    ...base,
    verb: z.literal('invite'),
    args: z.strictObject({ uses: z.number().int().min(1).max(100).optional() }).optional(),
  }),
  z.strictObject({
    ...base,
    verb: z.literal('upgrade'),
    // Which pub version to roll to; absent means the provider's current one.
    args: z
      .strictObject({ version: z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a version tag') })
      .optional(),
  }),
  z.strictObject({ ...base, verb: z.literal('backup'), args: NoArgs }),
  z.strictObject({ ...base, verb: z.literal('destroy'), args: NoArgs }),
  z.strictObject({ ...base, verb: z.literal('stats'), args: NoArgs }),
  // A private, short-lived link to Stripe's Customer Portal: card, invoices, cancellation.
  z.strictObject({ ...base, verb: z.literal('billing'), args: NoArgs }),
])
export type PubCommand = z.infer<typeof PubCommand>
