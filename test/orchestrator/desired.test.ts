import { describe, expect, it } from 'vitest'
import { derivePubKeys, desiredPubs, PubKeyring } from '../../src/orchestrator/desired.js'
import { plan } from '../../src/planner/index.js'
import { generateKeys } from '../../src/ssb/keys.js'
import { fakeHost, HUB, msgId, record, runtimePub } from './fakes.js'

const provider = generateKeys()

describe('derived pub keys', () => {
  it('are the same for the same provider and request, and differ otherwise', () => {
    const a = derivePubKeys(provider, msgId('one'))
    expect(derivePubKeys(provider, msgId('one'))).toEqual(a)
    expect(derivePubKeys(provider, msgId('two')).id).not.toBe(a.id)
    expect(derivePubKeys(generateKeys(), msgId('one')).id).not.toBe(a.id)
    expect(a.id).not.toBe(provider.id)
    expect(a.id).toMatch(/^@[A-Za-z0-9+/]{43}=\.ed25519$/)
  })

  it('survive a restart: a provider loaded from the same secret derives the same ids', () => {
    const reloaded = JSON.parse(JSON.stringify(provider)) as typeof provider
    expect(derivePubKeys(reloaded, msgId('one')).id).toBe(derivePubKeys(provider, msgId('one')).id)
  })

  it('refuse a key that is not an ed25519 secret', () => {
    expect(() => derivePubKeys({ ...provider, private: 'c2hvcnQ=.ed25519' }, msgId('one'))).toThrow(/not an ed25519 secret key/)
  })

  it('are cached per request and forgotten for requests no longer listed', () => {
    const ring = new PubKeyring(provider)
    const first = ring.keys(msgId('one'))
    expect(ring.keys(msgId('one'))).toBe(first)
    ring.retain(new Set([msgId('two')]))
    const again = ring.keys(msgId('one'))
    expect(again).not.toBe(first)
    expect(again).toEqual(first)
  })
})

describe('desiredPubs', () => {
  const host = fakeHost(provider)
  const ring = new PubKeyring(provider)
  const opts = { defaultImageVersion: '0.1.0' }

  it('leaves hold pubs out and maps the rest field by field', () => {
    const running = record(1)
    const held = record(2)
    host.placements.set(running.request, { hub: HUB.id, port: 9001 })
    const out = desiredPubs([runtimePub(running, host), runtimePub(held, host, 'hold')], ring, opts)
    expect(out).toEqual([
      {
        request: running.request,
        owner: running.owner,
        name: running.name,
        plan: 'free',
        memoryMiB: 128,
        pubId: derivePubKeys(provider, running.request).id,
        requestedAt: running.requestedAt,
        restartGeneration: 0,
        imageVersion: '0.1.0',
        placement: { hub: HUB.id, port: 9001 },
        intent: 'running',
      },
    ])
  })

  it('uses the version the owner upgraded to, and the stop and restart state', () => {
    const r = record(3, { version: '0.2.0', restartGeneration: 4, intent: 'stopped' })
    const [d] = desiredPubs([runtimePub(r, host)], ring, opts)
    expect(d).toMatchObject({ imageVersion: '0.2.0', restartGeneration: 4, intent: 'stopped' })
    expect(d).not.toHaveProperty('placement')
  })

  it('carries the destroy time; without one the volume is never purged', () => {
    const r = record(4, { intent: 'destroyed', destroyedAt: 1_700_000_100_000 })
    const [d] = desiredPubs([{ record: r, intent: 'destroyed', destroyedAt: 1_700_000_200_000, memoryMiB: 128 }], ring, opts)
    expect(d).toMatchObject({ intent: 'destroyed', destroyedAt: 1_700_000_200_000 })

    const bare = record(5, { intent: 'destroyed' })
    const [e] = desiredPubs([{ record: bare, intent: 'destroyed', memoryMiB: 128, placement: { hub: HUB.id, port: 9005 } }], ring, opts)
    expect(e).toMatchObject({ intent: 'destroyed', destroyedAt: Number.POSITIVE_INFINITY })
    const volume = { name: 'pub-x', request: bare.request, hub: HUB.id, createdAt: 0 }
    const actions = plan([e!], { hubs: [HUB], services: [], volumes: [volume], foreign: [] }, { hubMemoryMiB: 4096, headroomMiB: 0, ports: { first: 9000, last: 9100 }, retentionMs: 0 }, Date.now() + 1e12)
    expect(actions.filter((a) => a.kind === 'purge-volume')).toEqual([])
  })
})
