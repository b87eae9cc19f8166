/**
 * A stale placement record: what a restore from an older backup leaves when the pub moved after that backup. The
 * record names the hub it left, while its service is pinned to the hub it moved to and serves there from the copy
 * its move made, whose volume says (`buttcloud.moved-from`) it came from the recorded hub.
 *
 * A move under way also has a record that names another hub than its service's, so the two must never be confused.
 * A move only ever starts off a drained hub (`mustMove`), and its record names the hub it goes to: while it is under
 * way the service's hub is drained, and a volume there labelled moved-from the record's hub can only be left by an
 * earlier move the other way (a pub moving back). So the rule asks for the service's hub not to be drained. The one
 * move it can then read as stale is one whose drain the operator undid mid-way, going back to the hub it came from:
 * the pub is then recorded where its service and data still are, on a hub that is active again, which loses nothing
 * (a copy already made is the stopped pub's data, purged as a finished move's once the pub serves again).
 */
import type { DesiredPub } from './types.js'
import { isLive, type World } from './world.js'

/**
 * Is this pub's record older than where its service runs (a move after the backup it was restored from)? Then it is
 * recorded where the service runs (`why: adopt`) and nothing is moved.
 */
export function staleRecord(pub: DesiredPub, world: World): boolean {
  const at = pub.placement
  if (at === undefined || !isLive(pub)) return false
  const svc = world.services.get(pub.request)
  const hub = svc?.hub
  if (hub === undefined || svc?.port === undefined || hub === at.hub) return false
  const there = world.hubs.get(hub)
  if (there === undefined || there.availability === 'drain') return false
  return (world.volumes.get(pub.request) ?? []).some((v) => v.hub === hub && v.movedFrom === at.hub)
}
