/**
 * Where a request's time to "up" goes, for bench/provisioning: one timeline per request, each step timed on this
 * machine's clock (the engine's events are too: it is the same machine) from the moment the request is published.
 * Steps: the provider holds the request -> its placement recorded -> the service created -> the container started
 * (the engine's event) -> the pub process running and ready (its own `ready` line: start time and `ms`) -> the
 * provider's dial answered -> the "up" post in the provider's log -> the owner has it.
 */
import type Docker from 'dockerode'
import { LABELS } from '../src/planner/index.js'
import type { FeedId, MsgId } from '../src/protocol/ids.js'
import { statusOfPost } from '../src/protocol/post.js'
import { queryTypes } from '../src/ssb/db2.js'
import type { SsbMsg } from '../src/ssb/message.js'
import { drain, pull } from '../src/ssb/pull.js'
import type { Sbot } from '../src/ssb/server.js'

/** The steps, in the order they happen; each is ms after the request was published. */
export const STEPS = ['received', 'placed', 'created', 'containerStarted', 'pubProcess', 'pubReady', 'answered', 'posted', 'seen'] as const
export type Step = (typeof STEPS)[number]

/** What each step means, for the table. */
export const STEP_NAMES: Record<Step, string> = {
  received: 'request in the provider\'s log',
  placed: 'placement recorded (pass 1)',
  created: 'service created (pass 2)',
  containerStarted: 'container started (engine event)',
  pubProcess: 'pub imports loaded (its ready line - its ms)',
  pubReady: 'pub ready (listens, first messages, self-check)',
  answered: 'provider\'s dial answered',
  posted: '"up" post in the provider\'s log',
  seen: '"up" at the owner',
}

export type Timeline = Partial<Record<Step, number>> & { t0: number; containerId?: string }

/** Collects timelines for requests as the provider's log, its log lines and the engine's events tell of them. */
export class TimelineCollector {
  private readonly lines = new Map<MsgId, Timeline>()
  private readonly stops: Array<() => void> = []

  /** Start a timeline for `request`, published at `t0` (Date.now()). */
  begin(request: MsgId, t0: number): Timeline {
    const line = this.lines.get(request) ?? { t0 }
    line.t0 = t0
    this.lines.set(request, line)
    return line
  }

  private mark(request: string | undefined, step: Step, at = Date.now()): void {
    const line = request ? this.lines.get(request as MsgId) : undefined
    if (line && line[step] === undefined) line[step] = at - line.t0
  }

  /** A provider log line (wire as the provider's `log`): placements, creates and dial answers name the request. */
  logLine(message: string): void {
    const request = /(%[A-Za-z0-9+/=]+\.sha256)/.exec(message)?.[1]
    if (message.startsWith('placed ')) this.mark(request, 'placed')
    else if (message.startsWith('created the service of ')) this.mark(request, 'created')
    else if (/answers over SSB/.test(message)) this.mark(request, 'answered')
  }

  /** Watch the provider's log for requests and its own "up" posts. */
  watchProvider(provider: Sbot): void {
    const requests = drain<SsbMsg>((msg) => this.mark(msg.key, 'received'), () => undefined)
    pull(queryTypes(provider.db, ['buttcloud/request'], { live: 'live' }), requests)
    const posts = drain<SsbMsg>(
      (msg) => {
        if (msg.value.author !== (provider.id as FeedId)) return
        const status = statusOfPost(msg.value.content)
        if (status.ok && status.status.state === 'up') this.mark(status.status.request, 'posted')
      },
      () => undefined,
    )
    pull(queryTypes(provider.db, ['post'], { live: 'live' }), posts)
    this.stops.push(() => requests.abort(), () => posts.abort())
  }

  /** Watch the engine's container starts: our containers carry the pub's request as a label. */
  async watchEngine(docker: Docker): Promise<void> {
    const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['start'] } })) as NodeJS.ReadableStream & { destroy(): void }
    let rest = ''
    stream.on('data', (chunk: Buffer) => {
      const text = rest + chunk.toString('utf8')
      const lines = text.split('\n')
      rest = lines.pop() ?? ''
      for (const l of lines) {
        if (!l.trim()) continue
        const e = JSON.parse(l) as { id?: string; timeNano?: number; Actor?: { ID?: string; Attributes?: Record<string, string> } }
        const request = e.Actor?.Attributes?.[LABELS.request]
        const line = request ? this.lines.get(request as MsgId) : undefined
        const id = e.Actor?.ID ?? e.id
        if (line && line.containerId === undefined && id) line.containerId = id
        this.mark(request, 'containerStarted', e.timeNano ? e.timeNano / 1e6 : Date.now())
      }
    })
    stream.on('error', () => undefined)
    this.stops.push(() => stream.destroy())
  }

  /** The owner has the "up" status. */
  seen(request: MsgId): void {
    this.mark(request, 'seen')
  }

  /** Read the pub's own `ready` line from its container's log: when its process started, and when it was ready. */
  async readPubLog(docker: Docker, request: MsgId): Promise<void> {
    const line = this.lines.get(request)
    if (!line?.containerId) throw new Error('no container start seen')
    const raw = (await docker.getContainer(line.containerId).logs({ stdout: true, stderr: false, follow: false })) as unknown
    const text = Buffer.isBuffer(raw) ? demux(raw) : String(raw)
    const ready = text.split('\n').find((l) => l.includes('"event":"ready"'))
    if (!ready) throw new Error(`no ready line in ${JSON.stringify(text.slice(0, 200))}`)
    const fields = JSON.parse(ready.slice(ready.indexOf('{'))) as { time?: number | string; ms?: number }
    // pino writes epoch ms, or an ISO time when configured so.
    const time = typeof fields.time === 'string' ? Date.parse(fields.time) : fields.time
    if (typeof time !== 'number' || !Number.isFinite(time)) throw new Error(`no time in the ready line ${ready.slice(0, 200)}`)
    line.pubReady = time - line.t0
    if (typeof fields.ms === 'number') line.pubProcess = time - fields.ms - line.t0
  }

  get(request: MsgId): Timeline | undefined {
    return this.lines.get(request)
  }

  stop(): void {
    for (const s of this.stops) s()
  }
}

/** The text of a non-TTY container log: frames of an 8-byte header (stream, 0, 0, 0, length as uint32 BE) and a payload. */
function demux(raw: Buffer): string {
  const parts: Buffer[] = []
  for (let at = 0; at + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(at + 4)
    parts.push(raw.subarray(at + 8, at + 8 + size))
    at += 8 + size
  }
  return Buffer.concat(parts).toString('utf8')
}
