/** The pub image's fixed names and layout: what a driver needs to run it, without the builder that makes it. */

export const PUB_IMAGE_REPO = 'buttcloud-pub'
/** Where the app lives inside the image (same in the Dockerfile). */
export const APP_DIR = '/app'
/** The image's data folder: mount the pub's named volume here. */
export const DATA_DIR = '/data'
/** The health check command for a service spec (docker import cannot carry a HEALTHCHECK). */
export const PUB_HEALTHCHECK = ['CMD', '/usr/local/bin/node', `${APP_DIR}/dist/pub/health.js`]
/** The unprivileged user the pub runs as (uid of `node` in the official image). */
export const PUB_UID = 1000
