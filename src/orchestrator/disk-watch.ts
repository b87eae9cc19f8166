/**
 * The provider's view of each pub's disk allowance. The pub measures itself (pub/disk-allowance.ts) and acts on
 * it; the provider only asks it now and then (`pubDisk.usage` over the pub's own address, with master rights, so
 * the same under every runtime) and keeps the last answer, for the pub's status and its `stats` reply.
 *
 * One round at a time, a few pubs at once, and a pub that does not answer keeps its last reading: asking is cheap
 * and rare, and a missed round changes nothing the owner sees.
 */
import type { DiskUsage } from '../protocol/disk.js'
import type { PubDiskReader } from '../control/driver.js'
import type { MsgId, MultiserverAddress } from '../protocol/ids.js'
import type { SsbKeys } from '../ssb/keys.js'

export interface DiskWatchOptions {
  reader: PubDiskReader
  keys: SsbKeys
  caps?: string
  timeoutMs?: number
  /** Pubs asked at once within a round. */
  concurrency?: number
}

/** Last disk readings per pub, refreshed by rounds of `pubDisk.usage` calls. */
export class DiskWatch {
  private readonly readings = new Map<MsgId, DiskUsage>()
  private round: Promise<boolean> | undefined

  constructor(private readonly opts: DiskWatchOptions) {}

  /** The last reading of a pub, if any. */
  get(request: MsgId): DiskUsage | undefined {
    return this.readings.get(request)
  }

  /** Ask one pub now; keeps and returns the answer, or the last reading when it does not answer. */
  async readOne(request: MsgId, address: MultiserverAddress): Promise<DiskUsage | undefined> {
    try {
      const usage = await this.opts.reader(this.opts.keys, address, {
        timeoutMs: this.opts.timeoutMs ?? 5000,
        ...(this.opts.caps ? { caps: this.opts.caps } : {}),
      })
      this.readings.set(request, usage)
      return usage
    } catch {
      return this.readings.get(request)
    }
  }

  /**
   * Ask every listed pub (running ones with an address), forget the others; resolves true when some pub's level
   * changed, so the caller can ask for a pass and the owner hears of it soon.
   */
  refresh(pubs: ReadonlyMap<MsgId, MultiserverAddress>): Promise<boolean> {
    this.round ??= this.runRound(pubs).finally(() => (this.round = undefined))
    return this.round
  }

  private async runRound(pubs: ReadonlyMap<MsgId, MultiserverAddress>): Promise<boolean> {
    for (const request of this.readings.keys()) if (!pubs.has(request)) this.readings.delete(request)
    const queue = [...pubs]
    let changed = false
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const before = this.readings.get(next[0])?.level
        const after = (await this.readOne(next[0], next[1]))?.level
        if (after !== undefined && after !== before) changed = true
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 4, queue.length) }, worker))
    return changed
  }
}
