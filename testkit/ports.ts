/** Free TCP ports on 127.0.0.1 for child processes that must be told their port up front. */
import { createServer } from 'node:net'

/** Ask the kernel for a free port on 127.0.0.1 (a small race remains until the child binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}
