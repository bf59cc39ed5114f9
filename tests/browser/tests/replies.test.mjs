// Replies and threads through the page: ann and bob (on two nodes of the cluster, or the same
// embedded node) reply to messages, see each other's replies quoted and counted live, open a
// message's thread and reply there, and see quotes and counts as they stand after a reload.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  NODE_A,
  NODE_B,
  SETUP,
  accessToken,
  addMember,
  createRoom,
  launch,
  openRoom,
  person,
  rowOf,
  screenshot,
  send,
  shownMessages,
  waitForMessage,
  waitForRoom,
} from "../lib/harness.mjs";

/** The message's id, from its row's selector. */
function idOf(row) {
  return /data-id="([^"]+)"/.exec(row)[1];
}

/** Chooses Reply on a message, then sends `text` from the room's composer. */
async function replyTo(page, row, text) {
  await page.click(`${row} button.reply`);
  await page.waitForSelector("#reply-bar:not([hidden])");
  await send(page, text);
}

/** The quote above a reply as "author: text", or null when it has none. */
async function quoteOf(page, row) {
  const quote = await page.$(`${row} button.quote`);
  if (!quote) return null;
  return quote.evaluate((node) => `${node.querySelector(".name").textContent}: ${node.querySelector(".quoted").textContent}`);
}

/** Waits until the quote above a reply reads `expected` (as `quoteOf` writes it): names show
 * once fetched. */
async function waitForQuote(page, row, expected, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let shown = await quoteOf(page, row);
  while (shown !== expected && Date.now() < deadline) {
    await page.waitForTimeout(100);
    shown = await quoteOf(page, row);
  }
  assert.equal(shown, expected);
}

/** Waits until a message's reply count reads `expected` ("" when it shows none). */
async function waitForCount(page, row, expected, timeout = 15_000) {
  await page.waitForFunction(
    ({ row, expected }) => (document.querySelector(`${row} .reply-count`)?.textContent ?? "") === expected,
    { row, expected },
    { timeout },
  );
}

/** The texts of the replies the open thread shows, in order. */
function threadReplies(page) {
  return page.$$eval("#thread-replies li[data-id] .content", (nodes) => nodes.map((node) => node.textContent));
}

/** Waits until the open thread shows exactly these replies. */
async function waitForThread(page, expected, timeout = 15_000) {
  await page.waitForFunction(
    (expected) =>
      JSON.stringify([...document.querySelectorAll("#thread-replies li[data-id] .content")].map((n) => n.textContent)) ===
      JSON.stringify(expected),
    expected,
    { timeout },
  );
}

describe(`replies and threads on ${SETUP}`, () => {
  let browser;
  let ann; // on node A
  let bob; // on node B (the same node when embedded)
  let room;
  /** The message most replies go to. */
  let parent;

  before(async () => {
    browser = await launch();
    ann = await person(browser, NODE_A, "ann");
    bob = await person(browser, NODE_B, "bob");
    room = await createRoom(ann.page, "Plans");
    await addMember(ann.page, bob.id);
    await waitForRoom(bob.page, room);
    await openRoom(bob.page, room);
    await send(ann.page, "where do we meet?");
    await waitForMessage(bob.page, "where do we meet?");
    parent = await rowOf(ann.page, "where do we meet?");
  });

  after(async () => {
    await browser?.close();
  });

  test("Reply shows whom it answers above the composer; × and Escape cancel it", async () => {
    await ann.page.click(`${parent} button.reply`);
    await ann.page.waitForSelector("#reply-bar:not([hidden])");
    assert.equal(await ann.page.textContent("#reply-bar-text"), "Replying to ann: where do we meet?");
    assert.ok(await ann.page.evaluate(() => document.activeElement?.getAttribute("aria-label") === "Message"));
    await ann.page.click("#reply-cancel");
    assert.equal(await ann.page.isVisible("#reply-bar"), false);

    await ann.page.focus(`${parent} button.reply`);
    await ann.page.keyboard.press("Enter");
    await ann.page.waitForSelector("#reply-bar:not([hidden])");
    await ann.page.keyboard.press("Escape");
    assert.equal(await ann.page.isVisible("#reply-bar"), false);

    await send(ann.page, "not a reply");
    await waitForMessage(bob.page, "not a reply");
    assert.equal(await quoteOf(bob.page, await rowOf(bob.page, "not a reply")), null);
    await waitForCount(bob.page, parent, "");
  });

  test("a reply shows its quote at once on the other node, and its parent counts it once", async () => {
    await replyTo(ann.page, parent, "at the station");
    assert.equal(await ann.page.isVisible("#reply-bar"), false, "sending ends the reply");
    await waitForMessage(bob.page, "at the station");
    const reply = await rowOf(bob.page, "at the station");
    await waitForQuote(bob.page, reply, "ann: where do we meet?");
    await waitForQuote(ann.page, reply, "ann: where do we meet?");
    for (const page of [ann.page, bob.page]) await waitForCount(page, parent, "1 reply");
    await bob.page.waitForTimeout(500);
    assert.equal(await bob.page.textContent(`${parent} .reply-count`), "1 reply");
    assert.equal(await ann.page.textContent(`${parent} .reply-count`), "1 reply");

    await bob.page.click(`${reply} button.quote`);
    await bob.page.waitForSelector(`${parent}.highlight`);
  });

  test("the count opens the thread; a reply written there answers the same message", async () => {
    await bob.page.click(`${parent} .reply-count`);
    await bob.page.waitForSelector("#thread:not([hidden])");
    assert.equal(await bob.page.textContent("#thread-parent .content"), "where do we meet?");
    await waitForThread(bob.page, ["at the station"]);

    await bob.page.fill("#thread-composer textarea", "see you there");
    await bob.page.press("#thread-composer textarea", "Enter");
    await waitForThread(bob.page, ["at the station", "see you there"]);
    await waitForMessage(ann.page, "see you there");
    await waitForQuote(ann.page, await rowOf(ann.page, "see you there"), "ann: where do we meet?");
    for (const page of [ann.page, bob.page]) await waitForCount(page, parent, "2 replies");

    // A reply from the room's composer shows in the open thread at once.
    await replyTo(ann.page, parent, "bring an umbrella");
    await waitForThread(bob.page, ["at the station", "see you there", "bring an umbrella"]);
    for (const page of [ann.page, bob.page]) await waitForCount(page, parent, "3 replies");
    await bob.page.screenshot({ path: screenshot("thread") });
  });

  test("edits and deletions of replies show in the open thread", async () => {
    const edited = await rowOf(ann.page, "at the station");
    await ann.page.click(`${edited} button.edit`);
    await ann.page.fill(`${edited} textarea.editor`, "at the north entrance");
    await ann.page.press(`${edited} textarea.editor`, "Enter");
    await waitForThread(bob.page, ["at the north entrance", "see you there", "bring an umbrella"]);
    // Ann's editor closes when her edit is answered, which may come after Bob saw it.
    await waitForMessage(ann.page, "at the north entrance");

    const removed = await rowOf(ann.page, "bring an umbrella");
    await ann.page.click(`${removed} button.delete`);
    await ann.page.click(`${removed} button.confirm-delete`);
    await waitForThread(bob.page, ["at the north entrance", "see you there", "message deleted"]);
    await bob.page.waitForSelector(`#thread-replies li[data-id="${idOf(removed)}"].deleted`);
    await bob.page.waitForTimeout(300);
    await waitForCount(bob.page, parent, "3 replies");

    await bob.page.press("#thread-composer textarea", "Escape");
    assert.equal(await bob.page.isVisible("#thread"), false, "Escape closes the thread");
    assert.ok(
      await bob.page.evaluate(() => document.activeElement?.classList.contains("reply-count")),
      "focus goes back to the count",
    );
  });

  test("a reply whose parent was deleted quotes it as deleted; counts survive a reload", async () => {
    await send(ann.page, "temporary plan");
    await waitForMessage(bob.page, "temporary plan");
    await replyTo(bob.page, await rowOf(bob.page, "temporary plan"), "fine by me");
    await waitForMessage(ann.page, "fine by me");
    const gone = await rowOf(ann.page, "temporary plan");
    await ann.page.click(`${gone} button.delete`);
    await ann.page.click(`${gone} button.confirm-delete`);
    await bob.page.waitForSelector(`${gone}.deleted`);

    await bob.page.reload();
    await bob.page.waitForSelector("#connection[data-state=live]");
    await openRoom(bob.page, room);
    await waitForMessage(bob.page, "fine by me");
    const reply = await rowOf(bob.page, "fine by me");
    await bob.page.waitForSelector(`${reply} button.quote.deleted`);
    await waitForQuote(bob.page, reply, "ann: Deleted message");
    assert.doesNotMatch(await bob.page.evaluate(() => document.documentElement.outerHTML), /temporary plan/);
    await waitForCount(bob.page, gone, "1 reply");
    await waitForCount(bob.page, parent, "3 replies");
    await waitForQuote(bob.page, await rowOf(bob.page, "see you there"), "ann: where do we meet?");

    // A deleted message keeps its thread.
    await bob.page.click(`${gone} .reply-count`);
    await waitForThread(bob.page, ["fine by me"]);
    await bob.page.click("#thread-close");
  });

  test("replying to a message deleted meanwhile is refused, and the page says why", async () => {
    await send(ann.page, "soon gone");
    await waitForMessage(bob.page, "soon gone");
    const target = await rowOf(bob.page, "soon gone");
    if (await bob.page.isVisible("#banner")) await bob.page.click("#banner-close");
    await bob.page.click(`${target} button.reply`);
    const status = await ann.page.evaluate(
      async ({ room, id, token }) => {
        const response = await fetch(`/rooms/${room}/messages/${id}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${token}` },
        });
        return response.status;
      },
      { room, id: idOf(target), token: await accessToken(ann.page) },
    );
    assert.equal(status, 200);
    await bob.page.waitForSelector(`${target}.deleted`);

    await send(bob.page, "too late");
    await bob.page.waitForSelector("#banner:not([hidden])");
    assert.equal(
      await bob.page.textContent("#banner-text"),
      "The message you replied to has been deleted, so your reply was not sent.",
    );
    await bob.page.waitForSelector('#messages li.failed:has-text("too late") .status:text-is("not sent")');
    assert.equal(await bob.page.isVisible("#reply-bar"), false);
    await ann.page.waitForTimeout(300);
    assert.ok(!(await shownMessages(ann.page)).some((m) => m.text === "too late"));
  });

  test("no dialog was opened and no policy violated", () => {
    assert.deepEqual([...ann.problems, ...bob.problems], []);
  });
});
