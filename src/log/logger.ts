/**
 * The one structured logger of the provider, its payment site and the hosted pub (pino): one JSON object per line,
 * with `level` (a word), `time`, `component` and the message in `msg`, plus fields such as `pub` and `request` ids.
 * Components log through `Log`, a plain function, so tests can collect the lines they want to read.
 */
import { pino, type DestinationStream, type Logger } from 'pino'

export type LogLevel = 'info' | 'warn' | 'error'
/** Fields of one line. Never secrets, keys, tokens or signatures. */
export type LogFields = Record<string, string | number | boolean | undefined>
/** How a component logs: a message, its fields (ids of the pub or request it concerns) and a level (default info). */
export type Log = (message: string, fields?: LogFields, level?: LogLevel) => void

/** A pino logger for `component` writing JSON lines, synchronously, to stderr (or stdout, or a stream of the caller's). */
export function createLogger(component: string, to: 'stderr' | 'stdout' | DestinationStream = 'stderr'): Logger {
  const destination = typeof to === 'string' ? pino.destination({ fd: to === 'stdout' ? 1 : 2, sync: true }) : to
  return pino(
    {
      base: { component },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  )
}

/** The `Log` function that writes through a pino logger (or a child of it with fixed fields). */
export function logTo(logger: Logger): Log {
  return (message, fields, level = 'info') => logger[level](fields ?? {}, message)
}

/** A `Log` that drops everything (tests that do not read the log). */
export const silentLog: Log = () => undefined
