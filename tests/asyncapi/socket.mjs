// One WebSocket to the node in either subprotocol: frames are encoded and decoded as the
// subprotocol says, every frame received is handed to `onFrame`, and requests with an `id` wait
// for their reply.

import { decode, encode } from '@msgpack/msgpack';
import WebSocket from 'ws';

const TIMEOUT_MS = 10_000;

export const JSON_PROTOCOL = 'chat.v1.json';
export const MSGPACK_PROTOCOL = 'chat.v1.msgpack';

export class Socket {
  /// `auth`: `header` (Authorization: Bearer), `query` (?token=), `frame` (a first `auth`
  /// frame, sent with `firstFrameId` as its id) or `none`.
  static async open({ name, baseUrl, protocol, token, auth, firstFrameId, onFrame, onSend }) {
    const url = new URL('/ws', baseUrl.replace(/^http/, 'ws'));
    const options = {};
    if (auth === 'query') url.searchParams.set('token', token);
    if (auth === 'header') options.headers = { Authorization: `Bearer ${token}` };
    const ws = new WebSocket(url, [protocol], options);
    const socket = new Socket(name, ws, protocol, onFrame, onSend);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`${name}: upgrade answered ${res.statusCode}`)));
    });
    if (ws.protocol !== protocol) throw new Error(`${name}: the server chose ${ws.protocol}, not ${protocol}`);
    if (auth === 'frame') {
      // Its reply, if one came, would be a protocol error: `firstFrameId` lets the check see it.
      socket.firstFrameId = firstFrameId;
      socket.send({ type: 'auth', id: firstFrameId, token }, { expectReply: false });
    }
    return socket;
  }

  constructor(name, ws, protocol, onFrame, onSend) {
    this.name = name;
    this.ws = ws;
    this.protocol = protocol;
    this.binary = protocol === MSGPACK_PROTOCOL;
    this.onFrame = onFrame;
    this.onSend = onSend;
    this.frames = [];
    this.waiters = [];
    this.requests = new Map(); // id -> { frame, replied }
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => this.received(data, isBinary));
    // A reset while the server closes is the close's business (`closed` still resolves); left
    // unhandled it would end the process.
    ws.on('error', () => {});
  }

  received(data, isBinary) {
    let frame;
    try {
      if (isBinary !== this.binary) throw new Error(`a ${isBinary ? 'binary' : 'text'} frame on ${this.protocol}`);
      frame = this.binary ? decode(data) : JSON.parse(data.toString('utf8'));
    } catch (err) {
      this.onFrame(this, undefined, `${this.name}: unreadable frame: ${err.message}`);
      return;
    }
    this.onFrame(this, frame);
    this.frames.push(frame);
    this.waiters = this.waiters.filter((w) => !w.match(frame) || (w.resolve(frame), false));
  }

  /// Sends a frame as this socket's subprotocol encodes it. `raw` sends bytes (or text) as they
  /// are, for malformed input.
  /// A frame with an `id` is remembered as a request, unless `expectReply` is false; `valid:
  /// false` marks a frame sent to be refused.
  send(frame, { expectReply, valid = true, raw } = {}) {
    if (raw !== undefined) {
      this.ws.send(raw, { binary: this.binary });
      return;
    }
    this.onSend(this, frame, { valid });
    if (expectReply ?? (frame.id !== undefined && frame.id !== null)) {
      this.requests.set(frame.id, { frame, replied: false });
    }
    this.ws.send(this.binary ? encode(frame) : JSON.stringify(frame), { binary: this.binary });
  }

  /// Sends a frame with an `id` and resolves with its reply.
  request(frame, options) {
    this.send(frame, options);
    return this.next((f) => f.type === 'reply' && f.id === frame.id, `the reply to ${frame.type} ${frame.id}`);
  }

  /// The first frame received from now on that matches (or one already received, with `past`).
  next(match, what, { past = false } = {}) {
    if (past) {
      const seen = this.frames.find(match);
      if (seen) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        if (!this.waiters.includes(waiter)) return;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: no ${what} within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS).unref();
    });
  }

  /// Waits for a frame already received or still to come.
  seen(match, what) {
    return this.next(match, what, { past: true });
  }

  close() {
    this.ws.close(1000);
    return this.closed;
  }
}
