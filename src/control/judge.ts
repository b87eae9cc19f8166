/**
 * The rules for commands: who may command a pub, and which verbs make sense in which state.
 * Pure; the verdict is a function of the record before the command and the command itself.
 */
import type { PubCommand } from '../protocol/command.js'
import type { Received } from '../protocol/parse.js'
import type { FoldContext, JudgedCommand, PubRecord } from './record.js'

type Verdict = JudgedCommand['verdict']

const ok = (note: string): Verdict => ({ ok: true, note })
const refuse = (code: Extract<Verdict, { ok: false }>['code'], reason: string): Verdict => ({ ok: false, code, reason })

/** Judge one command against the record as it stood before it. */
export function judge(record: PubRecord, cmd: Received<PubCommand>, ctx: FoldContext): Verdict {
  const { verb } = cmd.content
  if (cmd.author !== record.owner) return refuse('not-owner', 'only the owner of this pub may command it')
  if (record.rejected) return refuse('invalid-state', `this request was not accepted: ${record.rejected}`)
  if (record.intent === 'destroyed') return refuse('invalid-state', 'this pub has been destroyed')
  switch (verb) {
    case 'start':
      return ok(record.intent === 'running' ? 'already running' : 'starting')
    case 'stop':
      return ok(record.intent === 'stopped' ? 'already stopped' : 'stopping; data is kept')
    case 'destroy':
      return ok('destroying; data is kept for the retention period, then purged')
    case 'upgrade': {
      const wanted = cmd.content.args?.version
      if (wanted !== undefined && !ctx.versions.has(wanted)) {
        return refuse('unavailable', `version ${wanted} is not offered; offered: ${[...ctx.versions].join(', ') || 'none'}`)
      }
      return ok(`upgrading to ${wanted ?? 'the current version'}`)
    }
    case 'billing':
      // Not refused for a stopped pub: a lapsed one is stopped, and its owner needs the card page most then.
      return ok('billing link requested')
    case 'restart':
    case 'invite':
    case 'backup':
    case 'stats': {
      if (record.intent === 'stopped') return refuse('invalid-state', `the pub is stopped; start it before ${verb}`)
      // Refused rather than clamped: an owner who asked for 50 uses should not find out from a dead invite.
      const uses = cmd.content.verb === 'invite' ? cmd.content.args?.uses : undefined
      if (uses !== undefined && ctx.inviteMaxUses !== undefined && uses > ctx.inviteMaxUses) {
        return refuse('unavailable', `an invite here may have at most ${ctx.inviteMaxUses} uses (asked for ${uses}); ask for fewer`)
      }
      return ok(verb === 'restart' ? 'restarting' : `${verb} requested`)
    }
  }
}

/** Apply an accepted command's effect on the desired state. One-shot verbs change nothing here. */
export function applyCommand(record: PubRecord, cmd: Received<PubCommand>): PubRecord {
  switch (cmd.content.verb) {
    case 'start':
      return { ...record, intent: 'running' }
    case 'stop':
      return { ...record, intent: 'stopped' }
    case 'destroy':
      return { ...record, intent: 'destroyed', destroyedAt: cmd.receivedAt, destroyedSequence: cmd.sequence }
    case 'restart':
      return { ...record, restartGeneration: record.restartGeneration + 1 }
    case 'upgrade':
      return { ...record, version: cmd.content.args?.version }
    case 'invite':
    case 'backup':
    case 'stats':
    case 'billing':
      return record
  }
}
