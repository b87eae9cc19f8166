/**
 * Ownership: the labels that mark a Docker object as ours and name its pub, and the deterministic object names.
 * One place decides "is this ours", so the drivers and the planner cannot disagree.
 */
import { MSG_ID_RE, type MsgId } from '../protocol/ids.js'

export const MANAGED_BY = 'buttcloud'

export const LABELS = {
  managedBy: 'buttcloud.managed-by',
  request: 'buttcloud.request',
  /** On a volume a move filled: the hub (node id) whose volume it was copied from. */
  movedFrom: 'buttcloud.moved-from',
} as const

export type Ownership = { ours: true; request: MsgId } | { ours: false; why: 'unlabelled' | 'bad-request-label' }

/** Decide from an object's labels whether it is ours, and for which request. */
export function ownership(labels: Readonly<Record<string, string>> | undefined): Ownership {
  if (!labels || labels[LABELS.managedBy] !== MANAGED_BY) return { ours: false, why: 'unlabelled' }
  const request = labels[LABELS.request]
  if (typeof request !== 'string' || !MSG_ID_RE.test(request)) return { ours: false, why: 'bad-request-label' }
  return { ours: true, request }
}

/** The labels to put on every object created for a pub. */
export function labelsFor(request: MsgId): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY, [LABELS.request]: request }
}

/**
 * The name of a pub's service, volume and secret. Deterministic so that a create repeated after a crash fails on
 * the name instead of making a second service; hex because Docker names allow no `+/=`, and 40 hex digits (160
 * bits of the request hash) because a service name must fit a 63-character DNS label.
 */
export function objectName(request: MsgId): string {
  const hex = Buffer.from(request.slice(1, -'.sha256'.length), 'base64').toString('hex')
  return `pub-${hex.slice(0, 40)}`
}
