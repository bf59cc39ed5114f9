// Editing and deleting messages through the page: ann changes her messages, bob (on another
// node of the cluster, or the same embedded node) sees each change live, after missing it while
// offline, and after a reload.
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

/** The labels of the buttons under a message. */
function buttons(page, row) {
  return page.$$eval(`${row} .actions button`, (nodes) => nodes.map((node) => node.textContent));
}

/** Edits a message through its Edit button: the text is replaced in place, Enter saves. */
async function edit(page, row, text) {
  await page.click(`${row} button.edit`);
  await page.fill(`${row} textarea.editor`, text);
  await page.press(`${row} textarea.editor`, "Enter");
}

/** Deletes a message through its Delete button and the inline question. */
async function remove(page, row) {
  await page.click(`${row} button.delete`);
  await page.waitForSelector(`${row} .actions:has-text("Delete?")`);
  await page.click(`${row} button.confirm-delete`);
}

/** The whole page as markup, text content and attribute values included. */
function pageMarkup(page) {
  return page.evaluate(() => document.documentElement.outerHTML);
}

describe(`changing messages on ${SETUP}`, () => {
  let browser;
  let ann; // on node A
  let bob; // on node B (the same node when embedded)
  let room;
  /** The row of the message ann edits and then deletes, the same on both pages (by id). */
  let changing;

  before(async () => {
    browser = await launch();
    ann = await person(browser, NODE_A, "ann");
    bob = await person(browser, NODE_B, "bob");
    room = await createRoom(ann.page, "Drafts");
    await addMember(ann.page, bob.id);
    await waitForRoom(bob.page, room);
    await openRoom(bob.page, room);
  });

  after(async () => {
    await browser?.close();
  });

  test("the author may edit and delete; the owner may delete anyone's; others only reply", async () => {
    await send(ann.page, "the first draft");
    await waitForMessage(bob.page, "the first draft");
    await send(bob.page, "bob's own words");
    await waitForMessage(ann.page, "bob's own words");
    changing = await rowOf(ann.page, "the first draft");
    assert.equal(changing, await rowOf(bob.page, "the first draft"));
    const bobs = await rowOf(ann.page, "bob's own words");

    assert.deepEqual(await buttons(ann.page, changing), ["Reply", "Edit", "Delete"]);
    assert.deepEqual(await buttons(bob.page, changing), ["Reply"], "bob can neither edit nor delete ann's message");
    assert.deepEqual(await buttons(bob.page, bobs), ["Reply", "Edit", "Delete"]);
    assert.deepEqual(await buttons(ann.page, bobs), ["Reply", "Delete"], "the room's owner may delete bob's message");
  });

  test("Escape leaves a message as it was; No keeps it", async () => {
    await ann.page.click(`${changing} button.edit`);
    await ann.page.fill(`${changing} textarea.editor`, "not meant");
    await ann.page.press(`${changing} textarea.editor`, "Escape");
    await ann.page.waitForSelector(`${changing} .content:text-is("the first draft")`);
    assert.equal(await ann.page.$(`${changing} textarea`), null);

    await ann.page.click(`${changing} button.delete`);
    await ann.page.click(`${changing} button.cancel-delete`);
    assert.deepEqual(await buttons(ann.page, changing), ["Reply", "Edit", "Delete"]);
    await bob.page.waitForTimeout(300);
    assert.equal(await bob.page.textContent(`${changing} .content`), "the first draft");
    assert.equal(await bob.page.$(`${changing} .edited`), null);
  });

  test("an edit shows at once on the other node, marked (edited)", async () => {
    await edit(ann.page, changing, "the final text");
    for (const page of [ann.page, bob.page]) {
      await page.waitForSelector(`${changing} .content:text-is("the final text")`);
      await page.waitForSelector(`${changing} .meta .edited:text-is("(edited)")`);
      assert.equal(await page.$(`${changing} textarea`), null);
    }
    assert.doesNotMatch(await pageMarkup(bob.page), /the first draft/);
    assert.deepEqual(await buttons(bob.page, changing), ["Reply"]);
    assert.deepEqual(await buttons(ann.page, changing), ["Reply", "Edit", "Delete"]);
  });

  test("an edit made while someone is offline reaches them when they are back", async () => {
    await send(ann.page, "said before going offline");
    await waitForMessage(bob.page, "said before going offline");
    const row = await rowOf(ann.page, "said before going offline");

    await bob.context.setOffline(true);
    await bob.page.waitForSelector("#connection:not([data-state=live])");
    await edit(ann.page, row, "changed while bob was away");
    await ann.page.waitForSelector(`${row} .content:text-is("changed while bob was away")`);

    await bob.context.setOffline(false);
    await bob.page.waitForSelector("#connection[data-state=live]", { timeout: 20_000 });
    await bob.page.waitForSelector(`${row} .content:text-is("changed while bob was away")`);
    await bob.page.waitForSelector(`${row} .edited`);
    const shown = await shownMessages(bob.page);
    assert.equal(new Set(shown.map((m) => m.id)).size, shown.length, "no message twice");
  });

  test("a deletion shows at once as a tombstone, and the text is gone from the other page", async () => {
    await remove(ann.page, changing);
    for (const page of [ann.page, bob.page]) {
      await page.waitForSelector(`${changing}.deleted .content.tombstone:text-is("message deleted")`);
      assert.deepEqual(await buttons(page, changing), [], "a tombstone offers nothing");
      assert.equal(await page.$(`${changing} .edited`), null);
    }
    const markup = await pageMarkup(bob.page);
    assert.doesNotMatch(markup, /the final text/);
    assert.doesNotMatch(markup, /the first draft/);
    const style = await bob.page.$eval(`${changing} .content`, (node) => getComputedStyle(node).fontStyle);
    assert.equal(style, "italic");
    await ann.page.screenshot({ path: screenshot("changes") });
  });

  test("after a reload, history shows the tombstone and the edit", async () => {
    await bob.page.reload();
    await bob.page.waitForSelector("#connection[data-state=live]");
    await openRoom(bob.page, room);
    await waitForMessage(bob.page, "changed while bob was away");
    await bob.page.waitForSelector(`${changing}.deleted .content:text-is("message deleted")`);
    assert.deepEqual(await buttons(bob.page, changing), []);
    const markup = await pageMarkup(bob.page);
    assert.doesNotMatch(markup, /the final text/);
    assert.doesNotMatch(markup, /the first draft/);
    const edited = await rowOf(bob.page, "changed while bob was away");
    await bob.page.waitForSelector(`${edited} .edited`);
    assert.deepEqual(
      (await shownMessages(bob.page)).map((m) => m.text),
      ["message deleted", "bob's own words", "changed while bob was away"],
    );
  });

  test("no dialog was opened and no policy violated", () => {
    assert.deepEqual([...ann.problems, ...bob.problems], []);
  });
});

describe(`moderating messages on ${SETUP}`, () => {
  let browser;
  let olga; // the owner, on node A
  let bob; // a member, on node A
  let carol; // an admin, on node B (the same node when embedded)
  let room;

  before(async () => {
    browser = await launch();
    olga = await person(browser, NODE_A, "olga");
    bob = await person(browser, NODE_A, "bob");
    carol = await person(browser, NODE_B, "carol");
    room = await createRoom(olga.page, "Moderated");
    await addMember(olga.page, bob.id);
    // The page adds members only; an admin is added through the REST route with a role.
    const status = await olga.page.evaluate(
      async ({ room, user, token }) => {
        const response = await fetch(`/rooms/${room}/members`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ user_id: user, role: "admin" }),
        });
        return response.status;
      },
      { room, user: carol.id, token: await accessToken(olga.page) },
    );
    assert.equal(status, 201);
    for (const member of [bob, carol]) {
      await waitForRoom(member.page, room);
      await openRoom(member.page, room);
    }
  });

  after(async () => {
    await browser?.close();
  });

  test("an admin who is not the owner deletes a member's message, and everyone sees the tombstone", async () => {
    await send(bob.page, "a message to moderate");
    for (const page of [olga.page, carol.page]) await waitForMessage(page, "a message to moderate");
    const row = await rowOf(carol.page, "a message to moderate");
    // Her role is known once the room's members have loaded.
    await carol.page.waitForSelector(`${row} button.delete`);
    assert.deepEqual(await buttons(carol.page, row), ["Reply", "Delete"], "an admin may delete, not edit");

    await remove(carol.page, row);
    for (const page of [carol.page, olga.page, bob.page]) {
      await page.waitForSelector(`${row}.deleted .content.tombstone:text-is("message deleted")`);
      assert.deepEqual(await buttons(page, row), []);
    }
    assert.doesNotMatch(await pageMarkup(bob.page), /a message to moderate/);
  });

  test("no dialog was opened and no policy violated", () => {
    assert.deepEqual([...olga.problems, ...bob.problems, ...carol.problems], []);
  });
});
