#!/usr/bin/env node
/**
 * `node dist/src/provider/drain.js <hub> [--undo] [--config FILE] [--json]`: drain a hub (a Swarm node), so the
 * running provider moves its pubs, with their data, to other hubs; `--undo` makes it active again.
 *
 * The fact "this hub is drained" lives in Swarm itself, as the node's availability (`drain`), which every pass
 * reads with the nodes: nothing here talks to the provider, and a node drained by hand (`docker node update
 * --availability drain`) is moved from just the same. The moves are the planner's (src/planner/placement.ts,
 * `mustMove`; docs/orchestrator.md, "Drain and move"); this command only sets the availability and says what the
 * provider's last capacity report knew of the hub.
 */
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type Docker from 'dockerode'
import { capacityReportFile, managerEngine } from './runtime-from-settings.js'
import { readCapacitySnapshot } from './capacity.js'
import { DEFAULT_CONFIG_FILE, loadSettings, type ProviderSettings } from './settings.js'

const HELP = `buttcloud drain: drain a hub, so the provider moves its pubs (with their data) to other hubs

Usage: node dist/src/provider/drain.js <hub> [--undo] [--config FILE] [--json]

<hub> is a Swarm node's id (or a unique start of it) or its host name, as capacity.js lists them.
The provider reads the node's availability on its next pass (every passIntervalMs, 30 s by default) and moves each
pub placed there: stopped, its volume copied to another hub, started there with the same identity and owner. Owners
hear "moving", then "up" with the new address and a fresh invite. capacity.js shows the hub's pubs as they leave,
and a note for each pub that cannot move yet (no other hub with room, or the hub's volumes unreadable).

Options:
  --undo          make the hub active again (pubs already moved stay where they are)
  --config FILE   provider settings (default: ssb-config/provider.json, or $BUTTCLOUD_CONFIG)
  --json          print the outcome as JSON
  -h, --help      this help
`

interface DockerNode {
  ID: string
  Version?: { Index?: number }
  Spec?: { Availability?: string; Role?: string; Labels?: Record<string, string>; Name?: string }
  Description?: { Hostname?: string }
  Status?: { State?: string }
}

/** What the command did, and what the provider's last report knew of the hub. */
export interface DrainOutcome {
  hub: { id: string; name: string }
  availability: 'drain' | 'active'
  /** The availability before: a repeated drain changes nothing. */
  was: string
  /** Schedulable hubs left besides this one (none: its pubs cannot move anywhere). */
  otherActiveHubs: number
  /** Pubs placed on the hub in the provider's last capacity report, when there is one. */
  pubsInLastReport?: number
}

/** Find one node by id, unique id prefix or host name; throws with the names there are when none or several match. */
export function findNode(nodes: readonly DockerNode[], hub: string): DockerNode {
  const exact = nodes.filter((n) => n.ID === hub || n.Description?.Hostname === hub)
  const matches = exact.length > 0 ? exact : nodes.filter((n) => hub.length >= 4 && n.ID.startsWith(hub))
  if (matches.length === 1) return matches[0]!
  const known = nodes.map((n) => `${n.Description?.Hostname ?? '?'} (${n.ID})`).join(', ')
  throw new Error(`${matches.length === 0 ? 'no' : 'more than one'} hub matches "${hub}"; the hubs are: ${known}`)
}

/** Set a node's availability on the Swarm (read-modify-write with the version read); returns the outcome. */
export async function setHubAvailability(docker: Docker, hub: string, availability: 'drain' | 'active'): Promise<Omit<DrainOutcome, 'pubsInLastReport'>> {
  const nodes = (await docker.listNodes()) as DockerNode[]
  const node = findNode(nodes, hub)
  const was = node.Spec?.Availability ?? 'active'
  if (was !== availability) {
    // The whole spec goes back with only the availability changed: role and labels (buttcloud.address) stay.
    await docker.getNode(node.ID).update({ ...node.Spec, Availability: availability, version: node.Version?.Index })
  }
  const otherActiveHubs = nodes.filter((n) => n.ID !== node.ID && (n.Spec?.Availability ?? 'active') === 'active' && n.Status?.State === 'ready').length
  return { hub: { id: node.ID, name: node.Description?.Hostname ?? node.ID }, availability, was, otherActiveHubs }
}

/** Drain (or with `undo`, reactivate) a hub of the provider these settings describe. */
export async function drainHub(settings: ProviderSettings, hub: string, opts: { undo?: boolean } = {}): Promise<DrainOutcome> {
  if (settings.runtime.kind !== 'swarm') throw new Error(`only a Swarm runtime has hubs to drain (runtime.kind is "${settings.runtime.kind}")`)
  const outcome: DrainOutcome = await setHubAvailability(managerEngine(settings), hub, opts.undo ? 'active' : 'drain')
  const report = readCapacitySnapshot(capacityReportFile(settings))?.report
  const pubs = report?.hubs.find((h) => h.id === outcome.hub.id)?.pubs
  if (pubs !== undefined) outcome.pubsInLastReport = pubs
  return outcome
}

/** The outcome in words. */
export function formatDrainOutcome(o: DrainOutcome): string {
  const name = `${o.hub.name} (${o.hub.id})`
  if (o.availability === 'active') {
    return `${name} is ${o.was === 'active' ? 'already ' : ''}active: new pubs may be placed there again; pubs moved away stay where they are.\n`
  }
  const lines = [`${name} is ${o.was === 'drain' ? 'already ' : ''}drained: nothing new is placed there, and the provider moves its pubs on its next passes.`]
  if (o.pubsInLastReport !== undefined) lines.push(`The provider's last report had ${o.pubsInLastReport} pub(s) there; capacity.js shows them leave.`)
  if (o.otherActiveHubs === 0) lines.push('No other hub is active and ready: its pubs stay (and are down) until one is.')
  return `${lines.join('\n')}\n`
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { config: { type: 'string' }, json: { type: 'boolean' }, undo: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  if (positionals.length !== 1) {
    process.stderr.write(`buttcloud drain: name one hub\n\n${HELP}`)
    return 2
  }
  const settings = loadSettings(values.config ?? process.env.BUTTCLOUD_CONFIG ?? DEFAULT_CONFIG_FILE)
  const outcome = await drainHub(settings, positionals[0]!, { undo: values.undo === true })
  process.stdout.write(values.json ? `${JSON.stringify(outcome, null, 2)}\n` : formatDrainOutcome(outcome))
  return 0
}

// Run only as a program: tests import the functions.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`buttcloud drain: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exitCode = 1
    },
  )
}
