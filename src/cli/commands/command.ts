/**
 * `buttcloud command <pub> <verb>`: publish a `buttcloud/command` boxed to owner and provider, then wait for the
 * provider's reply and print its result. The reply is private too, so an invite code in it reaches the owner only.
 */
import { clientCall } from '../../ssb/client.js'
import type { SsbMsg } from '../../ssb/message.js'
import { PubCommand } from '../../protocol/command.js'
import type { MsgId } from '../../protocol/ids.js'
import { checkOutgoing, describeIssues, type Received } from '../../protocol/parse.js'
import type { CommandArgs } from '../args.js'
import { CliError, EXIT, type ExitCode } from '../exit-codes.js'
import { clean, formatElapsed, formatResult } from '../format.js'
import { followLog } from '../log.js'
import { foldView, shortId, type CommandView } from '../view.js'
import { loadView, printJson, resolvePub, type Command, type Context } from './context.js'
import type { Connection } from '../connect.js'

type CommandCall = Extract<CommandArgs, { name: 'command' }>

/** How long to wait for a reply when the user does not say. */
export const DEFAULT_REPLY_TIMEOUT_MS = 120_000

export const command: Command<CommandCall> = async (ctx, args) => {
  const { conn, view } = await loadView(ctx)
  const pub = resolvePub(view, args.pub)

  const argsField =
    args.verb === 'invite' && args.uses !== undefined
      ? { args: { uses: args.uses } }
      : args.verb === 'upgrade' && args.version !== undefined
        ? { args: { version: args.version } }
        : {}
  const candidate = { type: 'buttcloud/command', version: 1, request: pub.id, verb: args.verb, ...argsField, recps: [conn.me, pub.provider] }
  // The user's values (--uses, --version) meet the schema's bounds here, before anything is published.
  const valid = PubCommand.safeParse(candidate)
  if (!valid.success) throw new CliError(EXIT.USAGE, `command: ${describeIssues(valid.error)}`)
  const content = checkOutgoing('buttcloud/command', valid.data)

  let msg: SsbMsg
  try {
    msg = await clientCall<SsbMsg>(conn.client, 'publish', content)
  } catch (err) {
    throw new CliError(EXIT.FAILED, `your sbot did not publish the command: ${(err as Error).message}`, { cause: err })
  }
  const name = pub.name ? clean(pub.name) : shortId(pub.id)
  if (!args.wait) {
    if (ctx.global.json) printJson(ctx, { command: msg.key, request: pub.id, verb: args.verb })
    else ctx.io.out(`Sent ${args.verb} to ${name}: ${msg.key}\nSee the answer later with: buttcloud status ${shortId(pub.id)}`)
    return EXIT.OK
  }

  ctx.io.err(`Sent ${args.verb} to ${name}; waiting for the provider's reply…`)
  const timeoutMs = args.timeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS
  const answered = await waitForReply(conn, msg.key, timeoutMs)
  if (!answered) {
    throw new CliError(
      EXIT.TIMEOUT,
      `no reply within ${formatElapsed(timeoutMs)}; the command stands (${msg.key}). Check later: buttcloud status ${shortId(pub.id)}`,
    )
  }
  return printReply(ctx, pub.id, answered)
}

/** Follow the log until the provider's reply to `commandId` arrives; undefined on timeout. */
function waitForReply(conn: Connection, commandId: MsgId, timeoutMs: number): Promise<CommandView | undefined> {
  const messages: Received[] = []
  let synced = false
  return new Promise((resolve, reject) => {
    let done = false
    const end = (value: CommandView | undefined | Error) => {
      if (done) return
      done = true
      clearTimeout(timer)
      live.stop()
      if (value instanceof Error) reject(value)
      else resolve(value)
    }
    const live = followLog(conn.client, (item) => {
      if (item.kind === 'sync') synced = true
      else messages.push(item.message)
      if (!synced) return
      // The fold applies the trust rules: only the pub's provider can answer, only the first answer counts.
      const found = foldView(conn.me, messages)
        .pubs.flatMap((p) => p.commands)
        .find((c) => c.key === commandId)
      if (found?.reply) end(found)
    })
    const timer = setTimeout(() => end(undefined), timeoutMs)
    live.ended.then(
      () => end(new CliError(EXIT.UNREACHABLE, 'the connection to your sbot ended before the reply came')),
      (err: Error) => end(new CliError(EXIT.UNREACHABLE, `lost your sbot while waiting: ${err.message}`, { cause: err })),
    )
  })
}

function printReply(ctx: Context, request: MsgId, c: CommandView): ExitCode {
  const reply = c.reply!
  if (ctx.global.json) printJson(ctx, { command: c.key, request, verb: c.verb, reply })
  if (!reply.ok) {
    const why = reply.error ? `${reply.error.code}: ${clean(reply.error.reason)}` : 'no reason given'
    throw new CliError(EXIT.FAILED, `The provider refused ${c.verb}: ${why}`)
  }
  if (!ctx.global.json) {
    const lines = formatResult(reply.result)
    for (const line of lines.length ? lines : [`${c.verb}: done`]) ctx.io.out(line)
  }
  return EXIT.OK
}
