/**
 * vitest globalSetup: one private Swarm engine for the whole run, and one scratch folder as every worker's TMPDIR.
 * Nothing starts here: the first test file that calls `sharedDockerEngine(inject('dockerEngine'))` starts the engine
 * in the folder provided below (so a run with no Docker test pays nothing), and this teardown stops it after the
 * last file. The scratch folder catches what no test can remove itself (ssb-client's and multiserver's unix-socket
 * transport makes an empty `$TMPDIR/multiserver-*` folder per connection, and a test killed by its timeout leaves its
 * temp folders); the teardown removes it whole.
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
  // Workers are forked after this runs, so they inherit it; short, as sbots' socket paths must fit in 108 bytes too.
  const scratch = mkdtempSync('/tmp/bct-')
  const previousTmp = process.env.TMPDIR
  process.env.TMPDIR = scratch
  return async () => {
    await stopDockerEngine(dir)
    rmSync(dir, { recursive: true, force: true })
    if (previousTmp === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = previousTmp
    rmSync(scratch, { recursive: true, force: true })
  }
}
