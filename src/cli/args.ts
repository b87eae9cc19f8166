/**
 * The command line, parsed into one typed invocation. Every value a user types is checked here with the protocol's
 * own schemas, so a bad plan id or pub name is a usage error (exit 2) and never reaches the sbot.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { VERBS, type Verb } from '../protocol/command.js'
import { PubName, Slug } from '../protocol/common.js'
import { FeedId, InviteCode } from '../protocol/ids.js'
import { describeIssues } from '../protocol/parse.js'
import { CliError, EXIT } from './exit-codes.js'
import type { z } from 'zod'

export const COMMAND_NAMES = ['join', 'offers', 'request', 'pubs', 'status', 'watch', 'connect', 'command'] as const
export type CommandName = (typeof COMMAND_NAMES)[number]

/** Where the user's sbot is and how to print. */
export interface GlobalOptions {
  ssbDir?: string
  remote?: string
  keyFile?: string
  /** Dial the sbot over TCP at this host and port instead of what its folder says (Manyverse desktop). */
  host?: string
  port?: number
  json: boolean
}

export type CommandArgs =
  | { name: 'join'; invite: string }
  | { name: 'offers' }
  | { name: 'request'; plan?: string; pubName?: string; provider?: FeedId; private: boolean; watch: boolean; connect: boolean; timeoutMs?: number }
  | { name: 'pubs'; connect: boolean }
  | { name: 'status'; pub: string }
  | { name: 'watch'; pub: string; connect: boolean; timeoutMs?: number }
  | { name: 'connect'; pub: string }
  | { name: 'command'; pub: string; verb: Verb; uses?: number; version?: string; wait: boolean; timeoutMs?: number }

export type Invocation =
  | { kind: 'help'; topic?: CommandName }
  | { kind: 'version' }
  | { kind: 'run'; global: GlobalOptions; command: CommandArgs }

type Options = NonNullable<ParseArgsConfig['options']>

const GLOBAL_OPTIONS = {
  'ssb-dir': { type: 'string' },
  remote: { type: 'string' },
  'key-file': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies Options

/** Each command's own options; `--version` is the CLI's version everywhere except as `command … upgrade`'s value. */
const COMMAND_OPTIONS = {
  join: {},
  offers: {},
  request: {
    plan: { type: 'string' },
    name: { type: 'string' },
    provider: { type: 'string' },
    private: { type: 'boolean' },
    public: { type: 'boolean' },
    watch: { type: 'boolean' },
    'no-connect': { type: 'boolean' },
    timeout: { type: 'string' },
  },
  pubs: { 'no-connect': { type: 'boolean' } },
  status: {},
  watch: { timeout: { type: 'string' }, 'no-connect': { type: 'boolean' } },
  connect: {},
  command: {
    uses: { type: 'string' },
    version: { type: 'string' },
    'no-wait': { type: 'boolean' },
    timeout: { type: 'string' },
  },
} as const satisfies Record<CommandName, Options>

/** The longest wait a user can ask for: a day. */
const MAX_TIMEOUT_S = 86_400

function usage(message: string): CliError {
  return new CliError(EXIT.USAGE, message)
}

function isCommandName(s: string): s is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(s)
}

/** Parse argv (without node and the script) into an invocation; throws a usage CliError. */
export function parseCommandLine(argv: readonly string[]): Invocation {
  // First pass: find the command word. Every option that takes a value is declared, so values are not mistaken
  // for the command; `version` stays a flag here, as it is everywhere but `command … upgrade --version V`.
  const allValueOptions: Options = { ...GLOBAL_OPTIONS }
  for (const opts of Object.values(COMMAND_OPTIONS)) {
    for (const [name, def] of Object.entries(opts)) if (name !== 'version') allValueOptions[name] = def
  }
  const scan = parseArgs({ args: [...argv], options: allValueOptions, strict: false, allowPositionals: true })
  const word = scan.positionals[0]

  if (word === undefined) {
    if (argv.includes('--version')) return { kind: 'version' }
    if (argv.length === 0 || scan.values.help === true) return { kind: 'help' }
    throw usage('missing command (try buttcloud --help)')
  }
  if (word === 'help') {
    const topic = scan.positionals[1]
    if (topic === undefined) return { kind: 'help' }
    if (!isCommandName(topic)) throw usage(`unknown command "${topic}" (try buttcloud --help)`)
    return { kind: 'help', topic }
  }
  if (!isCommandName(word)) throw usage(`unknown command "${word}" (try buttcloud --help)`)

  const parsed = (() => {
    try {
      return parseArgs({
        args: [...argv],
        options: { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[word] },
        strict: true,
        allowPositionals: true,
      })
    } catch (err) {
      throw usage(`${word}: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`)
    }
  })()
  const values = parsed.values as Record<string, string | boolean | undefined>
  if (values.help === true) return { kind: 'help', topic: word }
  if (word !== 'command' && values.version === true) return { kind: 'version' }

  const global: GlobalOptions = {
    ...(typeof values['ssb-dir'] === 'string' && { ssbDir: nonEmpty('--ssb-dir', values['ssb-dir']) }),
    ...(typeof values.remote === 'string' && { remote: nonEmpty('--remote', values.remote) }),
    ...(typeof values['key-file'] === 'string' && { keyFile: nonEmpty('--key-file', values['key-file']) }),
    ...(typeof values.host === 'string' && { host: nonEmpty('--host', values.host) }),
    ...(typeof values.port === 'string' && { port: portNumber(values.port) }),
    json: values.json === true,
  }
  if (global.ssbDir && global.remote) throw usage('use --ssb-dir or --remote, not both')
  if (global.remote && (global.host !== undefined || global.port !== undefined)) throw usage('--remote already names the address; drop --host and --port')
  const args = parsed.positionals.slice(1)
  return { kind: 'run', global, command: commandArgs(word, args, values) }
}

function commandArgs(word: CommandName, args: string[], values: Record<string, string | boolean | undefined>): CommandArgs {
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined)
  const positionals = (names: string[]): string[] => {
    if (args.length < names.length) throw usage(`${word}: missing ${names.slice(args.length).map((n) => `<${n}>`).join(' ')}`)
    if (args.length > names.length) throw usage(`${word}: unexpected argument "${args[names.length]}"`)
    return args
  }

  switch (word) {
    case 'join': {
      const [invite] = positionals(['invite'])
      return { name: 'join', invite: checked('invite code', InviteCode, invite!.trim()) }
    }
    case 'offers':
      positionals([])
      return { name: 'offers' }
    case 'pubs':
      positionals([])
      return { name: 'pubs', connect: values['no-connect'] !== true }
    case 'status': {
      const [pub] = positionals(['pub'])
      return { name: 'status', pub: pub! }
    }
    case 'watch': {
      const [pub] = positionals(['pub'])
      return { name: 'watch', pub: pub!, connect: values['no-connect'] !== true, ...timeout(str('timeout')) }
    }
    case 'connect': {
      const [pub] = positionals(['pub'])
      return { name: 'connect', pub: pub! }
    }
    case 'request': {
      positionals([])
      const plan = str('plan')
      const pubName = str('name')
      const provider = str('provider')
      if (values.timeout !== undefined && values.watch !== true) throw usage('request: --timeout needs --watch')
      if (values['no-connect'] === true && values.watch !== true) throw usage('request: --no-connect goes with --watch')
      if (values.public === true && values.private === true) throw usage('request: --public or --private, not both')
      return {
        name: 'request',
        ...(plan !== undefined && { plan: checked('--plan', Slug, plan) }),
        ...(pubName !== undefined && { pubName: checked('--name', PubName, pubName) }),
        ...(provider !== undefined && { provider: checked('--provider', FeedId, provider) }),
        // Private unless asked: a public request tells everyone who is a customer of whom.
        private: values.public !== true,
        watch: values.watch === true,
        connect: values['no-connect'] !== true,
        ...timeout(str('timeout')),
      }
    }
    case 'command': {
      const [pub, verbWord] = positionals(['pub', 'verb'])
      if (!(VERBS as readonly string[]).includes(verbWord!)) throw usage(`command: unknown verb "${verbWord}" (one of ${VERBS.join(', ')})`)
      const verb = verbWord as Verb
      const uses = str('uses')
      const version = str('version')
      if (uses !== undefined && verb !== 'invite') throw usage('command: --uses goes with the invite verb')
      if (version !== undefined && verb !== 'upgrade') throw usage('command: --version goes with the upgrade verb')
      const wait = values['no-wait'] !== true
      if (!wait && values.timeout !== undefined) throw usage('command: --timeout and --no-wait do not go together')
      return {
        name: 'command',
        pub: pub!,
        verb,
        // Bounds and format come from the command schema when the command is built (commands/command.ts).
        ...(uses !== undefined && { uses: integer('--uses', uses) }),
        ...(version !== undefined && { version: nonEmpty('--version', version) }),
        wait,
        ...timeout(str('timeout')),
      }
    }
  }
}

function nonEmpty(option: string, value: string): string {
  if (value.trim() === '') throw usage(`${option} needs a value`)
  return value
}

function checked<T>(what: string, schema: z.ZodType<T>, value: string): T {
  const result = schema.safeParse(value)
  if (!result.success) throw usage(`${what}: ${describeIssues(result.error).replace(/^\(message\): /, '')}`)
  return result.data
}

function portNumber(value: string): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : 0
  if (n < 1 || n > 65535) throw usage('--port: expected a port number, 1-65535')
  return n
}

function integer(option: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw usage(`${option}: expected a whole number`)
  return Number(value)
}

function timeout(value: string | undefined): { timeoutMs?: number } {
  if (value === undefined) return {}
  const s = Number(value)
  if (value.trim() === '' || !Number.isFinite(s) || s <= 0 || s > MAX_TIMEOUT_S) {
    throw usage(`--timeout: expected seconds, more than 0 and at most ${MAX_TIMEOUT_S}`)
  }
  return { timeoutMs: Math.round(s * 1000) }
}
