// Two people chatting through the page: each on a different node of the cluster, or both on the
// one embedded node.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  NODE_A,
  NODE_B,
  SETUP,
  accessToken,
  addMember,
  connectionStates,
  createRoom,
  launch,
  openRoom,
  person,
  screenshot,
  send,
  shownMessages,
  waitForMessage,
  waitForRoom,
} from "../lib/harness.mjs";

describe(`the chat page on ${SETUP}`, () => {
  let browser;
  let ann; // on node A
  let bob; // on node B (the same node when embedded)
  let room;

  before(async () => {
    browser = await launch();
    ann = await person(browser, NODE_A, "ann");
    bob = await person(browser, NODE_B, "bob");
  });

  after(async () => {
    await browser?.close();
  });

  test("the page is served under a policy that forbids inline scripts", () => {
    const headers = ann.response.headers();
    assert.match(headers["content-type"], /^text\/html/);
    assert.match(headers["content-security-policy"], /script-src 'self'/);
    assert.doesNotMatch(headers["content-security-policy"], /unsafe-inline/);
  });

  test("unknown paths still get the contract's JSON 404", async () => {
    for (const path of ["/nowhere", "/assets/nowhere.js"]) {
      const response = await fetch(`${NODE_A}${path}`);
      assert.equal(response.status, 404);
      assert.equal((await response.json()).error.code, "not_found");
    }
  });

  test("a room is created, a member added, and both see each other's messages", async () => {
    room = await createRoom(ann.page, "Team room");
    await addMember(ann.page, bob.id);
    await waitForRoom(bob.page, room);

    // Bob follows the room before opening it, so a message counts as unread.
    await send(ann.page, "welcome, bob");
    await waitForMessage(ann.page, "welcome, bob");
    await bob.page.waitForSelector(`.room-list [data-room-id="${room}"] .unread:text-is("1")`);

    await openRoom(bob.page, room);
    await waitForMessage(bob.page, "welcome, bob");
    await bob.page.waitForSelector(`.room-list [data-room-id="${room}"]:not(:has(.unread))`);

    await send(bob.page, "hi ann");
    await waitForMessage(ann.page, "hi ann");
    await send(ann.page, "how are you?");
    await waitForMessage(bob.page, "how are you?");
    assert.deepEqual(
      (await shownMessages(bob.page)).map((m) => m.text),
      ["welcome, bob", "hi ann", "how are you?"],
    );
  });

  test("each sees the other online, typing, and having read", async () => {
    await ann.page.waitForSelector(`#members .member.online[data-user-id="${bob.id}"]`);
    await bob.page.waitForSelector(`#members .member.online[data-user-id="${ann.id}"]`);

    // Typing frames are throttled, so keep typing until one gets through.
    let seen = false;
    for (let i = 0; i < 10 && !seen; i++) {
      await ann.page.fill("#composer textarea", `typing something ${"…".repeat(i)}`);
      seen = await bob.page
        .waitForSelector("#typing:has-text('ann is typing')", { timeout: 1_000 })
        .then(() => true, () => false);
    }
    assert.ok(seen, "bob saw ann typing");
    await ann.page.fill("#composer textarea", "");

    // Bob has the room open and scrolled to the end, so he marks it read.
    await ann.page.waitForSelector("#messages .seen:has-text('Seen by bob')");
  });

  test("the session outlives its access tokens without dropping the connection", async () => {
    const ttl = Number(process.env.ACCESS_TOKEN_TTL_SECONDS ?? 900);
    const first = await accessToken(bob.page);
    const states = await connectionStates(bob.page);
    // Past the first token's expiry: the page must have refreshed and renewed the socket's token.
    await bob.page.waitForTimeout((ttl + 3) * 1000);
    assert.notEqual(await accessToken(bob.page), first, "the access token was renewed");
    assert.deepEqual(await states(), [], "the connection never left live");
    await send(bob.page, "still here");
    await waitForMessage(ann.page, "still here");
  });

  test("someone offline gets what they missed, in order and once, and their own send goes out", async () => {
    await bob.context.setOffline(true);
    await bob.page.waitForSelector("#connection:not([data-state=live])");
    await send(bob.page, "written while offline");
    for (let i = 1; i <= 5; i++) await send(ann.page, `missed ${i}`);
    await waitForMessage(ann.page, "missed 5");
    await bob.page.waitForTimeout(500);
    assert.equal(await bob.page.$("#messages li[data-id] .content:text-is('missed 1')"), null);
    await bob.page.waitForSelector("#messages li.pending:has-text('written while offline')");

    await bob.context.setOffline(false);
    await bob.page.waitForSelector("#connection[data-state=live]", { timeout: 20_000 });
    await waitForMessage(bob.page, "missed 5");
    await waitForMessage(bob.page, "written while offline");
    await waitForMessage(ann.page, "written while offline");

    for (const page of [ann.page, bob.page]) {
      const shown = await shownMessages(page);
      const seqs = shown.map((m) => m.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in seq order");
      assert.equal(new Set(shown.map((m) => m.id)).size, shown.length, "no message twice");
      const missed = shown.filter((m) => m.text.startsWith("missed ")).map((m) => m.text);
      assert.deepEqual(missed, ["missed 1", "missed 2", "missed 3", "missed 4", "missed 5"]);
      assert.equal(shown.filter((m) => m.text === "written while offline").length, 1);
    }
    assert.equal(await bob.page.$$eval("#messages li.pending", (rows) => rows.length), 0);
  });

  test("markup in a message is shown as text and runs nothing", async () => {
    const script = "<script>alert(1)</script>";
    const image = `<img src=x onerror="window.__pwned = true; alert(2)">`;
    await send(ann.page, script);
    await send(ann.page, image);
    for (const page of [ann.page, bob.page]) {
      await waitForMessage(page, script);
      await waitForMessage(page, image);
      assert.equal(await page.$$eval("#messages script, #messages img", (nodes) => nodes.length), 0);
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
    }
    await ann.page.waitForTimeout(300);
    assert.deepEqual([...ann.problems, ...bob.problems], []);
  });

  test("older history loads when scrolling up", async () => {
    for (let i = 1; i <= 120; i++) {
      // The page renews its short-lived token meanwhile; use whichever is current.
      const token = await accessToken(ann.page);
      const response = await fetch(`${NODE_A}/rooms/${room}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ content: `bulk ${i}`, client_msg_id: `bulk-${room}-${i}` }),
      });
      assert.equal(response.status, 201);
    }
    // A reload keeps the session (sessionStorage) and opens with the newest page only.
    await bob.page.reload();
    await bob.page.waitForSelector("#connection[data-state=live]");
    await openRoom(bob.page, room);
    await waitForMessage(bob.page, "bulk 120");
    const first = await shownMessages(bob.page);
    assert.ok(first.length <= 50, `${first.length} shown at first`);

    for (let i = 0; i < 20 && !(await bob.page.$("#messages .content:text-is('welcome, bob')")); i++) {
      await bob.page.$eval("#messages", (list) => (list.scrollTop = 0));
      await bob.page.waitForTimeout(300);
    }
    const all = await shownMessages(bob.page);
    assert.equal(all[0].text, "welcome, bob");
    const seqs = all.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(all.map((m) => m.id)).size, all.length);
    assert.equal(all.filter((m) => m.text.startsWith("bulk ")).length, 120);
  });

  test("the chat looks like a chat, on a desktop and on a phone", async () => {
    await send(bob.page, "Looks good on my side ✓");
    await waitForMessage(ann.page, "Looks good on my side ✓");
    await ann.page.screenshot({ path: screenshot("chat") });

    const phone = await person(browser, NODE_B, "cleo", { width: 390, height: 760 });
    await addMember(ann.page, phone.id);
    await waitForRoom(phone.page, room);
    await phone.page.screenshot({ path: screenshot("rooms-phone") });
    await openRoom(phone.page, room);
    await waitForMessage(phone.page, "Looks good on my side ✓");
    assert.equal(await phone.page.isVisible("#sidebar"), false, "one pane at a time on a phone");
    await phone.page.screenshot({ path: screenshot("chat-phone") });
    await phone.page.click("#back");
    assert.equal(await phone.page.isVisible("#sidebar"), true);
    assert.deepEqual(phone.problems, []);
  });
});
