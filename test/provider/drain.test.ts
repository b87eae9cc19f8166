/** The drain command's pure parts: which node a name means, and what it says it did. The drain itself runs on the three-node cluster (test/drivers/hubs.test.ts). */
import { describe, expect, it } from 'vitest'
import { findNode, formatDrainOutcome } from '../../src/provider/drain.js'

const nodes = [
  { ID: 'abc123def456', Description: { Hostname: 'hub-one' } },
  { ID: 'abc999aaa000', Description: { Hostname: 'hub-two' } },
  { ID: 'zzz111yyy222', Description: { Hostname: 'hub-three' } },
]

describe('drain: finding the hub', () => {
  it('takes a node id, a unique id prefix of at least four characters, or a host name', () => {
    expect(findNode(nodes, 'abc123def456').ID).toBe('abc123def456')
    expect(findNode(nodes, 'zzz1').ID).toBe('zzz111yyy222')
    expect(findNode(nodes, 'hub-two').ID).toBe('abc999aaa000')
  })
  it('refuses a name that matches none or several, listing the hubs there are', () => {
    expect(() => findNode(nodes, 'abc')).toThrow(/no hub matches "abc"; the hubs are: hub-one \(abc123def456\), hub-two/)
    expect(() => findNode(nodes, 'abc1')).not.toThrow()
    expect(() => findNode(nodes, 'abc9x')).toThrow(/no hub matches/)
    expect(() => findNode([...nodes, { ID: 'abc1zzzz', Description: { Hostname: 'x' } }], 'abc1')).toThrow(/more than one hub matches "abc1"/)
  })
})

describe('drain: what it says', () => {
  const hub = { id: 'abc123def456', name: 'hub-one' }
  it('a drain names the pubs the last report had there, and warns when no other hub can take them', () => {
    expect(formatDrainOutcome({ hub, availability: 'drain', was: 'active', otherActiveHubs: 2, pubsInLastReport: 3 })).toBe(
      'hub-one (abc123def456) is drained: nothing new is placed there, and the provider moves its pubs on its next passes.\n' +
        "The provider's last report had 3 pub(s) there; capacity.js shows them leave.\n",
    )
    expect(formatDrainOutcome({ hub, availability: 'drain', was: 'drain', otherActiveHubs: 0 })).toMatch(/is already drained.*\nNo other hub is active and ready/)
  })
  it('an undo says moved pubs stay where they are', () => {
    expect(formatDrainOutcome({ hub, availability: 'active', was: 'drain', otherActiveHubs: 2 })).toBe(
      'hub-one (abc123def456) is active: new pubs may be placed there again; pubs moved away stay where they are.\n',
    )
  })
})
