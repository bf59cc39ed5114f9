// Checks docs/asyncapi.yaml against a live node: (a) the document is valid AsyncAPI 3.0.0; (b)
// in a scenario that makes the node send every frame the document describes, every frame the
// node sends validates against the message the document gives its `type` (a reply: against the
// replies of the operation of the request it answers) and has no field the document leaves out,
// every client frame sent validates against its send schema (and the ones the server refuses as
// invalid do not), every message the document describes was seen (as the answer to each
// operation that may give it), and every field it describes of the server's frames was sent.
//
// usage: node check.mjs <node base URL>   (ASYNCAPI_DOCUMENT overrides the document's path)

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Fields, index, load } from './document.mjs';
import { JSON_PROTOCOL, MSGPACK_PROTOCOL, Socket } from './socket.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const documentPath = process.env.ASYNCAPI_DOCUMENT ?? path.join(here, '../../docs/asyncapi.yaml');
const baseUrl = process.argv[2];
if (!baseUrl) {
  console.error('usage: node check.mjs <node base URL>');
  process.exit(2);
}

// What the scenario cannot provoke on a healthy node, with why.
const UNREACHABLE = new Map([
  ['rooms → failedReply', 'a rooms request fails only while a store is down'],
]);
// Fields described that a healthy node in this scenario never sends, with why.
const UNSENT_FIELDS = new Map();

console.log(`== ${path.relative(process.cwd(), documentPath)}: parsing and validating`);
const document = await load(documentPath);
const described = index(document);
const fields = new Fields(document);
for (const entries of described.received.values()) entries.forEach(({ message }) => fields.describe(message));
for (const { replies } of described.operations) replies.forEach((message) => fields.describe(message));
const closeCodes = new Set(
  (document.channels().get('ws')?.extensions().get('x-close-codes')?.value() ?? []).map((c) => c.code),
);

const problems = [];
const seen = new Map(); // what was covered -> how many times
const framesByCodec = { [JSON_PROTOCOL]: 0, [MSGPACK_PROTOCOL]: 0 };
const sentByCodec = { [JSON_PROTOCOL]: 0, [MSGPACK_PROTOCOL]: 0 };
const count = (key) => seen.set(key, (seen.get(key) ?? 0) + 1);
const short = (frame) => {
  const text = JSON.stringify(frame);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
};

/// Every frame the node sends comes through here.
function onFrame(socket, frame, unreadable) {
  if (unreadable) {
    problems.push(unreadable);
    return;
  }
  framesByCodec[socket.protocol] += 1;
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    problems.push(`${socket.name}: a frame that is not a map: ${short(frame)}`);
    return;
  }
  if (frame.type === 'reply') {
    onReply(socket, frame);
    return;
  }
  const candidates = described.received.get(frame.type) ?? [];
  if (candidates.length === 0) {
    problems.push(`${socket.name}: frame type ${JSON.stringify(frame.type)} is not described: ${short(frame)}`);
    return;
  }
  const results = candidates.map(({ operation, message }) => ({ operation, message, problem: message.problems(frame) }));
  const match = results.find((r) => r.problem === null);
  if (!match) {
    const why = results.map((r) => `${r.message.id}: ${r.problem}`).join(' | ');
    problems.push(`${socket.name}: ${frame.type} frame does not validate (${why}): ${short(frame)}`);
    return;
  }
  count(`${match.operation} → ${match.message.id}`);
  fields.saw(match.message, frame);
}

function onReply(socket, frame) {
  if (socket.firstFrameId !== undefined && frame.id === socket.firstFrameId) {
    problems.push(`${socket.name}: the authenticating first frame got a reply: ${short(frame)}`);
    return;
  }
  const request = socket.requests.get(frame.id);
  if (!request) {
    problems.push(`${socket.name}: a reply to no request of this socket: ${short(frame)}`);
    return;
  }
  if (request.replied) {
    problems.push(`${socket.name}: a second reply to id ${frame.id}: ${short(frame)}`);
    return;
  }
  request.replied = true;
  const sent = described.sends.get(request.frame.type);
  const operation = sent?.operation ?? `(undescribed type ${request.frame.type})`;
  const candidates = sent ? sent.replies : [described.failedReply];
  const results = candidates.map((message) => ({ message, problem: message.problems(frame) }));
  const match = results.find((r) => r.problem === null);
  if (!match) {
    const why = results.map((r) => `${r.message.id}: ${r.problem}`).join(' | ');
    problems.push(`${socket.name}: the reply to ${request.frame.type} does not validate against ${operation}'s replies (${why}): ${short(frame)}`);
    return;
  }
  count(`${operation} → ${match.message.id}`);
  fields.saw(match.message, frame);
}

/// Every client frame sent goes through here. `valid: false` marks a frame sent to be refused.
function onSend(socket, frame, { valid }) {
  sentByCodec[socket.protocol] += 1;
  const sent = described.sends.get(frame.type);
  if (!sent) {
    if (valid) problems.push(`${socket.name}: client type ${frame.type} is not described`);
    return;
  }
  const accepted = sent.message.validate(frame);
  if (valid && !accepted) {
    problems.push(`${socket.name}: a ${frame.type} frame the server accepts fails its schema (${JSON.stringify(sent.message.validate.errors)}): ${short(frame)}`);
  } else if (!valid && accepted) {
    problems.push(`${socket.name}: a ${frame.type} frame the server refuses passes its schema: ${short(frame)}`);
  }
  if (valid) count(`sent ${frame.type}`);
}

let nextId = 1;
const id = () => nextId++;

async function rest(method, route, token, body) {
  const response = await fetch(new URL(route, baseUrl), {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function register(username) {
  const session = await rest('POST', '/auth/register', null, { username, password: 'correct horse battery' });
  return { id: session.user.id, token: session.access_token, username };
}

async function open(name, user, protocol, auth) {
  const firstFrameId = auth === 'frame' ? id() : undefined;
  return Socket.open({ name, baseUrl, protocol, token: user.token, auth, firstFrameId, onFrame, onSend });
}

/// Sends a request and checks that the reply is ok (or refused with `code`).
async function ask(socket, frame, { code, valid = true } = {}) {
  const reply = await socket.request({ ...frame, id: id() }, { valid });
  if (code === undefined) {
    assert.equal(reply.ok, true, `${socket.name}: ${frame.type} was refused: ${short(reply)}`);
  } else {
    assert.equal(reply.ok, false, `${socket.name}: ${frame.type} was not refused: ${short(reply)}`);
    assert.equal(reply.error.code, code, `${socket.name}: ${frame.type}: ${short(reply)}`);
  }
  return reply;
}

const ofType = (type, more = () => true) => (f) => f.type === type && more(f);

/// A socket closed by the server, and the code it was closed with.
async function closedWith(socket, act) {
  await act();
  const { code, reason } = await Promise.race([
    socket.closed,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${socket.name}: not closed`)), 15_000).unref()),
  ]);
  count(`close ${code}`);
  if (!closeCodes.has(code)) problems.push(`${socket.name}: closed with ${code} (${reason}), which x-close-codes does not list`);
  return code;
}

async function scenario() {
  const suffix = Date.now().toString(36);
  const alice = await register(`alice_${suffix}`);
  const bob = await register(`bob_${suffix}`);

  // Every way to authenticate, in both subprotocols.
  const a1 = await open('alice/json/header', alice, JSON_PROTOCOL, 'header');
  const a2 = await open('alice/msgpack/query', alice, MSGPACK_PROTOCOL, 'query');
  const b1 = await open('bob/msgpack/first-frame', bob, MSGPACK_PROTOCOL, 'frame');
  const b2 = await open('bob/json/query', bob, JSON_PROTOCOL, 'query');
  const everyone = [a1, a2, b1, b2];
  for (const socket of everyone) {
    await ask(socket, { type: 'rooms' });
    await ask(socket, { type: 'ping' });
    await socket.seen(ofType('pong'), 'pong');
    socket.send({ type: 'ping' });
    await socket.next(ofType('pong'), 'pong to a ping without id');
  }
  // This socket hears bob's unread counts from now on; nothing it joins is needed.
  await ask(b2, { type: 'rooms', unread: true });

  // A group: its creator's sockets hear of it; bob is added (member, room_added) and joins.
  const group = await rest('POST', '/rooms', alice.token, { name: 'team', type: 'group' });
  await a1.seen(ofType('room_added', (f) => f.room.id === group.id), 'room_added');
  await a2.seen(ofType('room_added', (f) => f.room.id === group.id), 'room_added');
  await ask(a1, { type: 'join', room: group.id });
  await ask(a2, { type: 'joinRoom', room: group.id });
  await rest('POST', `/rooms/${group.id}/members`, alice.token, { user_id: bob.id });
  await a1.seen(ofType('member', (f) => f.user_id === bob.id && f.change === 'added'), 'member added');
  await b1.seen(ofType('room_added', (f) => f.room.id === group.id), 'room_added');
  await b2.seen(ofType('room_added', (f) => f.room.id === group.id), 'room_added');
  await ask(b1, { type: 'join', room: group.id });
  await ask(b2, { type: 'join', room: group.id, since: null });
  await a1.seen(ofType('presence', (f) => f.user_id === bob.id && f.state === 'online'), 'presence online');
  for (const socket of everyone) await ask(socket, { type: 'rooms' });

  // Messages, a reply to one, threads and history.
  const m1 = (await ask(a1, { type: 'send', room: group.id, content: 'hello', client_msg_id: 'c-1', first_attempt: true })).message;
  const m2 = (
    await ask(b1, {
      type: 'sendMessage', room: group.id, content: 'hi back', kind: 'note', metadata: { k: [1, 'two'] }, reply_to: m1.id,
    })
  ).message;
  assert.equal(m2.reply_to?.id, m1.id);
  a1.send({ type: 'send', room: group.id, content: 'sent without an id' });
  const m3 = (await b2.seen(ofType('message', (f) => f.message.content === 'sent without an id'), 'message')).message;
  const again = (await ask(a1, { type: 'send', room: group.id, content: 'hello', client_msg_id: 'c-1' })).message;
  assert.equal(again.id, m1.id, 'a repeated client_msg_id answers the original');
  for (const socket of everyone) await socket.seen(ofType('message', (f) => f.message.id === m2.id), 'message');
  await ask(a1, { type: 'thread', room: group.id, message_id: m1.id });
  await ask(b1, { type: 'thread', room: group.id, seq: m1.seq, after: 0, limit: 10 });
  await ask(a1, { type: 'history', room: group.id });
  await ask(b2, { type: 'history', room: group.id, before: m3.seq + 1, after: 0, limit: 2 });

  // Typing and read markers: the others in the room, and the reader's other sockets (feed).
  await ask(a1, { type: 'typing', room: group.id });
  await b1.seen(ofType('typing', (f) => f.user_id === alice.id), 'typing');
  b2.send({ type: 'typing', room: group.id });
  await a2.seen(ofType('typing', (f) => f.user_id === bob.id), 'typing');
  await ask(b1, { type: 'read', room: group.id, seq: m2.seq });
  await a1.seen(ofType('read', (f) => f.user_id === bob.id), 'read of another user');
  await b2.seen(ofType('read', (f) => f.user_id === bob.id), 'own read through the feed');

  // Changes: edits, reactions, a deletion; then a resume that answers them in `changes`.
  await ask(a1, { type: 'edit', room: group.id, message_id: m1.id, content: 'hello, edited', client_change_id: 'e-1' });
  await ask(b1, { type: 'edit', room: group.id, seq: m2.seq, content: 'hi again', metadata: { k: 2 } });
  await ask(a1, { type: 'react', room: group.id, seq: m2.seq, emoji: '👍' });
  await ask(b1, { type: 'react', room: group.id, message_id: m2.id, emoji: '🎉' });
  await ask(a1, { type: 'unreact', room: group.id, seq: m2.seq, emoji: '👍' });
  await ask(a2, { type: 'delete', room: group.id, message_id: m3.id, client_change_id: 'd-1' });
  await b2.seen(ofType('message_edited'), 'message_edited');
  await b2.seen(ofType('reaction', (f) => f.added === false), 'reaction removed');
  await b1.seen(ofType('message_deleted', (f) => f.message.id === m3.id), 'message_deleted');
  const resumed = await ask(b2, { type: 'join', room: group.id, since: m1.seq });
  const changeTypes = new Set((resumed.changes ?? []).map((c) => c.type));
  for (const type of ['message_edited', 'message_deleted', 'reaction']) {
    assert.ok(changeTypes.has(type), `a resume answers ${type} in changes: ${short(resumed)}`);
  }
  // A reply whose parent is deleted quotes it as deleted.
  await ask(a1, { type: 'delete', room: group.id, seq: m1.seq });
  const page = await ask(a1, { type: 'history', room: group.id, limit: 200 });
  assert.equal(page.messages.find((m) => m.id === m2.id)?.reply_to?.deleted, true, 'the quote of a deleted parent');

  // Bob's sockets leave: once the grace period is over he is offline to the others.
  await ask(b1, { type: 'leave', room: group.id });
  await ask(b2, { type: 'leave', room: group.id });
  await a1.seen(ofType('presence', (f) => f.user_id === bob.id && f.state === 'offline'), 'presence offline');

  // The feed and moderation: a topic, roles, a mute, a removal, a ban.
  await rest('PATCH', `/rooms/${group.id}`, alice.token, { topic: 'plans' });
  for (const socket of everyone) await socket.seen(ofType('room_updated'), 'room_updated');
  await ask(b1, { type: 'join', room: group.id });
  await rest('PATCH', `/rooms/${group.id}/members/${bob.id}`, alice.token, { role: 'admin' });
  await b1.seen(ofType('member', (f) => f.change === 'role' && f.role === 'admin'), 'member role');
  await rest('PATCH', `/rooms/${group.id}/members/${bob.id}`, alice.token, { role: 'member' });
  await a1.seen(ofType('member', (f) => f.change === 'role' && f.role === 'member'), 'member role');
  await rest('PUT', `/rooms/${group.id}/mutes/${bob.id}`, alice.token, { expires_in: 60 });
  await b1.seen(ofType('muted', (f) => f.until !== null), 'muted');
  await ask(b1, { type: 'send', room: group.id, content: 'muted?' }, { code: 'forbidden' });
  b2.send({ type: 'send', room: group.id, content: 'muted, without an id' });
  await b2.seen(ofType('error', (f) => f.error.code === 'forbidden'), 'error frame');
  await ask(b1, { type: 'rooms' }); // an entry with muted_until
  await rest('DELETE', `/rooms/${group.id}/mutes/${bob.id}`, alice.token);
  await b2.seen(ofType('muted', (f) => f.until === null), 'unmuted');
  await rest('DELETE', `/rooms/${group.id}/members/${bob.id}`, alice.token);
  await a1.seen(ofType('member', (f) => f.user_id === bob.id && f.change === 'removed'), 'member removed');
  await b2.seen(ofType('room_removed', (f) => f.room === group.id && !f.banned), 'room_removed');
  await rest('POST', `/rooms/${group.id}/members`, alice.token, { user_id: bob.id });
  await rest('POST', `/rooms/${group.id}/bans`, alice.token, { user_id: bob.id, reason: 'checking the feed' });
  await b1.seen(ofType('room_removed', (f) => f.banned === true), 'room_removed banned');

  // A channel: joining it makes bob a participant.
  const channel = await rest('POST', '/rooms', alice.token, { name: 'news', type: 'channel' });
  await ask(a1, { type: 'join', room: channel.id });
  await ask(b2, { type: 'join', room: channel.id });
  await b1.seen(ofType('room_added', (f) => f.room.id === channel.id), 'room_added by joining a channel');
  const mc = (await ask(a1, { type: 'send', room: channel.id, content: 'news' })).message;

  // Refusals: a failed reply for each operation that can fail on a healthy node.
  const nowhere = randomUUID();
  await ask(b1, { type: 'join', room: group.id }, { code: 'forbidden' });
  await ask(b1, { type: 'join', room: nowhere }, { code: 'not_found' });
  await ask(b1, { type: 'leave', room: 'not-a-uuid' }, { code: 'invalid_input', valid: false });
  await ask(b1, { type: 'history', room: group.id }, { code: 'forbidden' });
  await ask(b1, { type: 'typing', room: group.id }, { code: 'forbidden' });
  await ask(a1, { type: 'read', room: group.id, seq: 1e12 }, { code: 'invalid_input' });
  await ask(b2, { type: 'edit', room: channel.id, message_id: mc.id, content: 'not mine' }, { code: 'forbidden' });
  await ask(b2, { type: 'delete', room: channel.id, seq: mc.seq + 1e9 }, { code: 'not_found' });
  await ask(b2, { type: 'react', room: channel.id, seq: mc.seq, emoji: 'a b' }, { code: 'invalid_input', valid: false });
  await ask(b2, { type: 'unreact', room: channel.id, message_id: mc.id, seq: mc.seq, emoji: '👍' }, { code: 'invalid_input', valid: false });
  await ask(b2, { type: 'thread', room: channel.id, message_id: randomUUID() }, { code: 'not_found' });
  await ask(a1, { type: 'send', room: group.id, content: 'x'.repeat(4001) }, { code: 'invalid_input', valid: false });
  await ask(a2, { type: 'explode' }, { code: 'invalid_input', valid: false });
  a1.send(null, { raw: 'not json' });
  await a1.next(ofType('error', (f) => f.error.code === 'invalid_input'), 'error frame for text that is not JSON');
  b1.send(null, { raw: Buffer.from([0xc1]) });
  await b1.next(ofType('error', (f) => f.error.code === 'invalid_input'), 'error frame for bytes that are not MessagePack');
  a2.send({ type: 'ping', id: -1 }, { valid: false, expectReply: false });
  await a2.next(ofType('error', (f) => f.error.fields?.id !== undefined), 'error frame for a bad id');

  // Token renewal: a new token of the same user, then one that is no token at all.
  const renewed = await rest('POST', '/auth/login', null, { username: bob.username, password: 'correct horse battery' });
  await ask(b1, { type: 'auth', token: renewed.access_token });
  await closedWith(a2, () => ask(a2, { type: 'auth', token: 'not-a-token' }, { code: 'unauthorized' }));

  // Close codes the document lists, as a client meets them.
  const badToken = await Socket.open({ name: 'bad-token', baseUrl, protocol: JSON_PROTOCOL, token: 'not-a-token', auth: 'query', onFrame, onSend });
  await closedWith(badToken, async () => {});
  const silent = await Socket.open({ name: 'no-auth-frame', baseUrl, protocol: JSON_PROTOCOL, token: '', auth: 'none', onFrame, onSend });
  await closedWith(silent, async () => silent.send({ type: 'ping' }));
  const big = await open('too-big', alice, JSON_PROTOCOL, 'header');
  await closedWith(big, async () => big.send(null, { raw: JSON.stringify({ type: 'ping', pad: 'x'.repeat(70 * 1024) }) }));
  const flood = await open('flood', alice, MSGPACK_PROTOCOL, 'header');
  await closedWith(flood, async () => {
    for (let i = 0; i < 11; i += 1) flood.send(null, { raw: Buffer.from([0xc1]) });
  });

  // Late frames (events still on their way) are checked too before the sockets close.
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const socket of [a1, b1, b2]) await socket.close();
  for (const socket of [a1, b1, b2, a2]) {
    for (const [requestId, request] of socket.requests) {
      if (!request.replied) problems.push(`${socket.name}: no reply to ${request.frame.type} ${requestId}`);
    }
  }
}

try {
  await scenario();
} catch (err) {
  problems.push(`the scenario stopped: ${err.stack ?? err}`);
}

// Coverage: every server message of the document, every reply of every operation, and every
// client type (aliases included).
const expected = [];
for (const { operation, message, replies } of described.operations) {
  for (const type of message.types()) expected.push(`sent ${type}`);
  for (const reply of replies) expected.push(`${operation} → ${reply.id}`);
}
for (const [, entries] of described.received) {
  for (const { operation, message } of entries) expected.push(`${operation} → ${message.id}`);
}
const unseen = [...new Set(expected)].filter((key) => !seen.has(key) && !UNREACHABLE.has(key));
for (const key of unseen) problems.push(`never seen: ${key}`);
for (const [key, why] of UNREACHABLE) {
  if (!expected.includes(key)) problems.push(`an exemption the document no longer needs: ${key}`);
  else console.log(`  not provoked: ${key} (${why})`);
}

for (const field of fields.unseen()) {
  if (UNSENT_FIELDS.has(field)) console.log(`  not sent: ${field} (${UNSENT_FIELDS.get(field)})`);
  else problems.push(`a field described but never sent: ${field}`);
}
for (const field of UNSENT_FIELDS.keys()) {
  if (!fields.described.has(field)) problems.push(`an exemption the document no longer needs: ${field}`);
}

console.log('== what was seen');
for (const key of [...seen.keys()].sort()) console.log(`  ${String(seen.get(key)).padStart(4)}  ${key}`);
console.log(
  `== ${framesByCodec[JSON_PROTOCOL]} frames received in ${JSON_PROTOCOL}, ${framesByCodec[MSGPACK_PROTOCOL]} in ${MSGPACK_PROTOCOL}; ` +
    `${sentByCodec[JSON_PROTOCOL]} + ${sentByCodec[MSGPACK_PROTOCOL]} client frames sent`,
);
if (problems.length > 0) {
  console.error(`== ${problems.length} problem(s):`);
  for (const problem of problems) console.error(`  - ${problem}`);
  process.exit(1);
}
console.log('== the document describes every frame the node sent, and the node sent every frame it describes');
