/** What the read-only RPC methods return: a record and its last status, without the command history. */
import type { ControlLedger } from '../../src/control/ledger.js'
import type { PubRecord } from '../../src/control/record.js'
import type { PubStatus } from '../../src/protocol/status.js'

export interface PubSummary {
  request: string
  owner: string
  name?: string
  plan: string
  intent: PubRecord['intent']
  requestedAt: number
  commands: number
  status?: Omit<PubStatus, 'type' | 'version' | 'recps'>
}

/** A record as the owner or the operator sees it over RPC. */
export function summarise(ledger: ControlLedger, record: PubRecord): PubSummary {
  const last = ledger.lastPostedStatus(record.request)
  let status: PubSummary['status']
  if (last) {
    const { type: _t, version: _v, recps: _r, ...rest } = last
    status = rest
  }
  return {
    request: record.request,
    owner: record.owner,
    name: record.name,
    plan: record.plan,
    intent: record.intent,
    requestedAt: record.requestedAt,
    commands: record.commands.length,
    status,
  }
}
