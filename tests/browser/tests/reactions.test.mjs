// Reactions through the page: ann and bob (on two nodes of the cluster, or the same embedded
// node) react to messages and see each other's reactions live, after being offline and after a
// reload; each sees their own pressed; the limits the server sets are shown as sentences.
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

/** The chips under a message as one line: each emoji with its count, `*` when pressed. */
function reactions(page, row) {
  return page.$$eval(`${row} .reactions button.reaction`, (chips) =>
    chips
      .map((chip) => {
        const pressed = chip.getAttribute("aria-pressed") === "true" ? "*" : "";
        return `${chip.dataset.emoji}${chip.querySelector(".count").textContent}${pressed}`;
      })
      .join(" "),
  );
}

/** Waits until the chips under a message read `expected` (as `reactions` writes them). */
async function waitForReactions(page, row, expected, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let shown = await reactions(page, row);
  while (shown !== expected && Date.now() < deadline) {
    await page.waitForTimeout(100);
    shown = await reactions(page, row);
  }
  assert.equal(shown, expected);
}

/** The screen reader's sentence for a chip. */
function labelOf(page, row, emoji) {
  return page.getAttribute(`${row} button.reaction[data-emoji="${emoji}"]`, "aria-label");
}

/** Reacts through the "add a reaction" control and one of the emojis it offers. */
async function reactWith(page, row, emoji) {
  await page.click(`${row} button.add-reaction`);
  await page.click(`${row} .reaction-menu button[data-emoji="${emoji}"]`);
  assert.equal(await page.$(`${row} .reaction-menu`), null, "choosing closes the menu");
}

/** Toggles the user's reaction through its chip. */
function toggle(page, row, emoji) {
  return page.click(`${row} button.reaction[data-emoji="${emoji}"]`);
}

describe(`reactions on ${SETUP}`, () => {
  let browser;
  let ann; // on node A
  let bob; // on node B (the same node when embedded)
  let room;
  /** The message most reactions go to, and one written before bob goes offline. */
  let first;
  let second;

  before(async () => {
    browser = await launch();
    ann = await person(browser, NODE_A, "ann");
    bob = await person(browser, NODE_B, "bob");
    room = await createRoom(ann.page, "Feelings");
    await addMember(ann.page, bob.id);
    await waitForRoom(bob.page, room);
    await openRoom(bob.page, room);
    await send(ann.page, "lunch at noon?");
    await waitForMessage(bob.page, "lunch at noon?");
    await send(bob.page, "the build is green");
    await waitForMessage(ann.page, "the build is green");
    first = await rowOf(ann.page, "lunch at noon?");
    second = await rowOf(ann.page, "the build is green");
  });

  after(async () => {
    await browser?.close();
  });

  test("the add control opens a few emojis and closes with Escape, focus returning to it", async () => {
    const add = `${first} button.add-reaction`;
    assert.equal(await ann.page.getAttribute(add, "aria-expanded"), "false");
    await ann.page.focus(add);
    await ann.page.keyboard.press("Enter");
    await ann.page.waitForSelector(`${first} .reaction-menu`);
    assert.equal(await ann.page.getAttribute(add, "aria-expanded"), "true");
    const offered = await ann.page.$$eval(`${first} .reaction-menu button`, (nodes) => nodes.map((n) => n.textContent));
    assert.deepEqual(offered, ["👍", "❤️", "😂", "🎉", "😮", "😢"]);
    assert.equal(await ann.page.evaluate(() => document.activeElement?.textContent), "👍");
    await ann.page.keyboard.press("Escape");
    assert.equal(await ann.page.$(`${first} .reaction-menu`), null);
    assert.equal(await ann.page.getAttribute(add, "aria-expanded"), "false");
    assert.ok(await ann.page.evaluate(() => document.activeElement?.classList.contains("add-reaction")));

    await ann.page.click(add);
    await ann.page.click("#room-name");
    assert.equal(await ann.page.$(`${first} .reaction-menu`), null, "a click elsewhere closes it");
  });

  test("a reaction shows at once on the other node, pressed only for the one who made it", async () => {
    await reactWith(ann.page, first, "👍");
    await waitForReactions(ann.page, first, "👍1*");
    await waitForReactions(bob.page, first, "👍1");
    assert.equal(await labelOf(ann.page, first, "👍"), "👍 1 reaction, yours");
    assert.equal(await labelOf(bob.page, first, "👍"), "👍 1 reaction");
    assert.equal(await reactions(bob.page, second), "", "other messages have none");
  });

  test("a second person's reaction counts for both, and each sees their own pressed", async () => {
    await toggle(bob.page, first, "👍");
    await waitForReactions(bob.page, first, "👍2*");
    await waitForReactions(ann.page, first, "👍2*");
    assert.equal(await labelOf(ann.page, first, "👍"), "👍 2 reactions, including yours");

    await reactWith(bob.page, first, "❤️");
    await waitForReactions(bob.page, first, "👍2* ❤️1*");
    await waitForReactions(ann.page, first, "👍2* ❤️1");
    assert.equal(await labelOf(ann.page, first, "❤️"), "❤️ 1 reaction");
    await reactWith(ann.page, second, "🎉");
    await waitForReactions(bob.page, second, "🎉1");
    await ann.page.click(`${second} button.add-reaction`);
    await ann.page.screenshot({ path: screenshot("reactions") });
    await ann.page.keyboard.press("Escape");
  });

  test("clicking one's chip takes the reaction back, and a chip at zero goes", async () => {
    await toggle(ann.page, first, "👍");
    await waitForReactions(ann.page, first, "👍1 ❤️1");
    await waitForReactions(bob.page, first, "👍1* ❤️1*");
    assert.equal(await labelOf(ann.page, first, "👍"), "👍 1 reaction");

    await toggle(bob.page, first, "❤️");
    await waitForReactions(bob.page, first, "👍1*");
    await waitForReactions(ann.page, first, "👍1");
    // The emoji menu marks what the user has, and choosing it again takes it back too.
    await bob.page.click(`${first} button.add-reaction`);
    assert.equal(await bob.page.getAttribute(`${first} .reaction-menu button[data-emoji="👍"]`, "aria-pressed"), "true");
    await bob.page.click(`${first} .reaction-menu button[data-emoji="👍"]`);
    await waitForReactions(bob.page, first, "");
    await waitForReactions(ann.page, first, "");
    await toggle(ann.page, second, "🎉");
    await waitForReactions(bob.page, second, "");
  });

  test("reactions made while someone is offline reach them when back, and theirs go out then", async () => {
    await reactWith(ann.page, first, "👍");
    await waitForReactions(bob.page, first, "👍1");

    await bob.context.setOffline(true);
    await bob.page.waitForSelector("#connection:not([data-state=live])");
    await reactWith(ann.page, first, "🎉");
    await reactWith(ann.page, second, "😂");
    await reactWith(ann.page, first, "😢");
    await toggle(ann.page, first, "😢");
    await waitForReactions(ann.page, first, "👍1* 🎉1*");
    await waitForReactions(ann.page, second, "😂1*");
    // Bob's own reaction waits for the connection.
    await reactWith(bob.page, second, "😮");
    await ann.page.waitForTimeout(300);
    assert.equal(await reactions(ann.page, second), "😂1*");

    await bob.context.setOffline(false);
    await bob.page.waitForSelector("#connection[data-state=live]", { timeout: 20_000 });
    await waitForReactions(bob.page, first, "👍1 🎉1");
    await waitForReactions(bob.page, second, "😂1 😮1*");
    await waitForReactions(ann.page, second, "😂1* 😮1");
    const shown = await shownMessages(bob.page);
    assert.equal(new Set(shown.map((m) => m.id)).size, shown.length, "no message twice");
  });

  test("after a reload, history shows the reactions with the reader's own pressed", async () => {
    await bob.page.reload();
    await bob.page.waitForSelector("#connection[data-state=live]");
    await openRoom(bob.page, room);
    await waitForMessage(bob.page, "the build is green");
    await waitForReactions(bob.page, first, "👍1 🎉1");
    await waitForReactions(bob.page, second, "😂1 😮1*");
    assert.equal(await labelOf(bob.page, second, "😮"), "😮 1 reaction, yours");
    // And the reloaded page keeps counting live.
    await toggle(ann.page, first, "🎉");
    await waitForReactions(bob.page, first, "👍1");
  });

  test("an edit keeps a message's reactions; a deletion takes them away", async () => {
    await ann.page.click(`${first} button.edit`);
    await ann.page.fill(`${first} textarea.editor`, "lunch at one?");
    await ann.page.press(`${first} textarea.editor`, "Enter");
    for (const page of [ann.page, bob.page]) {
      await page.waitForSelector(`${first} .content:text-is("lunch at one?")`);
    }
    await waitForReactions(ann.page, first, "👍1*");
    await waitForReactions(bob.page, first, "👍1");

    await ann.page.click(`${first} button.delete`);
    await ann.page.click(`${first} button.confirm-delete`);
    for (const page of [ann.page, bob.page]) {
      await page.waitForSelector(`${first}.deleted .content.tombstone`);
      assert.equal(await page.$(`${first} .reactions`), null, "a tombstone shows no reactions");
    }
  });

  test("a 51st kind of reaction on one message is refused, and the page says why", async () => {
    await send(bob.page, "vote with animals");
    await waitForMessage(ann.page, "vote with animals");
    const row = await rowOf(ann.page, "vote with animals");
    // Fifty emojis (🐀 onwards, none of them offered by the page) through the REST route.
    const animals = Array.from({ length: 50 }, (_, i) => String.fromCodePoint(0x1f400 + i));
    const statuses = await ann.page.evaluate(
      async ({ room, id, animals, token }) => {
        const statuses = [];
        for (const emoji of animals) {
          const response = await fetch(`/rooms/${room}/messages/${id}/reactions/${encodeURIComponent(emoji)}`, {
            method: "PUT",
            headers: { authorization: `Bearer ${token}` },
          });
          statuses.push(response.status);
        }
        return statuses;
      },
      { room, id: idOf(row), animals, token: await accessToken(ann.page) },
    );
    assert.deepEqual([...new Set(statuses)], [200]);
    await waitForReactions(bob.page, row, animals.map((emoji) => `${emoji}1`).join(" "));

    await reactWith(ann.page, row, "👍");
    await ann.page.waitForSelector("#banner:not([hidden])");
    assert.match(await ann.page.textContent("#banner-text"), /already has 50 different reactions/);
    await ann.page.click("#banner-close");
    await ann.page.waitForTimeout(300);
    assert.equal(await ann.page.$(`${row} button.reaction[data-emoji="👍"]`), null);
    // One more of a kind it has is fine.
    await toggle(bob.page, row, "🐀");
    const counted = animals.map((emoji, i) => (i === 0 ? `${emoji}2*` : `${emoji}1*`));
    await waitForReactions(ann.page, row, counted.join(" "));
  });

  test("a burst of toggles past the rate limit says so, and ends as last asked", async () => {
    await send(ann.page, "click me");
    await waitForMessage(bob.page, "click me");
    const row = await rowOf(bob.page, "click me");
    await reactWith(ann.page, row, "👍");
    await waitForReactions(bob.page, row, "👍1");
    if (await bob.page.isVisible("#banner")) await bob.page.click("#banner-close");
    const clicks = 121;
    await bob.page.evaluate(
      ({ row, clicks }) => {
        for (let i = 0; i < clicks; i++) document.querySelector(`${row} button.reaction[data-emoji="👍"]`).click();
      },
      { row, clicks },
    );
    await bob.page.waitForSelector("#banner:not([hidden])");
    assert.match(await bob.page.textContent("#banner-text"), /Too many attempts/);
    await waitForReactions(bob.page, row, "👍2*", 60_000);
    await waitForReactions(ann.page, row, "👍2*");
  });

  test("no dialog was opened and no policy violated", () => {
    assert.deepEqual([...ann.problems, ...bob.problems], []);
  });
});
