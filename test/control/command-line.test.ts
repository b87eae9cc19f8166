/** The command grammar of private posts: one case per form, the invalid ones, and how a pub word resolves. */
import { describe, expect, it } from 'vitest'
import { parseCommandLine, resolvePub } from '../../src/control/command-line.js'

const PLANS = ['free', 'small']
const parse = (text: string) => parseCommandLine(text, PLANS)

describe('command lines', () => {
  it.each([
    ['request', { kind: 'request', plan: 'free' }],
    ['request my-pub', { kind: 'request', plan: 'free', name: 'my-pub' }],
    ['request small', { kind: 'request', plan: 'small' }],
    ['Request SMALL our town pub', { kind: 'request', plan: 'small', name: 'our town pub' }],
    ['pubs', { kind: 'pubs' }],
    ['help', { kind: 'help' }],
    ['  HELP  ', { kind: 'help' }],
    ['status my-pub', { kind: 'status', pub: 'my-pub' }],
    ['invite my-pub', { kind: 'command', verb: 'invite', pub: 'my-pub' }],
    ['invite my-pub 2', { kind: 'command', verb: 'invite', pub: 'my-pub', args: { uses: 2 } }],
    ['start my-pub', { kind: 'command', verb: 'start', pub: 'my-pub' }],
    ['stop my-pub', { kind: 'command', verb: 'stop', pub: 'my-pub' }],
    ['restart my-pub', { kind: 'command', verb: 'restart', pub: 'my-pub' }],
    ['backup my-pub', { kind: 'command', verb: 'backup', pub: 'my-pub' }],
    ['stats my-pub', { kind: 'command', verb: 'stats', pub: 'my-pub' }],
    ['billing my-pub', { kind: 'command', verb: 'billing', pub: 'my-pub' }],
    ['upgrade my-pub', { kind: 'command', verb: 'upgrade', pub: 'my-pub' }],
    ['upgrade my-pub 2', { kind: 'command', verb: 'upgrade', pub: 'my-pub', args: { version: '2' } }],
    ['destroy my-pub confirm', { kind: 'command', verb: 'destroy', pub: 'my-pub' }],
    ['@ButtCloud help', { kind: 'help' }],
    ['[@ButtCloud](@abc=.ed25519) stop my-pub', { kind: 'command', verb: 'stop', pub: 'my-pub' }],
  ])('%s', (text, parsed) => {
    expect(parse(text)).toEqual(parsed)
  })

  it.each([
    ['', /empty/],
    ['hello there', /"hello" is not a command/],
    ['destroy my-pub', /usage: destroy <pub> confirm/],
    ['destroy my-pub now', /usage: destroy <pub> confirm/],
    ['invite', /usage: invite <pub> \[uses\]/],
    ['invite my-pub lots', /"lots" is not a number of uses/],
    ['invite my-pub 1 2', /usage: invite/],
    ['status', /usage: status <pub>/],
    ['stop', /usage: stop <pub>/],
    ['stop a b', /usage: stop <pub>/],
    ['pubs all', /usage: pubs/],
    ['help me', /usage: help/],
    ['upgrade', /usage: upgrade <pub> \[version\]/],
  ])('refuses %j', (text, reason) => {
    const parsed = parse(text)
    expect(parsed.kind).toBe('invalid')
    expect(parsed.kind === 'invalid' && parsed.reason).toMatch(reason)
  })

  it('request with no plan offered is invalid', () => {
    expect(parseCommandLine('request', [])).toEqual({ kind: 'invalid', reason: 'this provider offers no plans' })
  })
})

describe('naming a pub', () => {
  const pubs = [
    { request: '%AAAAone=.sha256', owner: '@me', name: 'my-pub' },
    { request: '%AAAAtwo=.sha256', owner: '@me', name: 'twin' },
    { request: '%BBBBthree=.sha256', owner: '@me', name: 'twin' },
    { request: '%CCCCfour=.sha256', owner: '@other', name: 'theirs' },
  ]
  it('by the author’s own name, or by a request id prefix (with or without %)', () => {
    expect(resolvePub('my-pub', '@me', pubs)).toEqual({ request: '%AAAAone=.sha256' })
    expect(resolvePub('AAAAt', '@me', pubs)).toEqual({ request: '%AAAAtwo=.sha256' })
    expect(resolvePub('%CCCC', '@me', pubs)).toEqual({ request: '%CCCCfour=.sha256' })
  })
  it('refuses ambiguous names and prefixes, other people’s names, and too short prefixes', () => {
    expect(resolvePub('twin', '@me', pubs)).toEqual({ problem: expect.stringMatching(/2 pubs named "twin"/) })
    expect(resolvePub('AAAA', '@me', pubs)).toEqual({ problem: expect.stringMatching(/start of 2 request ids/) })
    expect(resolvePub('theirs', '@me', pubs)).toEqual({ problem: 'no pub of yours is named "theirs"' })
    expect(resolvePub('AAA', '@me', pubs)).toEqual({ problem: 'no pub of yours is named "AAA"' })
  })
})
