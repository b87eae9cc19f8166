/** Blobs over muxrpc, for the tests and benchmarks that put pictures into an sbot and read them back from another. */
import { clientSource, type SbotClient } from '../src/ssb/client.js'
import { collect, pull } from '../src/ssb/pull.js'

/** Add bytes to an sbot's blob store through its muxrpc `blobs.add` sink; resolves with the blob id. */
export function addBlob(client: SbotClient, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => pull(pull.once(bytes), client.blobs.add((err: Error | null, id: string) => (err ? reject(err) : resolve(id)))))
}

/** The bytes of a blob, read over muxrpc `blobs.get`. */
export async function readBlob(client: SbotClient, id: string): Promise<Buffer> {
  return Buffer.concat((await collect(clientSource(client, 'blobs.get', { key: id }))) as Buffer[])
}
