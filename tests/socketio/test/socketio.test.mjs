// The official socket.io-client against the nodes' /socket.io/: node A and node B are two nodes of
// one cluster (or the same embedded node), reached without sticky sessions.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  NODE_A,
  NODE_B,
  call,
  closing,
  collect,
  connect,
  createGroup,
  eventually,
  nextEvent,
  refusal,
  rest,
  signUp,
  wsClient,
} from "./helpers.mjs";

test("a socket connects with auth: {token} and with ?token=", async () => {
  const ann = await signUp(NODE_A, "ann");
  for (const options of [{ auth: { token: ann.token } }, { query: { token: ann.token } }]) {
    const socket = await connect(NODE_B, options);
    assert.deepEqual(await call(socket, "rooms", {}), { ok: true, rooms: [] });
    socket.close();
  }
});

test("a missing or bad token is a connect error whose message is the contract's error", async () => {
  for (const options of [{}, { auth: { token: "not-a-token" } }, { query: { token: "nope" } }]) {
    const err = await refusal(NODE_A, options);
    const error = JSON.parse(err.message);
    assert.equal(error.code, "unauthorized", err.message);
    assert.equal(typeof error.message, "string");
  }
});

test("a message sent on node A reaches a socket on node B, acknowledged once durable with its seq", async () => {
  const ann = await signUp(NODE_A, "ann");
  const bob = await signUp(NODE_A, "bob");
  const room = await createGroup(NODE_A, ann, [bob]);
  const sender = await connect(NODE_A, { auth: { token: ann.token } });
  const reader = await connect(NODE_B, { auth: { token: bob.token } });
  assert.equal((await call(sender, "joinRoom", { room })).ok, true);
  const joined = await call(reader, "joinRoom", { room });
  assert.equal(joined.ok, true);
  assert.equal(joined.room.id, room);

  const arrived = nextEvent(reader, "message");
  const ack = await call(sender, "sendMessage", { room, content: "hello from A" });
  assert.equal(ack.ok, true);
  assert.equal(ack.message.content, "hello from A");
  assert.ok(Number.isInteger(ack.message.seq) && ack.message.seq > 0);
  const frame = await arrived;
  assert.equal(frame.type, "message");
  assert.deepEqual(frame.message, ack.message);
  // Acknowledged means stored: the other node reads it back.
  const page = await rest(NODE_B, "GET", `/rooms/${room}/messages`, bob.token);
  assert.deepEqual(page.messages.map((m) => m.id), [ack.message.id]);
  sender.close();
  reader.close();
});

test("a repeated client_msg_id returns the same message and delivers it once", async () => {
  const ann = await signUp(NODE_A, "ann");
  const bob = await signUp(NODE_A, "bob");
  const room = await createGroup(NODE_A, ann, [bob]);
  const sender = await connect(NODE_A, { auth: { token: ann.token } });
  const reader = await connect(NODE_B, { auth: { token: bob.token } });
  await call(reader, "joinRoom", { room });
  const seen = collect(reader, room);
  const send = { room, content: "only once", client_msg_id: "retry-1" };
  const first = await call(sender, "sendMessage", send);
  const again = await call(sender, "sendMessage", send);
  assert.deepEqual(again.message, first.message);
  await eventually(() => seen.length >= 1, "the delivery");
  // A later message comes after any second copy would have.
  const later = await call(sender, "sendMessage", { room, content: "later" });
  await eventually(() => seen.at(-1)?.id === later.message.id, "the later delivery");
  assert.deepEqual(seen.map((m) => m.id), [first.message.id, later.message.id]);
  sender.close();
  reader.close();
});

test("joining with since returns exactly the missed messages, in order", async () => {
  const ann = await signUp(NODE_A, "ann");
  const bob = await signUp(NODE_A, "bob");
  const room = await createGroup(NODE_A, ann, [bob]);
  const sender = await connect(NODE_A, { auth: { token: ann.token } });
  const seen = await call(sender, "sendMessage", { room, content: "seen" });
  const missed = [];
  for (let n = 0; n < 5; n++) {
    missed.push((await call(sender, "sendMessage", { room, content: `missed ${n}` })).message);
  }
  const reader = await connect(NODE_B, { auth: { token: bob.token } });
  const resumed = await call(reader, "joinRoom", { room, since: seen.message.seq });
  assert.equal(resumed.recovered, true);
  assert.deepEqual(resumed.messages, missed);
  sender.close();
  reader.close();
});

test("refusals come in the contract's shape", async () => {
  const ann = await signUp(NODE_A, "ann");
  const eve = await signUp(NODE_A, "eve");
  const room = await createGroup(NODE_A, ann);
  const socket = await connect(NODE_B, { auth: { token: eve.token } });
  const forbidden = await call(socket, "sendMessage", { room, content: "let me in" });
  assert.equal(forbidden.ok, false);
  assert.equal(forbidden.error.code, "forbidden");
  assert.equal(typeof forbidden.error.message, "string");
  const malformed = await call(socket, "sendMessage", "not an object");
  assert.equal(malformed.ok, false);
  assert.equal(malformed.error.code, "invalid_input");
  const missing = await call(socket, "sendMessage", { room });
  assert.equal(missing.error.code, "invalid_input");
  assert.ok(missing.error.fields.content, JSON.stringify(missing));
  // Without an acknowledgement, a failure is an `error` event.
  const error = nextEvent(socket, "error");
  socket.emit("joinRoom", { room });
  assert.equal((await error).error.code, "forbidden");
  socket.close();
});

test("an oversized event closes the socket with 1009", async () => {
  const ann = await signUp(NODE_A, "ann");
  const room = await createGroup(NODE_A, ann);
  const socket = await connect(NODE_A, { auth: { token: ann.token } });
  const closed = closing(socket);
  socket.emit("sendMessage", { room, content: "x".repeat(70 * 1024) });
  assert.deepEqual(await closed, { code: 1009, reason: "frame too large", disconnect: "io server disconnect" });
});

test("a flood of sends gets rate_limited acknowledgements, then the flood close 4008", async () => {
  const ann = await signUp(NODE_A, "ann");
  const room = await createGroup(NODE_A, ann);
  const socket = await connect(NODE_B, { auth: { token: ann.token } });
  const closed = closing(socket);
  const acks = [];
  for (let n = 0; n < 400; n++) {
    acks.push(call(socket, "sendMessage", { room, content: `flood ${n}` }).catch(() => null));
  }
  assert.deepEqual(await closed, { code: 4008, reason: "sending too fast", disconnect: "io server disconnect" });
  const answered = (await Promise.all(acks)).filter(Boolean);
  assert.ok(answered.some((ack) => ack.ok), "the burst went through");
  assert.ok(answered.some((ack) => ack.error?.code === "rate_limited"), "the rest was refused");
});

test("another user's join is a presence event", async () => {
  const ann = await signUp(NODE_A, "ann");
  const bob = await signUp(NODE_A, "bob");
  const room = await createGroup(NODE_A, ann, [bob]);
  const socket = await connect(NODE_A, { auth: { token: ann.token } });
  await call(socket, "joinRoom", { room });
  const presence = nextEvent(socket, "presence", (p) => p.user_id === bob.id);
  const other = await connect(NODE_B, { auth: { token: bob.token } });
  await call(other, "joinRoom", { room });
  assert.deepEqual(await presence, { type: "presence", room, user_id: bob.id, state: "online" });
  socket.close();
  other.close();
});

test("/ws and Socket.IO clients in one room see each other's messages", async () => {
  const ann = await signUp(NODE_A, "ann");
  const bob = await signUp(NODE_A, "bob");
  const room = await createGroup(NODE_A, ann, [bob]);
  const socket = await connect(NODE_A, { auth: { token: ann.token } });
  await call(socket, "joinRoom", { room });
  const ws = await wsClient(NODE_B, bob.token);
  assert.equal((await ws.request({ type: "join", room })).ok, true);

  const fromWs = nextEvent(socket, "message");
  const sent = await ws.request({ type: "send", room, content: "from /ws" });
  assert.equal((await fromWs).message.id, sent.message.id);

  const ack = await call(socket, "sendMessage", { room, content: "from socket.io" });
  await eventually(() => ws.frames.some((f) => f.type === "message" && f.message.id === ack.message.id), "the /ws delivery");
  ws.close();
  socket.close();
});

test("the auth event renews the token, and ping is acknowledged and answered with pong", async () => {
  const ann = await signUp(NODE_A, "ann");
  const socket = await connect(NODE_B, { auth: { token: ann.token } });
  const renewed = await rest(NODE_A, "POST", "/auth/refresh", null, { refresh_token: ann.refresh });
  assert.deepEqual(await call(socket, "auth", { token: renewed.access_token }), { ok: true });
  const pong = nextEvent(socket, "pong");
  assert.deepEqual(await call(socket, "ping", {}), { ok: true });
  assert.deepEqual(await pong, { type: "pong" });
  socket.close();
});

test("a logout closes the login's socket with 4001", async () => {
  const ann = await signUp(NODE_A, "ann");
  const socket = await connect(NODE_B, { auth: { token: ann.token } });
  const closed = closing(socket);
  await rest(NODE_A, "POST", "/auth/logout", null, { refresh_token: ann.refresh });
  assert.deepEqual(await closed, { code: 4001, reason: "login ended", disconnect: "io server disconnect" });
});

test("long-polling works against one node", async () => {
  const ann = await signUp(NODE_A, "ann");
  const socket = await connect(NODE_A, { auth: { token: ann.token }, transports: ["polling"] });
  assert.equal(socket.io.engine.transport.name, "polling");
  assert.deepEqual(await call(socket, "rooms", {}), { ok: true, rooms: [] });
  socket.close();
});
