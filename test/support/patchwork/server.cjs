/**
 * Patchwork 3.18's own sbot, headless: its lib/server-process.js, unchanged, run under plain node instead of in
 * Electron's hidden background window. That file needs Electron only to tell the window process that the server
 * started (`ipcRenderer.send('server-started', config)`); here a stand-in module takes that message and prints the
 * config's remote as a JSON line. The config is built the way Patchwork's index.js `setupContext` builds it.
 *
 * Usage: node server.cjs <patchwork package folder> <ssb folder> <port> <ssb-ws port>
 */
'use strict'
const Module = require('module')
const path = require('path')

const [patchworkDir, ssbDir, port, wsPort] = process.argv.slice(2)
const pwRequire = Module.createRequire(path.join(patchworkDir, 'index.js'))

// The one piece of Electron server-process.js uses.
const electronStandIn = {
  ipcRenderer: {
    send(channel, config) {
      if (channel === 'server-started') process.stdout.write(JSON.stringify({ event: 'ready', id: config.keys.id, remote: config.remote }) + '\n')
    },
  },
}
const load = Module._load
Module._load = function (request, parent, isMain) {
  if (request === 'electron') return electronStandIn
  return load.call(this, request, parent, isMain)
}

// index.js setupContext, with the folder, host and port of a test (Patchwork passes --path the same way).
const ssbConfig = pwRequire('ssb-config/inject')('ssb', {
  path: ssbDir,
  host: '127.0.0.1',
  port: Number(port),
  // ssb-ws (Patchwork's blob server for its window) on a port of the test's, not Patchwork's fixed 8989.
  blobsPort: Number(wsPort),
  ws: { host: '127.0.0.1', port: Number(wsPort) },
  allowPrivate: true,
  friends: { dunbar: 150, hops: 2 },
  // No LAN broadcast (ssb-lan) and no git-ssb-web child: tests talk to 127.0.0.1 only.
  lan: { legacy: false },
})
if (!ssbConfig.gossip) ssbConfig.gossip = {}
ssbConfig.gossip.autoPopulate = false
ssbConfig.keys = pwRequire('ssb-keys').loadOrCreateSync(path.join(ssbConfig.path, 'secret'))
const pubkey = ssbConfig.keys.id.slice(1).replace(`.${ssbConfig.keys.curve}`, '')
ssbConfig.connections.incoming.net = [{ host: '127.0.0.1', port: Number(port), scope: ['device', 'local', 'public'], transform: 'shs' }]
ssbConfig.connections.incoming.unix = [{ scope: 'device', transform: 'noauth' }]
ssbConfig.remote = `unix:${path.join(ssbConfig.path, 'socket')}:~noauth:${pubkey}`
ssbConfig.connections.incoming.tunnel = [{ scope: 'public', transform: 'shs' }]
ssbConfig.connections.outgoing.tunnel = [{ transform: 'shs' }]
ssbConfig.connections.outgoing.dht = [{ transform: 'shs' }]
ssbConfig.customPath = true

pwRequire('./lib/server-process.js')(ssbConfig)
