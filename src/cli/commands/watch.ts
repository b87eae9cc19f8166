/**
 * `buttcloud watch <pub>`: follow the log live and print each state the provider reports until the pub settles.
 * One live read serves both purposes: its old part resolves `<pub>`, its live part brings the new statuses.
 */
import type { MsgId } from '../../protocol/ids.js'
import type { Received } from '../../protocol/parse.js'
import type { Connection } from '../connect.js'
import { CliError, EXIT, type ExitCode } from '../exit-codes.js'
import { clean, formatDuration, formatElapsed, type Io } from '../format.js'
import { followLog, type LiveRead } from '../log.js'
import { foldView, settledState, shortId, type PubView, type Settled } from '../view.js'
import { printJson, resolvePub, type Command, type Context } from './context.js'
import { connectSeenUp } from './connect.js'

export const watch: Command<{ name: 'watch'; pub: string; connect: boolean; timeoutMs?: number }> = async (ctx, args) =>
  watchPub(ctx, await ctx.sbot(), args.pub, { connect: args.connect, ...(args.timeoutMs !== undefined && { timeoutMs: args.timeoutMs }) })

/**
 * Watch one pub (by id, prefix or name) until it settles or `timeoutMs` passes; resolves to the exit code. A pub that
 * comes up is joined by the user's sbot (`connect`), so its owner needs no other step.
 */
export async function watchPub(ctx: Context, conn: Connection, ref: string, opts: { timeoutMs?: number; connect: boolean }): Promise<ExitCode> {
  const { code, pub } = await followPub(ctx, conn, ref, opts.timeoutMs)
  if (code === EXIT.OK && pub?.state === 'up' && opts.connect) await connectSeenUp(ctx, conn, pub, true)
  return code
}

function followPub(ctx: Context, conn: Connection, ref: string, timeoutMs?: number): Promise<{ code: ExitCode; pub?: PubView }> {
  const { io } = ctx
  const started = io.now()
  // In JSON mode stdout carries only the final document; the running commentary goes to stderr.
  const say = (line: string) => {
    spinner.clear()
    if (ctx.global.json) io.err(line)
    else io.out(line)
  }
  const spinner = new Spinner(io)
  const messages: Received[] = []
  let synced = false
  let pubId: MsgId | undefined
  let shown = 0
  let current: PubView | undefined
  let live: LiveRead | undefined
  let timer: NodeJS.Timeout | undefined

  return new Promise<{ code: ExitCode; pub?: PubView }>((resolve, reject) => {
    let finished = false
    const finish = (outcome: ExitCode | Error) => {
      if (finished) return
      finished = true
      if (timer) clearTimeout(timer)
      spinner.stop()
      live?.stop()
      if (outcome instanceof Error) reject(outcome)
      else resolve({ code: outcome, ...(current && { pub: current }) })
    }

    const check = () => {
      const view = foldView(conn.me, messages)
      if (pubId === undefined) {
        const pub = resolvePub(view, ref)
        pubId = pub.id
        const waiting = pub.state === 'requested' ? '; no answer from the provider yet' : ''
        say(`Watching ${shortId(pub.id)}${pub.name ? ` (${clean(pub.name)})` : ''}: ${pub.state} for ${formatDuration(io.now() - pub.since)}${waiting}`)
        shown = pub.history.length
      }
      const pub = view.pubs.find((p) => p.id === pubId)!
      current = pub
      for (const h of pub.history.slice(shown)) {
        say(`[${formatElapsed(io.now() - started)}] ${h.state}${h.reason ? `: ${clean(h.reason)}` : ''}`)
      }
      shown = pub.history.length
      spinner.update(pub.state, started)
      const settled = settledState(pub.state)
      if (settled) finish(conclude(ctx, pub, settled, say))
    }

    live = followLog(conn.client, (item) => {
      if (finished) return
      if (item.kind === 'sync') synced = true
      else messages.push(item.message)
      if (!synced) return
      try {
        check()
      } catch (err) {
        finish(err as Error)
      }
    })
    live.ended.then(
      () => finish(new CliError(EXIT.UNREACHABLE, 'the connection to your sbot ended')),
      (err: Error) => finish(new CliError(EXIT.UNREACHABLE, `lost your sbot while watching: ${err.message}`, { cause: err })),
    )
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        if (current) {
          if (ctx.global.json) printJson(ctx, current)
          spinner.clear()
          finish(new CliError(EXIT.TIMEOUT, `still ${current.state} after ${formatElapsed(timeoutMs)}; watch again later: buttcloud watch ${shortId(current.id)}`))
        } else finish(new CliError(EXIT.TIMEOUT, `your sbot did not deliver its log within ${formatElapsed(timeoutMs)}`))
      }, timeoutMs)
    }
  })
}

/** What the settled state means for the owner, and the exit code that says it. */
function conclude(ctx: Context, pub: PubView, settled: Settled, say: (line: string) => void): ExitCode {
  const name = pub.name ? clean(pub.name) : shortId(pub.id)
  let code: ExitCode = EXIT.OK
  switch (settled) {
    case 'up':
      say(`${name} is up.`)
      if (pub.pub) say(`address: ${clean(pub.pub.address)}`)
      if (pub.pub?.web) say(`web view: ${clean(pub.pub.web)}`)
      if (pub.invite) say(`Invite code (paste it into Patchwork's "Join pub"):\n${clean(pub.invite)}`)
      else say(`Get an invite code with: buttcloud command ${shortId(pub.id)} invite`)
      break
    case 'stopped':
    case 'destroyed':
      say(`${name} is ${settled}.`)
      break
    case 'failed':
      if (ctx.global.json) printJson(ctx, pub)
      throw new CliError(EXIT.FAILED, `${name} failed${pub.reason ? `: ${clean(pub.reason)}` : ''}`)
    case 'awaiting-payment':
      say(`${name} waits for payment${pub.paymentUrl ? `; pay here:\n${clean(pub.paymentUrl)}` : ' (the provider sent no link yet)'}`)
      say(`Then watch it come up: buttcloud watch ${shortId(pub.id)}`)
      code = EXIT.PAYMENT_REQUIRED
      break
  }
  if (ctx.global.json) printJson(ctx, pub)
  return code
}

/** A one-line spinner on stderr, only when stderr is a terminal: logs and pipes get plain lines. */
class Spinner {
  private static readonly FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
  private timer: NodeJS.Timeout | undefined
  private frame = 0
  private drawn = false
  private text = ''

  constructor(private readonly io: Io) {}

  update(state: string, started: number): void {
    if (!this.io.errIsTTY) return
    this.text = state
    if (!this.timer) {
      this.timer = setInterval(() => this.draw(started), 100)
      this.timer.unref()
    }
    this.draw(started)
  }

  clear(): void {
    if (this.drawn) this.io.errRaw('\r\x1b[K')
    this.drawn = false
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.clear()
  }

  private draw(started: number): void {
    const frame = Spinner.FRAMES[this.frame++ % Spinner.FRAMES.length]
    this.io.errRaw(`\r\x1b[K${frame} ${this.text} ${formatElapsed(this.io.now() - started)}`)
    this.drawn = true
  }
}
