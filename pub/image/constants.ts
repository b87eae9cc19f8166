/** The pub image's fixed names and layout: what a driver needs to run it, without the builder that makes it. */

export const PUB_IMAGE_REPO = 'buttcloud-pub'
/** Where the app lives inside the image (same in the Dockerfile). */
export const APP_DIR = '/app'
/** The image's data folder: mount the pub's named volume here. */
export const DATA_DIR = '/data'
/**
 * The health check command for a service spec (docker import cannot carry a HEALTHCHECK). The pub checks itself
 * in-process (pub/self-check.ts: whoami over its socket, a secret handshake on its port) and writes until when it counts
 * as healthy into `<data>/health`; the probe only compares that with the clock, so it starts no node process.
 */
export const PUB_HEALTHCHECK = ['CMD', '/bin/sh', '-c', `read t < ${DATA_DIR}/health && [ "$t" -gt "$(date +%s)" ]`]
/** Docker's probe interval by default: the probe is cheap, but every exec still costs the engine a runc start. */
export const DEFAULT_HEALTH_INTERVAL_MS = 120_000
/** The unprivileged user the pub runs as (uid of `node` in the official image). */
export const PUB_UID = 1000
