// The Socket.IO gateway chat-bench compares the chat cluster with: what a NestJS/Socket.IO
// gateway with the Redis adapter does on the hot path, without the framework around it.
// Run one process per port; processes sharing a Redis see each other's broadcasts.
//
//   PORT=3001 REDIS_URL=redis://127.0.0.1:6379 node server.js
//
// Events (main namespace, WebSocket transport only):
//   join {room}            -> ack {ok: true}; the socket joins the room
//   send {room, content}   -> io.to(room).emit('message', {room, content}) on every process,
//                             the sender's own socket included; ack {ok: true}
// There is no storage, no sequence number, no deduplication and no resume: a message is
// relayed once, to whoever is connected at that moment.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const port = Number(process.env.PORT || 3001);
const host = process.env.HOST || '127.0.0.1';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
// Prefix of every Redis Pub/Sub channel the adapter uses, so that this server never sees or
// disturbs anything else on a shared Redis. The adapter stores no keys.
const channelPrefix = process.env.CHANNEL_PREFIX || 'bench-sio';
// Socket.IO's own heartbeat defaults; settable to check that clients answer pings.
const pingInterval = Number(process.env.PING_INTERVAL_MS || 25000);
const pingTimeout = Number(process.env.PING_TIMEOUT_MS || 20000);

function refuse(ack, code) {
  if (typeof ack === 'function') ack({ ok: false, code });
}

function isRoomPayload(payload) {
  return payload !== null && typeof payload === 'object' && typeof payload.room === 'string';
}

// Node.js and the packages npm installed, for chat-bench's RESULT line. Read from the
// installed package.json files: the packages' exports do not include them.
function installedVersions() {
  const versions = { node: process.version };
  for (const name of ['socket.io', '@socket.io/redis-adapter', 'redis']) {
    const manifest = path.join(__dirname, 'node_modules', name, 'package.json');
    versions[name] = JSON.parse(fs.readFileSync(manifest, 'utf8')).version;
  }
  return versions;
}

async function main() {
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on('error', (err) => console.error(`redis: ${err.message}`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const versions = JSON.stringify(installedVersions());
  const httpServer = http.createServer((req, res) => {
    // A readiness probe and the versions for scripts; everything else is Socket.IO's.
    if (req.url === '/version') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(versions);
      return;
    }
    const status = req.url === '/readyz' ? 200 : 404;
    res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'not found');
  });
  const io = new Server(httpServer, {
    transports: ['websocket'],
    serveClient: false,
    pingInterval,
    pingTimeout,
    adapter: createAdapter(pubClient, subClient, { key: channelPrefix }),
  });

  io.on('connection', (socket) => {
    socket.on('join', (payload, ack) => {
      if (!isRoomPayload(payload)) return refuse(ack, 'bad_request');
      socket.join(payload.room);
      if (typeof ack === 'function') ack({ ok: true });
    });
    socket.on('send', (payload, ack) => {
      if (!isRoomPayload(payload) || typeof payload.content !== 'string') {
        return refuse(ack, 'bad_request');
      }
      // Like the chat server, only members who joined the room may post to it.
      if (!socket.rooms.has(payload.room)) return refuse(ack, 'not_joined');
      io.to(payload.room).emit('message', { room: payload.room, content: payload.content });
      if (typeof ack === 'function') ack({ ok: true });
    });
  });

  httpServer.listen(port, host, () => {
    console.log(`socket.io peer on ${host}:${port}, redis ${redisUrl}, channel prefix ${channelPrefix}`);
  });

  const shutdown = () => {
    io.close();
    Promise.allSettled([pubClient.quit(), subClient.quit()]).then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
