import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Real sbots, a real Docker engine and Chromium: two cores, so keep concurrency low.
    maxWorkers: 2,
    pool: 'forks',
    // One private Swarm engine per run, started by the first test file that needs it (only one can run per machine).
    globalSetup: ['test/support/docker-global-setup.ts'],
  },
})
