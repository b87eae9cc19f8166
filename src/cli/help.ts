/** Help texts: the global usage (with the exit codes) and one page per command. */
import { VERBS } from '../protocol/command.js'
import type { CommandName } from './args.js'
import { EXIT_CODE_HELP } from './exit-codes.js'

const CONNECTION = `Connection (every command):
  --ssb-dir <dir>        your sbot's folder (default ~/.ssb, as Patchwork uses; $ssb_appname is honoured).
                         Reads <dir>/config and <dir>/secret; uses <dir>/socket when present, else TCP.
  --remote <address>     a multiserver address instead, e.g. net:host:8008~shs:<key>
  --key-file <file>      the secret to connect with (default <dir>/secret)
  --json                 machine-readable output on stdout (messages go to stderr)
  -h, --help             help for a command`

const SUMMARY: Record<CommandName, string> = {
  join: 'join <invite>                  join a ButtCloud provider with its invite code',
  offers: 'offers                         plans offered by the providers you follow',
  request: 'request [options]              ask a provider for a pub',
  pubs: 'pubs                           your pubs and where each stands',
  status: 'status <pub>                   one pub in detail',
  watch: 'watch <pub> [--timeout S]      wait until the pub is up (or settles otherwise)',
  command: 'command <pub> <verb> [options] tell a pub what to do and print the answer',
}

/** The top-level `buttcloud --help`. */
export function globalHelp(): string {
  return `buttcloud: get and run a Scuttlebutt pub from ButtCloud, over Scuttlebutt itself.
It talks to your own running sbot (Patchwork or ssb-server) and posts typed messages to the provider.

Usage: buttcloud <command> [options]

Commands:
${Object.values(SUMMARY)
  .map((s) => `  ${s}`)
  .join('\n')}
  help [command]                 this text, or a command's

<pub> is the pub's request id (%…), a unique prefix of it as printed by \`pubs\`, or its name.

${CONNECTION}
  --version              print the CLI's version

Exit codes:
${EXIT_CODE_HELP.map(([code, text]) => `  ${String(code).padEnd(4)} ${text}`).join('\n')}

Getting a pub, from Patchwork:
  buttcloud join '<invite code from the provider>'
  buttcloud offers
  buttcloud request --name my-pub --watch
  buttcloud command my-pub invite          # paste the code into Patchwork's "Join pub"
`
}

const PAGES: Record<CommandName, string> = {
  join: `Usage: buttcloud join <invite>

Accepts a provider's invite code on your sbot (invite.accept): your sbot and the provider then follow each other,
so the provider receives your requests and you receive its offer and its answers. Afterwards: buttcloud offers.
Exit 1 when the provider refuses the invite.`,

  offers: `Usage: buttcloud offers [--json]

Lists the plans in the latest offer of every provider your sbot has replicated. An offer appears shortly after
\`join\`, once the provider's feed has reached your sbot.`,

  request: `Usage: buttcloud request [--plan ID] [--name NAME] [--provider @ID] [--private] [--watch [--timeout S]]

Publishes a buttcloud/request from your feed. Prints the request id: the pub's id from then on.
  --provider @ID   the provider to ask (default: the only provider whose offer you have)
  --plan ID        a plan id from \`buttcloud offers\` (default: that provider's cheapest plan)
  --name NAME      what to call the pub (up to 64 characters)
  --private        box the request to you and the provider, instead of posting it publicly
  --watch          then wait as \`buttcloud watch\` does
  --timeout S      with --watch: give up after S seconds (exit 4)
Exit 5 when there is no offer to pick from or the plan is not in it.`,

  pubs: `Usage: buttcloud pubs [--json]

Your pubs (the requests you posted) with the latest state their provider reported.`,

  status: `Usage: buttcloud status <pub> [--json]

One pub: plan, provider, state and since when, its address once up, a payment link while awaiting payment,
the latest invite code the provider sent, the state history, and your commands with their answers.
Exit 5 when no pub matches <pub>.`,

  watch: `Usage: buttcloud watch <pub> [--timeout S] [--json]

Waits, printing each state change with the time elapsed, until the pub settles:
  up, stopped, destroyed   exit 0
  failed                   exit 1 (the reason is printed)
  awaiting-payment         exit 6 (the payment link is printed)
  --timeout S              give up after S seconds: exit 4
With --json, the pub as \`status --json\` prints it goes to stdout when the watch ends.`,

  command: `Usage: buttcloud command <pub> <verb> [--uses N] [--version V] [--no-wait] [--timeout S] [--json]

Publishes a buttcloud/command, private to you and the provider, then waits for the provider's reply and prints
its result (for \`invite\`, an invite code to paste into Patchwork's "Join pub").
  <verb>          ${VERBS.join(', ')}
  --uses N        invite: how many people may use the code (1-100)
  --version V     upgrade: the pub version to roll to (default: the provider's current one)
  --no-wait       print the command id and return without waiting
  --timeout S     give up waiting after S seconds (default 120): exit 4; the command still stands
Exit 1 when the provider answers with an error.`,
}

/** The help page of one command. */
export function commandHelp(name: CommandName): string {
  return `${PAGES[name]}\n\n${CONNECTION}\n`
}
