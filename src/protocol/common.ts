/** Building blocks shared by every ButtCloud message schema. */
import { z } from 'zod'
import { FeedId } from './ids.js'
import { NO_CONTROL_CHARS_RE, PUB_NAME_MAX } from './text-checks.js'

/** Every ButtCloud message type lives under this namespace. */
export const NAMESPACE = 'buttcloud/'

/** Box1 carries 1-7 recipients. */
export const Recps = z.array(FeedId).min(1).max(7)

/** A bounded, single-line human text without control characters. */
export function line(max: number) {
  return z.string().min(1).max(max).regex(NO_CONTROL_CHARS_RE, 'control characters are not allowed')
}

/** A short identifier: lowercase letters, digits and dashes. */
export const Slug = z.string().min(1).max(32).regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lowercase letters, digits and dashes')

/** An http(s) URL of bounded length. */
export const WebUrl = z
  .string()
  .max(500)
  .regex(/^https?:\/\/[^\s]+$/, 'expected an http(s) URL')

/** Milliseconds since the epoch, as SSB timestamps are. */
export const Millis = z.number().int().min(0).max(8.64e15)

/** An unsigned integer count of bytes (or anything else). */
export const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

/** A pub's human name: what the owner calls it, shown in its about message and web view. */
export const PubName = line(PUB_NAME_MAX)
