// The package against a real two-node cluster: REST sign-in, delivery across nodes, retried
// sends, resuming, token renewal and refusals, over real sockets.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { ChatClient, ChatError, Session } from "../dist/index.js";
import {
  NODE_A,
  NODE_B,
  PASSWORD,
  TOKEN_TTL_MS,
  connected,
  createGroup,
  flakyWebSocket,
  history,
  nextEvent,
  signUp,
  sleep,
  username,
} from "./helpers.mjs";

const clients = [];
/** A connected client, closed after the suite. */
async function open(who, options) {
  const client = await connected(who, options);
  clients.push(client);
  return client;
}

after(() => {
  for (const client of clients) client.close();
});

describe("@chat-cluster/client on a two-node cluster", () => {
  test("someone registers on one node and logs in on the other over REST", async () => {
    const name = username("reg");
    const registered = await new Session({ baseUrl: NODE_A }).register(name, PASSWORD, "Reg");
    const session = new Session({ baseUrl: NODE_B });
    const user = await session.login(name, PASSWORD);
    assert.equal(user.id, registered.id);
    assert.equal(user.display_name, "Reg");
    assert.equal(session.user.id, registered.id);
    const me = await session.request("GET", "/users/me");
    assert.equal(me.username, name);
  });

  test("a message sent on node A reaches a client on node B", async () => {
    const alice = await signUp(NODE_A, "alice");
    const bob = await signUp(NODE_B, "bob");
    const room = await createGroup(alice, "Across", [bob]);
    const sender = await open(alice);
    const reader = await open(bob);
    await reader.join(room.id);
    const arrived = nextEvent(reader, "message", (m) => m.room_id === room.id);
    const sent = await sender.send(room.id, "hello from A");
    const received = await arrived;
    assert.equal(received.id, sent.id);
    assert.equal(received.content, "hello from A");
    assert.equal(received.sender_id, alice.user.id);
  });

  test("unread counts of a room not joined arrive from the other node after asking", async () => {
    const alice = await signUp(NODE_A, "alice");
    const bob = await signUp(NODE_B, "bob");
    const room = await createGroup(alice, "Counted", [bob]);
    const sender = await open(alice);
    const reader = await open(bob);
    const rooms = await reader.rooms({ unread: true });
    assert.ok(rooms.some((r) => r.id === room.id));
    const counted = nextEvent(reader, "unread", (u) => u.room === room.id && u.unread_count === 2);
    await sender.send(room.id, "one");
    const second = await sender.send(room.id, "two");
    const unread = await counted;
    assert.equal(unread.last_read_seq, 0);
    const cleared = nextEvent(reader, "unread", (u) => u.room === room.id && u.unread_count === 0);
    await reader.markRead(room.id, second.seq);
    assert.equal((await cleared).last_read_seq, second.seq);
  });

  test("a send whose acknowledgement was lost is sent again after reconnecting and stored once", async () => {
    const alice = await signUp(NODE_A, "alice");
    const room = await createGroup(alice, "Once", []);
    const net = flakyWebSocket();
    const client = await open(alice, { WebSocket: net.WebSocket });
    await client.join(room.id);
    // The server stores the message and acknowledges it; the socket breaks before the client
    // reads that acknowledgement.
    net.onFrame = (frame, socket) => {
      const send = net.sent.find((f) => f.type === "send" && f.content === "only once");
      if (frame.type !== "reply" || frame.id !== send?.id) return undefined;
      net.onFrame = null;
      socket.drop();
      return "drop";
    };
    const message = await client.send(room.id, "only once");
    const transmissions = net.sent.filter((f) => f.type === "send" && f.client_msg_id === message.client_msg_id);
    assert.equal(transmissions.length, 2, "sent again after reconnecting");
    assert.equal(transmissions[0].first_attempt, true);
    assert.equal(transmissions[1].first_attempt, undefined, "a resend asks the server to look it up");
    assert.ok(net.sockets.length >= 2, "it reconnected");
    const stored = (await history(alice, room.id)).filter((m) => m.content === "only once");
    assert.equal(stored.length, 1);
    assert.equal(stored[0].id, message.id);
    assert.equal(client.unacknowledged, 0);
  });

  test("resuming after a disconnect delivers every message sent meanwhile exactly once", async () => {
    const alice = await signUp(NODE_A, "alice");
    const bob = await signUp(NODE_B, "bob");
    const room = await createGroup(alice, "Resume", [bob]);
    const sender = await open(alice);
    const net = flakyWebSocket();
    const reader = await open(bob, { WebSocket: net.WebSocket });
    const delivered = [];
    const resumes = [];
    reader.addEventListener("message", (e) => delivered.push(e.detail));
    reader.addEventListener("joined", (e) => {
      if (e.detail.resumed) resumes.push(e.detail);
      delivered.push(...e.detail.messages);
    });
    await reader.join(room.id);
    delivered.length = 0; // the room was empty; only what follows counts

    const sent = [];
    const sendSome = async (label, count) => {
      for (let i = 1; i <= count; i++) sent.push(await sender.send(room.id, `${label} ${i}`));
    };
    await sendSome("before", 3);
    await waitUntil(() => delivered.length === 3);

    net.offline = true;
    const down = nextEvent(reader, "state", (d) => d.state === "reconnecting");
    net.drop();
    await down;
    await sendSome("while away", 5);
    net.offline = false;
    const resumed = nextEvent(reader, "joined", (d) => d.resumed);
    reader.reconnectNow();
    const joined = await resumed;
    assert.equal(joined.recovered, true);
    assert.deepEqual(
      joined.messages.map((m) => m.content),
      ["while away 1", "while away 2", "while away 3", "while away 4", "while away 5"],
    );
    await sendSome("after", 2);
    await waitUntil(() => delivered.length >= sent.length);
    await sleep(300); // a duplicate would arrive about now
    assert.deepEqual(
      delivered.map((m) => m.id),
      sent.map((m) => m.id),
      "every message once, in order",
    );
    assert.equal(resumes.length, 1);
  });

  test("renewing the token keeps the socket open past the access token's lifetime", async () => {
    const alice = await signUp(NODE_A, "alice");
    const renewals = [];
    alice.session.addEventListener("renewed", (e) => renewals.push(e.detail.token));
    const renewing = await open(alice);
    const states = [];
    renewing.addEventListener("state", (e) => states.push(e.detail.state));
    // Beside it, a socket whose token nobody renews: the server closes it at expiry (4001).
    const other = new Session({ baseUrl: NODE_B });
    await other.login(alice.user.username, PASSWORD);
    const unrenewed = new ChatClient({ url: socketUrl(NODE_B), token: () => other.accessToken() });
    clients.push(unrenewed);
    unrenewed.connect();
    const dropped = nextEvent(unrenewed, "state", (d) => d.state === "reconnecting", TOKEN_TTL_MS * 3);

    await sleep(TOKEN_TTL_MS * 2.5);
    await dropped;
    assert.deepEqual(states, [], "the renewed socket never went down");
    assert.equal(renewing.state, "live");
    assert.ok(renewals.length >= 2, `renewed ${renewals.length} times`);
    const rooms = await renewing.rooms();
    assert.ok(Array.isArray(rooms), "the socket still answers");
  });

  test("refusals surface as ChatErrors with the contract's code", async () => {
    const alice = await signUp(NODE_A, "alice");
    const eve = await signUp(NODE_B, "eve");
    const room = await createGroup(alice, "Private", []);
    const client = await open(eve);
    await assert.rejects(client.join(room.id), (err) => err instanceof ChatError && err.code === "forbidden");
    await assert.rejects(client.send(room.id, "let me in"), (err) => err instanceof ChatError && err.code === "forbidden");
    await assert.rejects(
      new Session({ baseUrl: NODE_A }).login(alice.user.username, "wrong password"),
      (err) => err instanceof ChatError && err.code === "unauthorized",
    );
    await assert.rejects(
      new Session({ baseUrl: NODE_B }).register(alice.user.username, PASSWORD),
      (err) => err instanceof ChatError && err.code === "conflict",
    );
    await assert.rejects(
      new Session({ baseUrl: NODE_A }).register("a b", "short"),
      (err) =>
        err instanceof ChatError && err.code === "invalid_input" && "username" in err.fields && "password" in err.fields,
    );
  });
});

function socketUrl(node) {
  return `${node.replace(/^http/, "ws")}/ws`;
}

async function waitUntil(condition, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await sleep(20);
  }
}
