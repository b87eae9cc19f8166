/** Child processes for tests: start the built programs, read their output, end them by PID. */
import { spawn, type ChildProcess } from 'node:child_process'

export interface Child {
  child: ChildProcess
  output(): string
  /** Resolve with the first match of `pattern` in stdout+stderr, or fail after `ms`. */
  waitForOutput(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed). */
  stop(graceMs?: number): Promise<number | null>
}

/** Spawn `node [...nodeOptions] <script> ...args` with extra environment variables (`--import tsx` runs a .ts helper). */
export function startNode(script: string, args: string[] = [], env: Record<string, string> = {}, nodeOptions: string[] = []): Child {
  const child = spawn(process.execPath, [...nodeOptions, script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const listeners = new Set<() => void>()
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-50_000)
    for (const l of listeners) l()
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    child,
    output: () => output,
    waitForOutput(pattern, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = output.match(pattern)
          if (m) {
            done()
            resolve(m)
          } else if (child.exitCode !== null) {
            done()
            reject(new Error(`process exited (${child.exitCode}) before printing ${pattern}:\n${output}`))
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no ${pattern} within ${ms} ms:\n${output}`))
        }, ms)
        const done = () => {
          clearTimeout(timer)
          listeners.delete(check)
        }
        listeners.add(check)
        check()
      })
    },
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}
