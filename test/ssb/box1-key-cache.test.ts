/**
 * The box1 key cache in front of a real db2 sbot's decryption: it opens what ssb-box opens, says no to what is not
 * ours, answers both from its file after a restart without trying again, and gives a tampered copy no answer of the
 * original's.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BOX1_KEYS_FILE, installBox1KeyCache, openBody } from '../../src/ssb/box1-key-cache.js'
import { generateKeys, keysFileText, type SsbKeys } from '../../src/ssb/keys.js'
import { applyDb2Patches } from '../../src/ssb/patches.js'
import { closeSbot, createSbot, type Sbot } from '../../src/ssb/server.js'
import { sbotConfig } from '../../src/ssb/config.js'
import { writeFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const ssbKeys: { box(content: object, recps: string[]): string; ssbSecretKeyToPrivateBoxSecret(keys: unknown): Buffer } = require('ssb-keys')
const privateBox: {
  multibox_open_key(ctxt: Buffer, sk: Buffer): Buffer | null | undefined
  multibox_open_body(ctxt: Buffer, key: Buffer): Buffer | null | undefined
} = createRequire(require.resolve('ssb-keys'))('private-box')

type Format = { name: string; decrypt(c: Buffer, o: { keys: SsbKeys }): Buffer | null | undefined }
const boxFormat = (sbot: Sbot) => (sbot.db as unknown as { encryptionFormats: Format[] }).encryptionFormats.find((f) => f.name === 'box')!
const ciphertext = (content: object, recps: string[]) => Buffer.from(ssbKeys.box(content, recps).replace(/\.box$/, ''), 'base64')

describe('the box1 key cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bc-keycache-'))
  const keys = generateKeys()
  writeFileSync(join(dir, 'secret'), keysFileText(keys), { mode: 0o600 })
  const start = () => {
    applyDb2Patches()
    const sbot = createSbot(sbotConfig({ path: dir, keys, host: '127.0.0.1', port: 0, allowPrivate: true }))
    return { sbot, cache: installBox1KeyCache(sbot, join(dir, BOX1_KEYS_FILE))! }
  }
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const ours = ciphertext({ type: 'test', text: 'for us' }, [generateKeys().id, keys.id])
  const theirs = ciphertext({ type: 'test', text: 'not for us' }, [generateKeys().id])

  it('opens what is ours, says no to the rest, and answers both again without trying', async () => {
    const { sbot, cache } = start()
    const box = boxFormat(sbot)
    expect(JSON.parse(String(box.decrypt(ours, { keys })))).toEqual({ type: 'test', text: 'for us' })
    expect(box.decrypt(theirs, { keys })).toBeNull()
    expect(cache.stats).toEqual({ hits: 0, misses: 2 })
    expect(JSON.parse(String(box.decrypt(ours, { keys })))).toEqual({ type: 'test', text: 'for us' })
    expect(box.decrypt(theirs, { keys })).toBeNull()
    expect(cache.stats).toEqual({ hits: 2, misses: 2 })
    cache.flush()
    await closeSbot(sbot)
    expect(statSync(join(dir, BOX1_KEYS_FILE)).mode & 0o777).toBe(0o600)
  })

  it('after a restart, answers from its file; a tampered copy is tried on its own', async () => {
    const { sbot, cache } = start()
    const box = boxFormat(sbot)
    expect(JSON.parse(String(box.decrypt(ours, { keys })))).toEqual({ type: 'test', text: 'for us' })
    expect(box.decrypt(theirs, { keys })).toBeNull()
    expect(cache.stats).toEqual({ hits: 2, misses: 0 })
    const tampered = Buffer.from(ours)
    tampered[tampered.length - 1]! ^= 1
    expect(box.decrypt(tampered, { keys })).toBeNull()
    expect(cache.stats).toEqual({ hits: 2, misses: 1 })
    await closeSbot(sbot)
  })

  it('reads what it published, as ssb-db2 decrypts it', async () => {
    const { sbot, cache } = start()
    const msg = await new Promise<{ key: string }>((resolve, reject) =>
      sbot.db.create({ content: { type: 'test', text: 'own', recps: [keys.id] }, encryptionFormat: 'box' }, (err, m) => (err ? reject(err) : resolve(m))),
    )
    const value = await new Promise<{ content: unknown }>((resolve, reject) => sbot.db.get(msg.key, (err: unknown, v: { content: unknown }) => (err ? reject(err) : resolve(v))))
    expect(value.content).toEqual({ type: 'test', text: 'own', recps: [keys.id] })
    expect(cache.stats.misses + cache.stats.hits).toBeGreaterThan(0)
    await closeSbot(sbot)
  })

  it('opens a remembered key\'s body exactly as private-box does, wherever we are among 1 to 7 recipients', () => {
    const sk = ssbKeys.ssbSecretKeyToPrivateBoxSecret(keys)
    for (let count = 1; count <= 7; count++) {
      for (let at = 0; at < count; at++) {
        const recps = Array.from({ length: count }, (_, i) => (i === at ? keys.id : generateKeys().id))
        const box = ciphertext({ type: 'test', count, at, text: 'x'.repeat(count * 100) }, recps)
        const key = privateBox.multibox_open_key(box, sk)!
        const expected = privateBox.multibox_open_body(box, key)!
        expect(openBody(box, key)).toEqual(expected)
        expect(JSON.parse(String(openBody(box, key)))).toEqual({ type: 'test', count, at, text: 'x'.repeat(count * 100) })
        // The key of another slot count, or a body cut short or altered, opens nothing (and throws nothing).
        expect(openBody(box, Buffer.concat([Buffer.from([(key[0]! + 1) % 8]), key.subarray(1)]))).toBeNull()
        expect(openBody(box.subarray(0, 60), key)).toBeNull()
        const altered = Buffer.from(box)
        altered[altered.length - 1]! ^= 1
        expect(openBody(altered, key)).toBeNull()
      }
    }
  })
})
