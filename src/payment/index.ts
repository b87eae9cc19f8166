/** Payment without I/O: config, pay-link tokens, payment facts and the lifecycle fold the planner reads. */
export * from './config.js'
export * from './links.js'
export * from './facts.js'
export * from './lifecycle.js'
