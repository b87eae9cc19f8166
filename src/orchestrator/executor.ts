/**
 * The executor: a typed map from action kind to handler (a kind without a handler is a compile error), run in the
 * planner's order. Changes go to the driver or the host; report and warn kinds become operator notes and log lines.
 *
 * One failed change does not end the pass for everyone: later changes of the same pub are skipped (they build on
 * the failed one, e.g. create-service after create-volume) and the next pass retries from what it observes. An
 * unreachable engine does end it: every later call would fail the same way, and the plugin must say so.
 */
import type { RuntimeHost } from '../control/runtime.js'
import type { MsgId } from '../protocol/ids.js'
import { isChange, REASON_TEXT, type Action, type ActionKind, type ActionOf } from '../planner/index.js'
import type { PubKeyring } from './desired.js'
import type { PubDriver } from '../control/driver.js'
import { crashPoint } from '../faults/crash-point.js'

/** One handler per action kind. */
export type Handlers = { [K in ActionKind]: (action: ActionOf<K>) => Promise<void> }

/** What the operator should know now: keyed so a note repeated pass after pass is logged once. */
export interface OperatorNotes {
  note(key: string, line: string): void
}

export interface HandlerDeps {
  driver: PubDriver
  host: Pick<RuntimeHost, 'recordPlacement' | 'releasePlacement' | 'providerId' | 'log'>
  keyring: PubKeyring
  notes: OperatorNotes
}

/** The handlers for one runtime. */
export function createHandlers({ driver, host, keyring, notes }: HandlerDeps): Handlers {
  const identity = (request: MsgId) => ({ keys: keyring.keys(request), provider: host.providerId })
  return {
    'record-placement': async (a) => {
      await host.recordPlacement(a.request, a.hub, a.port, a.why)
      host.log(`placed ${a.request} on ${a.hub}:${a.port} (${a.why})`)
    },
    'remove-service': async (a) => {
      await driver.removeService(a.request, a.serviceId)
      host.log(`removed service ${a.serviceName} of ${a.request} (${a.why})`)
    },
    'create-volume': async (a) => {
      await driver.createVolume(a.request, a.hub)
    },
    'create-service': async (a) => {
      await driver.createService(a.spec, identity(a.spec.request))
      host.log(`created the service of ${a.spec.request} on ${a.spec.hub}:${a.spec.port} (image ${a.spec.imageVersion}, ${a.spec.memoryMiB} MiB)`)
    },
    'move-data': async (a) => {
      if (!driver.moveData) throw new Error(`the ${driver.name} runtime cannot move pubs between hubs`)
      await driver.moveData(a.request, a.from, a.to, a.imageVersion)
      host.log(`copied the data of ${a.request} from hub ${a.from} to hub ${a.to} (move)`)
    },
    'update-service': async (a) => {
      await driver.updateService(a.serviceId, a.spec, identity(a.spec.request))
      host.log(`updated the service of ${a.spec.request}: ${a.changes.join(', ')}`)
    },
    'purge-volume': async (a) => {
      await driver.purgeVolume(a.request, a.hub, a.volumeName)
      host.log(`purged volume ${a.volumeName} of ${a.request} on ${a.hub} (${a.why === 'moved' ? 'moved: it serves from its copy' : 'retention over'})`)
    },
    'release-placement': async (a) => {
      await host.releasePlacement(a.request, a.hub, a.port)
      host.log(`released port ${a.hub}:${a.port} of ${a.request} (purged)`)
    },
    'report-queued': async (a) => {
      notes.note(`queued ${a.request}`, `queued: ${a.request} (${a.memoryMiB} MiB) fits on no hub`)
    },
    'report-resize-blocked': async (a) => {
      notes.note(`resize ${a.request}`, `resize blocked: ${a.request} keeps ${a.haveMiB} MiB (wants ${a.wantMiB}) on full hub ${a.hub}`)
    },
    'report-move-blocked': async (a) => {
      const why = a.why === 'no-room' ? 'no other hub has room and a free port' : "its data on that hub cannot be read (is the hub's engine in hubEngines and up?)"
      notes.note(`move ${a.request}`, `move blocked: ${a.request} stays on drained hub ${a.hub}: ${why}`)
    },
    'report-hubs-needed': async (a) => {
      notes.note('hubs-needed', `hubs needed: ${a.count} x ${a.memoryMiB} MiB for ${a.queued} queued pubs`)
    },
    'report-hub-unavailable': async (a) => {
      notes.note(`hub ${a.hub}`, `hub ${a.hub} is unavailable (${REASON_TEXT['hub-unavailable']}) with ${a.pubs} pubs placed on it`)
    },
    'warn-conflict': async (a) => {
      notes.note(
        `conflict ${a.request}`,
        a.unrecorded
          ? `conflict: ${a.request} has no placement record and its service listens on ${a.hub}:${a.port}, which the record of ${a.holder} holds; the record wins: the service is left alone, and recorded there once that port is free`
          : a.stale
          ? `conflict: ${a.request} moved after the backup its record came from and its service listens on ${a.hub}:${a.port}, which the record of ${a.holder} holds; the service is left alone, and recorded there once that port is free`
          : `conflict: ${a.request} claims ${a.hub}:${a.port}, held by ${a.holder}; left alone for the operator`,
      )
    },
    'warn-duplicate-desired': async (a) => {
      notes.note(`duplicate ${a.request}`, `the pub list named ${a.request} twice with different content`)
    },
    'warn-orphan': async (a) => {
      notes.note(`orphan ${a.object} ${a.id}`, `orphan ${a.object} ${a.name} of ${a.request} (${a.why}): left alone`)
    },
    'warn-foreign': async (a) => {
      notes.note(`foreign ${a.object.kind} ${a.object.id}`, `not ours (${a.object.why}): ${a.object.kind} ${a.object.name}, never touched`)
    },
  }
}

/** The request an action is about, if it is about one pub. */
export function requestOf(action: Action): MsgId | undefined {
  switch (action.kind) {
    case 'create-service':
    case 'update-service':
      return action.spec.request
    case 'warn-foreign':
    case 'report-hubs-needed':
    case 'report-hub-unavailable':
      return undefined
    default:
      return action.request
  }
}

export interface ExecutionResult {
  /** Changes that went through, in order. */
  done: Action[]
  failed: Array<{ action: Action; error: Error }>
  /** Changes not tried because an earlier change of the same pub failed. */
  skipped: Action[]
}

/** Run `actions` in order through `handlers`; throws only when the driver says the engine is unreachable. */
export async function execute(
  actions: readonly Action[],
  handlers: Handlers,
  opts: { isUnreachable(err: unknown): boolean; log(line: string): void },
): Promise<ExecutionResult> {
  const result: ExecutionResult = { done: [], failed: [], skipped: [] }
  const failedPubs = new Set<MsgId>()
  for (const action of actions) {
    const request = requestOf(action)
    const change = isChange(action)
    if (change && request !== undefined && failedPubs.has(request)) {
      result.skipped.push(action)
      continue
    }
    try {
      // The cast pairs each action with its own kind's handler: TypeScript cannot correlate the two through an index.
      await (handlers[action.kind] as (a: Action) => Promise<void>)(action)
      if (change) {
        result.done.push(action)
        crashPoint(`after:${action.kind}`)
      }
    } catch (err) {
      if (opts.isUnreachable(err)) throw err
      const error = err instanceof Error ? err : new Error(String(err))
      result.failed.push({ action, error })
      if (request !== undefined) failedPubs.add(request)
      opts.log(`${action.kind}${request ? ` for ${request}` : ''} failed: ${error.message}`)
    }
  }
  return result
}
