/**
 * Exit codes of the hosted pub that the runtime tells apart: part of the contract between the pub (pub/main.ts)
 * and the drivers and planner that read a task's exit, like a message type is between peers.
 */
export const PUB_EXIT = {
  /** Its SSB port is already in use on its hub (EADDRINUSE is 98 on Linux): re-placed on a free port, not retried. */
  portTaken: 98,
  /** Its disk is full: restarted with a backoff. */
  diskFull: 75,
} as const
