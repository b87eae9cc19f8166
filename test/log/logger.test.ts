import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, logTo } from '../../src/log/logger.js'

/** A destination that keeps each JSON line written to it, parsed. */
function lineSink(): { stream: Writable & { write(chunk: string): boolean }; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    },
  })
  return { stream, lines }
}

describe('the structured logger', () => {
  it('writes one JSON line per call with the level as a word, the component, the message and the ids given', () => {
    const { stream, lines } = lineSink()
    const log = logTo(createLogger('provider', stream))
    log('first invite failed', { request: '%abc.sha256' }, 'warn')
    log('disk has room again')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatchObject({ level: 'warn', component: 'provider', msg: 'first invite failed', request: '%abc.sha256' })
    expect(lines[1]).toMatchObject({ level: 'info', component: 'provider', msg: 'disk has room again' })
    expect(typeof lines[1]!.time).toBe('string')
    expect(Number.isNaN(Date.parse(lines[1]!.time as string))).toBe(false)
  })
})
