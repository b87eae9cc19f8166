import { describe, expect, it } from 'vitest'
import { createHandlers, execute, type OperatorNotes } from '../../src/orchestrator/executor.js'
import { PubKeyring, derivePubKeys } from '../../src/orchestrator/desired.js'
import { ACTION_ORDER, type Action, type ServiceSpec } from '../../src/planner/index.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { fakeHost, HUB, msgId, strictDriver } from './fakes.js'

const provider = generateKeys()
const A = msgId('pub a')
const B = msgId('pub b')

function spec(request: string, over: Partial<ServiceSpec> = {}): ServiceSpec {
  return { request, owner: generateKeys().id, pubId: derivePubKeys(provider, request).id, hub: HUB.id, port: 9001, imageVersion: '1', memoryMiB: 128, replicas: 1, forceUpdate: 0, ...over }
}

function notesRecorder(): OperatorNotes & { lines: Map<string, string> } {
  const lines = new Map<string, string>()
  return { lines, note: (key, line) => lines.set(key, line) }
}

const quiet = { isUnreachable: () => false, log: () => undefined }

describe('executor handlers', () => {
  it('have one handler for every action kind', () => {
    const handlers = createHandlers({ driver: strictDriver({}), host: fakeHost(provider), keyring: new PubKeyring(provider), notes: notesRecorder() })
    expect(Object.keys(handlers).sort()).toEqual([...ACTION_ORDER].sort())
  })

  it('send changes to the driver and the host in order, with the pub identity for services', async () => {
    const calls: string[] = []
    const host = fakeHost(provider)
    const driver = strictDriver({
      createVolume: async (request, hub) => void calls.push(`volume ${request === A} ${hub}`),
      createService: async (s, identity) => {
        calls.push(`create ${s.port}`)
        expect(identity.keys).toEqual(derivePubKeys(provider, A))
        expect(identity.provider).toBe(provider.id)
      },
      updateService: async (id, s) => void calls.push(`update ${id} ${s.replicas}`),
      removeService: async (_r, id) => void calls.push(`remove ${id}`),
      purgeVolume: async (_r, hub, name) => void calls.push(`purge ${hub} ${name}`),
    })
    const handlers = createHandlers({ driver, host, keyring: new PubKeyring(provider), notes: notesRecorder() })
    const actions: Action[] = [
      { kind: 'record-placement', request: A, hub: HUB.id, port: 9001, why: 'new' },
      { kind: 'remove-service', request: B, serviceId: 'svc-b', serviceName: 'pub-b', why: 'destroyed' },
      { kind: 'create-volume', request: A, hub: HUB.id },
      { kind: 'create-service', spec: spec(A) },
      { kind: 'update-service', serviceId: 'svc-c', spec: spec(msgId('pub c'), { replicas: 0 }), changes: ['replicas'] },
      { kind: 'purge-volume', request: B, hub: HUB.id, volumeName: 'pub-b' },
    ]
    const result = await execute(actions, handlers, quiet)
    expect(host.placements.get(A)).toEqual({ hub: HUB.id, port: 9001 })
    expect(calls).toEqual([`remove svc-b`, `volume true ${HUB.id}`, 'create 9001', 'update svc-c 0', `purge ${HUB.id} pub-b`])
    expect(result.done).toEqual(actions)
    expect(result.failed).toEqual([])
  })

  it('turn reports and warnings into operator notes without touching the driver', async () => {
    const notes = notesRecorder()
    const handlers = createHandlers({ driver: strictDriver({}), host: fakeHost(provider), keyring: new PubKeyring(provider), notes })
    const actions: Action[] = [
      { kind: 'report-queued', request: A, memoryMiB: 512 },
      { kind: 'report-hubs-needed', count: 2, memoryMiB: 16384, queued: 3 },
      { kind: 'warn-foreign', object: { kind: 'service', id: 'x1', name: 'nginx', why: 'unlabelled' } },
      { kind: 'warn-orphan', object: 'volume', id: 'pub-q', name: 'pub-q', request: B, why: 'unknown-request' },
    ]
    const result = await execute(actions, handlers, quiet)
    expect(result.done).toEqual([])
    expect([...notes.lines.values()]).toEqual([
      `queued: ${A} (512 MiB) fits on no hub`,
      'hubs needed: 2 x 16384 MiB for 3 queued pubs',
      'not ours (unlabelled): service nginx, never touched',
      `orphan volume pub-q of ${B} (unknown-request): left alone`,
    ])
  })

  it('copy a moving pub\'s data through the driver, and tell the operator why a move waits', async () => {
    const calls: string[] = []
    const notes = notesRecorder()
    const driver = strictDriver({ name: 'swarm', moveData: async (request, from, to, version) => void calls.push(`${request === A} ${from}>${to} ${version}`) })
    const handlers = createHandlers({ driver, host: fakeHost(provider), keyring: new PubKeyring(provider), notes })
    const actions: Action[] = [
      { kind: 'move-data', request: A, from: 'hub-a', to: 'hub-b', imageVersion: '1' },
      { kind: 'report-move-blocked', request: B, hub: 'hub-a', why: 'no-room' },
    ]
    const result = await execute(actions, handlers, quiet)
    expect(result.done).toEqual([actions[0]])
    expect(calls).toEqual(['true hub-a>hub-b 1'])
    expect([...notes.lines.values()]).toEqual([`move blocked: ${B} stays on drained hub hub-a: no other hub has room and a free port`])

    // A driver that cannot move (one hub) fails the step; the pub's later changes in the pass are skipped.
    const single = createHandlers({ driver: { ...strictDriver({}), name: 'local', moveData: undefined } as never, host: fakeHost(provider), keyring: new PubKeyring(provider), notes })
    const failed = await execute([actions[0]!, { kind: 'update-service', serviceId: 's', spec: spec(A), changes: ['placement'] }], single, quiet)
    expect(failed.failed.map((f) => f.error.message)).toEqual(['the local runtime cannot move pubs between hubs'])
    expect(failed.skipped.map((a) => a.kind)).toEqual(['update-service'])
  })
})

describe('execute', () => {
  it("skips a pub's later changes after one fails, and carries on with the others", async () => {
    const calls: string[] = []
    const logged: string[] = []
    const handlers = createHandlers({
      driver: strictDriver({
        createVolume: async (request) => {
          calls.push(`volume ${request === A ? 'A' : 'B'}`)
          if (request === A) throw new Error('disk full')
        },
        createService: async (s) => void calls.push(`create ${s.request === A ? 'A' : 'B'}`),
      }),
      host: fakeHost(provider),
      keyring: new PubKeyring(provider),
      notes: notesRecorder(),
    })
    const actions: Action[] = [
      { kind: 'create-volume', request: A, hub: HUB.id },
      { kind: 'create-volume', request: B, hub: HUB.id },
      { kind: 'create-service', spec: spec(A) },
      { kind: 'create-service', spec: spec(B, { port: 9002 }) },
    ]
    const result = await execute(actions, handlers, { isUnreachable: () => false, log: (l) => logged.push(l) })
    expect(calls).toEqual(['volume A', 'volume B', 'create B'])
    expect(result.failed.map((f) => f.error.message)).toEqual(['disk full'])
    expect(result.skipped).toEqual([actions[2]])
    expect(result.done).toEqual([actions[1], actions[3]])
    expect(logged).toEqual([`create-volume for ${A} failed: disk full`])
  })

  it('stops at once and throws when the engine is unreachable', async () => {
    const calls: string[] = []
    const down = Object.assign(new Error('connect ENOENT /run/docker.sock'), { code: 'ENOENT' })
    const handlers = createHandlers({
      driver: strictDriver({
        createVolume: async () => {
          calls.push('volume')
          throw down
        },
      }),
      host: fakeHost(provider),
      keyring: new PubKeyring(provider),
      notes: notesRecorder(),
    })
    const actions: Action[] = [
      { kind: 'create-volume', request: A, hub: HUB.id },
      { kind: 'create-volume', request: B, hub: HUB.id },
    ]
    await expect(execute(actions, handlers, { isUnreachable: (e) => e === down, log: () => undefined })).rejects.toBe(down)
    expect(calls).toEqual(['volume'])
  })
})
