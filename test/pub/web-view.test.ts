import { describe, expect, it } from 'vitest'
import { webViewApp } from '../../pub/web-view.js'
import { multiserverAddress } from '../../src/protocol/ids.js'
import { generateKeys } from '../../src/ssb/keys.js'

const pub = generateKeys()
const owner = generateKeys()
const info = { name: 'Ada\'s <pub> & "friends"', id: pub.id, address: multiserverAddress('pub.example.org', 8008, pub.id), owner: owner.id }

describe('pub web view', () => {
  const app = webViewApp(info)

  it('shows the name, id, address and how to join, escaping the name', async () => {
    const res = await app.request('/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/text\/html/)
    const page = await res.text()
    expect(page).toContain('Ada&#39;s &lt;pub&gt; &amp; &quot;friends&quot;')
    expect(page).not.toContain('<pub>')
    expect(page).toContain(pub.id)
    expect(page).toContain(info.address)
    expect(page).toContain(owner.id)
    expect(page).toMatch(/How to join/)
    expect(page).toMatch(/invite code/)
  })

  it('answers the same facts as JSON', async () => {
    const res = await app.request('/json')
    expect(await res.json()).toEqual(info)
  })

  it('is read-only and has no other routes', async () => {
    expect((await app.request('/', { method: 'POST' })).status).toBe(404)
    expect((await app.request('/invite')).status).toBe(404)
  })

  it('sends a restrictive content security policy', async () => {
    const res = await app.request('/')
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  })
})
