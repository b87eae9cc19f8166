/** `buttcloud/reply` v1: the provider's answer to one command. Private to the command's author and the provider. */
import { z } from 'zod'
import { InviteCode, MsgId } from './ids.js'
import { Recps, WebUrl, line } from './common.js'
import { StatsSummary } from './stats.js'

export const ERROR_CODES = [
  'malformed', // the command did not parse
  'unknown-pub', // no request with that id reached this provider
  'not-owner', // the author did not post the request
  'invalid-state', // e.g. start on a destroyed pub
  'unavailable', // this provider cannot do that (yet)
  'internal', // our fault; the reason says what
] as const
export const ErrorCode = z.enum(ERROR_CODES)
export type ErrorCode = z.infer<typeof ErrorCode>

export const ReplyResult = z.strictObject({
  invite: InviteCode.optional(),
  /** Where the owner can download a backup, and until when. */
  backup: z.strictObject({ url: WebUrl, expires: z.number().int().min(0), bytes: z.number().int().min(0) }).optional(),
  stats: StatsSummary.optional(),
  /** A Stripe Customer Portal link (a secret, valid for a few minutes): card, invoices, cancellation. */
  billing: z.strictObject({ url: WebUrl }).optional(),
  message: line(300).optional(),
})
export type ReplyResult = z.infer<typeof ReplyResult>

export const CommandReply = z
  .strictObject({
    type: z.literal('buttcloud/reply'),
    version: z.literal(1),
    command: MsgId,
    request: MsgId.optional(),
    ok: z.boolean(),
    error: z.strictObject({ code: ErrorCode, reason: line(300) }).optional(),
    result: ReplyResult.optional(),
    recps: Recps,
  })
  .refine((r) => (r.ok ? r.error === undefined : r.error !== undefined), {
    message: 'an ok reply carries no error; a failed one carries one',
    path: ['error'],
  })
export type CommandReply = z.infer<typeof CommandReply>
