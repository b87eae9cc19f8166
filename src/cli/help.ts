/** Help texts: the global usage (with the exit codes) and one page per command. */
import { VERBS } from '../protocol/command.js'
import type { CommandName } from './args.js'
import { EXIT_CODE_HELP } from './exit-codes.js'

const CONNECTION = `Connection (every command):
  --ssb-dir <dir>        your sbot's folder (default ~/.ssb, as Patchwork uses; $ssb_appname is honoured).
                         Reads <dir>/config and <dir>/secret; uses <dir>/socket when present, then every
                         incoming net address in the config (default 127.0.0.1:8008).
  --host <host>          dial the sbot over TCP at this host instead (default 127.0.0.1)
  --port <port>          ... and this port (Manyverse desktop: --ssb-dir ~/.config/manyverse/ssb
                         --host <this machine's LAN address> --port 26831)
  --remote <address>     a multiserver address instead, e.g. net:host:8008~shs:<key>
  --key-file <file>      the secret to connect with (default <dir>/secret)
  --json                 machine-readable output on stdout; stderr carries JSON lines too:
                         {"note": ...} and, on failure, {"error": {"code", "exit", "message"}}
  -h, --help             help for a command`

const SUMMARY: Record<CommandName, string> = {
  join: 'join <invite>                  join a ButtCloud provider with its invite code',
  offers: 'offers                         plans offered by the providers you follow',
  request: 'request [options]              ask a provider for a pub',
  pubs: 'pubs                           your pubs and where each stands',
  status: 'status <pub>                   one pub in detail',
  watch: 'watch <pub> [--timeout S]      wait until the pub is up (or settles otherwise)',
  connect: 'connect <pub>                  make your sbot join your pub (invite, or remember it)',
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
  buttcloud request --name my-pub --watch  # once up, your sbot joins the pub
  buttcloud command my-pub invite          # a code for friends: Patchwork's "Join pub"
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

  request: `Usage: buttcloud request [--plan ID] [--name NAME] [--provider @ID] [--public] [--watch [--timeout S] [--no-connect]]

Publishes a buttcloud/request from your feed, boxed to you and the provider (only the two of you can read it).
Prints the request id: the pub's id from then on.
  --provider @ID   the provider to ask (default: the only provider whose offer you have)
  --plan ID        a plan id from \`buttcloud offers\` (default: that provider's cheapest plan)
  --name NAME      what to call the pub (up to 64 characters)
  --public         post the request publicly instead (everyone then sees you are the provider's customer)
  --private        the default, kept for scripts that pass it
  --watch          then wait as \`buttcloud watch\` does; once the pub is up, your sbot joins it
  --timeout S      with --watch: give up after S seconds (exit 4)
  --no-connect     with --watch: do not make your sbot join the pub
Exit 5 when there is no offer to pick from or the plan is not in it.`,

  pubs: `Usage: buttcloud pubs [--no-connect] [--json]

Your pubs (the requests you posted) with the latest state their provider reported. A pub that is up and that
your sbot does not know yet is joined as \`buttcloud connect\` does (unless --no-connect).`,

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
  --no-connect             when the pub is up, do not make your sbot join it
With --json, the pub as \`status --json\` prints it goes to stdout when the watch ends.`,

  connect: `Usage: buttcloud connect <pub> [--json]

Makes your sbot know your pub, so it replicates with it while you are online and the pub serves your feed while
you are not. It uses the invite the provider sent with "up" (invite.accept: your sbot follows the pub); when the
invite is refused (a pub that already follows you may say "already following"), your sbot remembers the pub and
dials it instead (ssb-conn: conn.remember + conn.connect; ssb-server: gossip.add + gossip.connect).
Prints what happened: joined, remembered, or already known. Exit 1 when the pub has no address yet.`,

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
