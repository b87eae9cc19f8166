/** What the buttcloud CLI's exit status means, so scripts can branch on it. `--help` prints this table. */
export const EXIT = {
  /** Done; for `watch`, the pub is up, stopped or destroyed. */
  OK: 0,
  /** The provider refused or failed: an error reply, a failed pub, a rejected invite; or an unexpected error. */
  FAILED: 1,
  /** Bad command line: unknown command or option, missing or invalid argument. */
  USAGE: 2,
  /** Cannot reach your sbot (not running, wrong --ssb-dir or --remote, no key), or it went away. */
  UNREACHABLE: 3,
  /** Gave up waiting (--timeout) before the provider answered or the pub settled. */
  TIMEOUT: 4,
  /** No such pub, provider or plan (or a pub name or id prefix that matches several). */
  NOT_FOUND: 5,
  /** The pub waits for payment: `watch` printed the payment link. */
  PAYMENT_REQUIRED: 6,
  /** Interrupted (Ctrl-C). */
  INTERRUPTED: 130,
} as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** Each exit code's name: the `code` of a JSON error (`--json`), stable for scripts. */
export const EXIT_NAMES: Readonly<Record<ExitCode, string>> = {
  [EXIT.OK]: 'ok',
  [EXIT.FAILED]: 'failed',
  [EXIT.USAGE]: 'usage',
  [EXIT.UNREACHABLE]: 'sbot-unreachable',
  [EXIT.TIMEOUT]: 'timeout',
  [EXIT.NOT_FOUND]: 'not-found',
  [EXIT.PAYMENT_REQUIRED]: 'payment-required',
  [EXIT.INTERRUPTED]: 'interrupted',
}

/** One line per exit code, for `--help`. */
export const EXIT_CODE_HELP: ReadonlyArray<readonly [ExitCode, string]> = [
  [EXIT.OK, 'done (watch: the pub is up, stopped or destroyed)'],
  [EXIT.FAILED, 'the provider refused or failed (error reply, failed pub), or another error'],
  [EXIT.USAGE, 'bad command line'],
  [EXIT.UNREACHABLE, 'cannot reach your sbot (is Patchwork or ssb-server running? --ssb-dir, --remote)'],
  [EXIT.TIMEOUT, 'timed out waiting (--timeout)'],
  [EXIT.NOT_FOUND, 'no such pub, provider or plan, or an ambiguous name or id prefix'],
  [EXIT.PAYMENT_REQUIRED, 'the pub waits for payment (the link is printed)'],
  [EXIT.INTERRUPTED, 'interrupted'],
]

/** An error that ends the CLI with a given exit code and a message for stderr. */
export class CliError extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'CliError'
  }
}
