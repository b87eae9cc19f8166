/**
 * The story of test/e2e/owner-story.ts under the Swarm runtime with the real provider, on the private engine: the
 * owner's classic ssb-server 16 requests a pub, which runs as a Swarm service from the locally built image; it joins
 * with the "up" invite, its post and 200 KB picture reach the pub within seconds, a feed nobody in scope follows is
 * left alone, and with the owner offline a classic guest gets the post and the picture from the pub alone.
 */
import Docker from 'dockerode'
import { describe, expect, inject } from 'vitest'
import { ensurePubImage } from '../../pub/image/build.js'
import { PUB_IMAGE_REPO } from '../../pub/image/constants.js'
import { LABELS, objectName } from '../../src/planner/index.js'
import '../support/docker-global-setup.js'
import { dockerSupport, sharedDockerEngine, type DockerEngine } from '../../testkit/docker-engine.js'
import { removeRequestObjects } from '../../testkit/pub-swarm.js'
import { freePort } from '../../testkit/ports.js'
import { ownerStory } from './owner-story.js'

const support = dockerSupport()

describe.skipIf(!support.ok)(
  `a classic owner's pub serves its posts and pictures while the owner is offline (Swarm runtime)${support.ok ? '' : ` (skipped: ${support.reason})`}`,
  { timeout: 90_000 },
  () => {
    let engine: DockerEngine
    let docker: Docker
    ownerStory(async () => {
      engine = await sharedDockerEngine(inject('dockerEngine'))
      docker = new Docker({ socketPath: engine.socketPath, version: 'v1.41' })
      const image = await ensurePubImage(docker)
      const pubPort = await freePort()
      return {
        runtime: {
          kind: 'swarm',
          docker: engine.socketPath,
          hubAddress: '127.0.0.1',
          listenHost: '127.0.0.1',
          ports: { first: pubPort, last: pubPort },
          imageVersion: image.tag.slice(PUB_IMAGE_REPO.length + 1),
          buildImage: false,
          healthIntervalMs: 500,
          stopGraceMs: 1000,
          restartDelayMs: 1000,
          statsIntervalMs: 0,
        },
        onUp: async (request, pub) => {
          // The pub the "up" post names is our Swarm service for this request, on the port it was handed.
          const services = (await docker.listServices({ filters: { label: [`${LABELS.request}=${request}`] } })) as Array<{ Spec: { Name?: string } }>
          expect(services.map((s) => s.Spec.Name)).toEqual([objectName(request)])
          expect(pub.address).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:${pubPort}~shs:`))
        },
        cleanup: async (request) => {
          if (request) await removeRequestObjects(docker, [request])
          await engine.stop()
        },
      }
    })
  },
)
