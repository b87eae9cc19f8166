/**
 * Bounds the memory of ingestion. EBT has no flow control on the receiving side: every message that arrives is handed
 * to ssb-db2 at once, and db2 validates and writes far slower than TCP delivers, so a 20,000-message burst sat in the
 * heap as ~17k queued messages (~40 MB) and crashed a pub at a 96 MiB limit. Here the pub stops reading from its TCP
 * connections while too many messages wait in `db.add`, and reads again once db2 has caught up: the kernel's TCP
 * window then holds the sender back, and the backlog stays a few hundred messages whatever the burst size.
 *
 * Mechanism: a `net` transport whose connections' sources wait at a shared gate, and a hook on `db.add` that counts
 * messages in flight. Only TCP peers are paced; the unix socket (health checks, local tools) never waits.
 */
import type { Duplex, Source } from '../src/ssb/pull.js'
import { netTransport, type MultiserverTransport, type Sbot, type SbotConfig, type SbotPlugin } from '../src/ssb/server.js'

/** The transport name to use in `connections` so connections are paced (addresses still read `net:`). */
export const PACED_NET = 'paced-net'

export interface PacingOptions {
  /** Stop reading from peers when this many messages wait in db.add. */
  high: number
  /** Read again when the backlog falls to this. */
  low: number
}

/** Backlog counter and gate shared by every paced connection. */
export class IngestGate {
  private inFlight = 0
  private waiting: Array<() => void> = []
  /** How often reading was held back, and the largest backlog seen (for logs and benchmarks). */
  pauses = 0
  maxBacklog = 0

  constructor(private readonly opts: PacingOptions) {}

  get backlog(): number {
    return this.inFlight
  }

  added(): void {
    this.inFlight++
    if (this.inFlight > this.maxBacklog) this.maxBacklog = this.inFlight
  }

  done(): void {
    this.inFlight--
    if (this.inFlight <= this.opts.low && this.waiting.length) {
      const ready = this.waiting
      this.waiting = []
      for (const go of ready) go()
    }
  }

  /** Run `go` now if the backlog allows reading, else once it has drained to `low`. */
  whenOpen(go: () => void): void {
    if (this.inFlight < this.opts.high) return go()
    this.pauses++
    this.waiting.push(go)
  }

  /** A source that asks the gate before each read from `source`. */
  pace<T>(source: Source<T>): Source<T> {
    return (abort, cb) => {
      if (abort) return source(abort, cb)
      this.whenOpen(() => source(null, cb))
    }
  }
}

/** Move a config's `net` connections onto the paced transport. */
export function usePacedNet(config: SbotConfig): SbotConfig {
  const { net: incoming, ...otherIncoming } = config.connections.incoming
  const { net: outgoing, ...otherOutgoing } = config.connections.outgoing
  return {
    ...config,
    connections: {
      incoming: incoming ? { ...otherIncoming, [PACED_NET]: incoming } : config.connections.incoming,
      outgoing: outgoing ? { ...otherOutgoing, [PACED_NET]: outgoing } : config.connections.outgoing,
    },
  }
}

type Hookable<F> = F & { hook(wrapper: (this: unknown, original: F, args: unknown[]) => unknown): void }
type DbAdd = Sbot['db']['add']
interface MultiserverApi {
  multiserver: { transport(t: { name: string; create(opts: object): MultiserverTransport }): void }
}

/** The secret-stack plugin: registers the paced transport and counts db.add calls in flight. */
export function ingestPacingPlugin(gate: IngestGate): SbotPlugin {
  return {
    name: 'buttcloud-ingest-pacing',
    version: '1.0.0',
    init(sbot: Sbot & MultiserverApi) {
      const add = sbot.db.add as Hookable<DbAdd>
      add.hook(function (this: unknown, original, args) {
        const cbIndex = args.findIndex((a) => typeof a === 'function')
        if (cbIndex === -1) return (original as (...a: unknown[]) => unknown).apply(this, args)
        const cb = args[cbIndex] as (...results: unknown[]) => void
        gate.added()
        let finished = false
        const wrapped = [...args]
        wrapped[cbIndex] = (...results: unknown[]) => {
          if (!finished) {
            finished = true
            gate.done()
          }
          cb(...results)
        }
        return (original as (...a: unknown[]) => unknown).apply(this, wrapped)
      })

      const paced = <S extends Duplex<Buffer, Buffer> | undefined>(stream: S): S =>
        stream ? ({ ...stream, source: gate.pace(stream.source) } as S) : stream
      sbot.multiserver.transport({
        name: PACED_NET,
        create(opts: object) {
          const net = netTransport(opts)
          return {
            ...net,
            server: (onConnection, onListening) => net.server((stream) => onConnection(paced(stream)), onListening),
            client: (address, cb) => net.client(address, (err, stream) => cb(err, paced(stream))),
          }
        },
      })
      return {}
    },
  }
}
