/**
 * vitest globalSetup: one private Swarm engine for the whole run. Nothing starts here: the first test file that
 * calls `sharedDockerEngine(inject('dockerEngine'))` starts the engine in the folder provided below (so a run with no
 * Docker test pays nothing), and this teardown stops it after the last file.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { TestProject } from 'vitest/node'
import { stopDockerEngine, type SharedEngineContext } from '../../testkit/docker-engine.js'

declare module 'vitest' {
  export interface ProvidedContext {
    dockerEngine: SharedEngineContext
  }
}

/** Provide the shared engine's folder; the returned teardown stops whatever engine a test started there. */
export default function setup(project: TestProject): () => Promise<void> {
  // Short: dockerd's socket path must fit in 108 bytes.
  const dir = mkdtempSync('/tmp/bcd-')
  project.provide('dockerEngine', { dir, ownerPid: process.pid })
  return async () => {
    await stopDockerEngine(dir)
    rmSync(dir, { recursive: true, force: true })
  }
}
