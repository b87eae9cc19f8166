/**
 * The command grammar of private posts: what a Patchwork or Manyverse user types to the provider, parsed into the
 * same typed content a `buttcloud/request` or `buttcloud/command` carries (then checked by the same schemas), or
 * into a question (`pubs`, `status`, `help`). Pure. The grammar is documented in docs/PROTOCOL.md.
 */
import type { Verb } from '../protocol/command.js'

/** A command line, parsed; `pub` is a word still to be resolved (a name or a request id prefix). */
export type CommandLine =
  | { kind: 'request'; plan: string; name?: string }
  | { kind: 'pubs' }
  | { kind: 'help' }
  | { kind: 'status'; pub: string }
  | { kind: 'command'; verb: Verb; pub: string; args?: { uses?: number; version?: string } }
  | { kind: 'invalid'; reason: string }

/** The one help text: every form of the grammar. */
export const HELP_TEXT = [
  'Commands (send them to this provider as a private message, one per message):',
  '  request [plan] [name]   ask for a pub (plan defaults to the first offered)',
  '  pubs                    list your pubs',
  '  status <pub>            where a pub stands',
  '  invite <pub> [uses]     a new invite code',
  '  start|stop|restart|backup|stats <pub>',
  '  billing <pub>           a short-lived link to manage your card, invoices and subscription',
  '  upgrade <pub> [version]',
  '  destroy <pub> confirm   destroy a pub (its data is kept for the retention period)',
  '  help                    this text',
  'A <pub> is its name or the start of its request id (at least 4 characters).',
].join('\n')

const SIMPLE_VERBS = new Set<Verb>(['start', 'stop', 'restart', 'backup', 'stats', 'billing'])

/** Parse the text of a private post as a command line. `plans` are the plan ids offered, the first the default. */
export function parseCommandLine(text: string, plans: readonly string[]): CommandLine {
  const words = stripMentions(text.trim()).split(/\s+/).filter((w) => w.length > 0)
  const [first, ...rest] = words
  if (!first) return invalid('the message is empty')
  const verb = first.toLowerCase()
  /** The one word after the verb, when there is exactly one. */
  const one = (): string | undefined => (rest.length === 1 ? rest[0] : undefined)
  switch (verb) {
    case 'help':
      return rest.length === 0 ? { kind: 'help' } : usage('help')
    case 'pubs':
      return rest.length === 0 ? { kind: 'pubs' } : usage('pubs')
    case 'request': {
      const plan = rest[0] !== undefined && plans.includes(rest[0].toLowerCase()) ? rest.shift()!.toLowerCase() : plans[0]
      if (!plan) return invalid('this provider offers no plans')
      const name = rest.join(' ')
      return { kind: 'request', plan, ...(name ? { name } : {}) }
    }
    case 'status': {
      const pub = one()
      return pub ? { kind: 'status', pub } : usage('status <pub>')
    }
    case 'invite': {
      if (rest.length < 1 || rest.length > 2) return usage('invite <pub> [uses]')
      if (rest[1] === undefined) return { kind: 'command', verb: 'invite', pub: rest[0]! }
      if (!/^[0-9]{1,3}$/.test(rest[1])) return invalid(`"${rest[1].slice(0, 20)}" is not a number of uses`)
      return { kind: 'command', verb: 'invite', pub: rest[0]!, args: { uses: Number(rest[1]) } }
    }
    case 'upgrade': {
      if (rest.length < 1 || rest.length > 2) return usage('upgrade <pub> [version]')
      return { kind: 'command', verb: 'upgrade', pub: rest[0]!, ...(rest[1] ? { args: { version: rest[1] } } : {}) }
    }
    case 'destroy':
      if (rest.length !== 2 || rest[1]!.toLowerCase() !== 'confirm') return usage('destroy <pub> confirm')
      return { kind: 'command', verb: 'destroy', pub: rest[0]! }
    default:
      if (SIMPLE_VERBS.has(verb as Verb)) {
        const pub = one()
        return pub ? { kind: 'command', verb: verb as Verb, pub } : usage(`${verb} <pub>`)
      }
      return invalid(`"${first.slice(0, 30)}" is not a command`)
  }
}

/** A pub the grammar can name: its request id, owner and name. */
export interface NamedPub {
  request: string
  owner: string
  name?: string
}

/** Which pub a word names: one of the author's own by name, else any by request id prefix; or why none. */
export function resolvePub(word: string, author: string, pubs: Iterable<NamedPub>): { request: string } | { problem: string } {
  const all = [...pubs]
  const byName = all.filter((p) => p.owner === author && p.name === word)
  if (byName.length === 1) return { request: byName[0]!.request }
  if (byName.length > 1) return { problem: `you have ${byName.length} pubs named "${word}"; name one by the start of its request id` }
  const prefix = word.startsWith('%') ? word : `%${word}`
  if (prefix.length < 5) return { problem: `no pub of yours is named "${word.slice(0, 64)}"` }
  const byId = all.filter((p) => p.request.startsWith(prefix))
  if (byId.length === 1) return { request: byId[0]!.request }
  if (byId.length > 1) return { problem: `"${word.slice(0, 64)}" is the start of ${byId.length} request ids; give more of it` }
  return { problem: `no pub of yours is named "${word.slice(0, 64)}"` }
}

/** Leading mentions ("@ButtCloud", "[@ButtCloud](@…)") are how a client addresses a post, not part of the command. */
function stripMentions(text: string): string {
  return text.replace(/^(?:(?:\[@[^\]]*\]\([^)]*\)|@\S+)\s*)+/, '')
}

function invalid(reason: string): CommandLine {
  return { kind: 'invalid', reason }
}

function usage(form: string): CommandLine {
  return invalid(`usage: ${form}`)
}
