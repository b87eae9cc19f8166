/**
 * Puts a pub image into a registry, so that every hub pulls it instead of having it copied by hand. The engine that
 * holds the image pushes it (it must trust the registry: TLS, or `insecure-registries` for a private one).
 */
import type Docker from 'dockerode'
import { PUB_IMAGE_REPO } from './constants.js'

/** The repository pubs run from when a registry is configured: `<registry>/buttcloud-pub`. */
export function registryRepo(registry: string | undefined): string {
  return registry ? `${registry}/${PUB_IMAGE_REPO}` : PUB_IMAGE_REPO
}

/**
 * Tag the local image `image` (e.g. `buttcloud-pub:1.2.0`) as `<registry>/buttcloud-pub:<version>` and push it;
 * resolves with the pushed name once the registry has it, throws with the engine's reason otherwise.
 */
export async function pushPubImage(docker: Docker, opts: { image: string; registry: string; version: string }): Promise<string> {
  const repo = registryRepo(opts.registry)
  await docker.getImage(opts.image).tag({ repo, tag: opts.version })
  const name = `${repo}:${opts.version}`
  // The engine wants an X-Registry-Auth header even for a registry without accounts: an empty one.
  const stream = (await docker.getImage(name).push({ authconfig: { serveraddress: opts.registry } })) as NodeJS.ReadableStream
  // Errors come inside the progress stream (the HTTP call itself succeeds), as `{ error }` lines.
  const events = await new Promise<Array<{ error?: string }>>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => (err ? reject(err) : resolve(out)))
  })
  const failed = events.find((e) => e.error)
  if (failed) throw new Error(`pushing ${name} failed: ${failed.error}`)
  return name
}
