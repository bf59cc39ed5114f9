// chat-client.js used on its own, as another page would use it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { NODE_A, createRoom, launch, person, shownMessages } from "../lib/harness.mjs";

describe("the chat client module", () => {
  let browser;
  let sender;
  let room;

  before(async () => {
    browser = await launch();
    sender = await person(browser, NODE_A, "mod");
    room = await createRoom(sender.page, "Burst");
  });

  after(async () => {
    await browser?.close();
  });

  test("a burst past the rate limit is retried until every message is stored once, in order", async () => {
    const count = 150;
    const result = await sender.page.evaluate(
      async ({ room, count }) => {
        const { ChatClient } = await import("/assets/chat-client.js");
        // Every `send` frame that leaves the page, to see which say `first_attempt`.
        const frames = [];
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) {
          const frame = typeof data === "string" ? JSON.parse(data) : null;
          if (frame?.type === "send" && frame.room === room) frames.push(frame);
          return send.call(this, data);
        };
        const token = async () => JSON.parse(sessionStorage.getItem("chat.session")).accessToken;
        const client = new ChatClient({ token });
        const errors = [];
        client.addEventListener("error", (e) => errors.push(e.detail.code));
        client.connect();
        await new Promise((live) =>
          client.addEventListener("state", (e) => e.detail.state === "live" && live(undefined)),
        );
        await client.join(room);
        const sends = Array.from({ length: count }, (_, i) => client.send(room, `burst ${i + 1}`));
        const messages = await Promise.all(sends);
        const left = client.unacknowledged;
        client.close();
        WebSocket.prototype.send = send;
        const seen = new Set();
        let wrong = 0;
        let resends = 0;
        for (const frame of frames) {
          const first = !seen.has(frame.client_msg_id);
          seen.add(frame.client_msg_id);
          resends += first ? 0 : 1;
          if ((frame.first_attempt === true) !== first) wrong += 1;
        }
        return { seqs: messages.map((m) => m.seq), errors, left, wrong, resends };
      },
      { room, count },
    );
    assert.equal(new Set(result.seqs).size, count, "each send got its own message");
    assert.deepEqual(result.seqs, [...result.seqs].sort((a, b) => a - b), "stored in the order sent");
    assert.ok(result.errors.includes("rate_limited"), `the limit was hit: ${result.errors}`);
    assert.equal(result.left, 0);
    assert.ok(result.resends > 0, "refused sends were sent again");
    assert.equal(result.wrong, 0, "only each id's first transmission says first_attempt");

    // The page's own connection saw each of them once, in order.
    // Retried sends are stored later than their neighbours, so wait for all, not the last.
    await sender.page.waitForFunction(
      (count) => document.querySelectorAll("#messages li[data-id]").length >= count,
      count,
    );
    const shown = (await shownMessages(sender.page)).filter((m) => m.text.startsWith("burst "));
    assert.equal(shown.length, count);
    assert.equal(new Set(shown.map((m) => m.id)).size, shown.length);
    const seqs = shown.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  });

  test("a send with replyTo is a reply, quoted and counted, and the thread answers it", async () => {
    const result = await sender.page.evaluate(async (room) => {
      const { ChatClient } = await import("/assets/chat-client.js");
      const token = async () => JSON.parse(sessionStorage.getItem("chat.session")).accessToken;
      const client = new ChatClient({ token });
      client.connect();
      await new Promise((live) => client.addEventListener("state", (e) => e.detail.state === "live" && live(undefined)));
      await client.join(room);
      const parent = await client.send(room, "a question");
      const reply = await client.send(room, "an answer", { replyTo: parent.id });
      const thread = await client.thread(room, parent.id);
      const page = await client.history(room, { after: parent.seq - 1, limit: 1 });
      client.close();
      return { parent, reply, thread, counted: page.messages[0] };
    }, room);
    assert.deepEqual(result.reply.reply_to, {
      id: result.parent.id,
      seq: result.parent.seq,
      sender_id: result.parent.sender_id,
      content: "a question",
    });
    assert.deepEqual(
      result.thread.messages.map((m) => m.content),
      ["an answer"],
    );
    assert.equal(result.thread.has_more, false);
    assert.equal(result.counted.id, result.parent.id);
    assert.equal(result.counted.reply_count, 1);
  });
});
