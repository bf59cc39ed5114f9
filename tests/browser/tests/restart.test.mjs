// An embedded node stopped and started again on the same data folder and port, under open pages.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { CAN_START_NODES, EmbeddedNode, freePort } from "../lib/embedded-node.mjs";
import {
  ARTIFACTS,
  MODE,
  addMember,
  connectionStates,
  createRoom,
  launch,
  openRoom,
  person,
  send,
  shownMessages,
  waitForMessage,
  waitForRoom,
} from "../lib/harness.mjs";

const skip =
  MODE !== "embedded"
    ? "embedded mode only (run.sh --embedded): it restarts the one node that holds the data"
    : !CAN_START_NODES && "run.sh --embedded tells it how to start a node (EMBEDDED_NODE_BIN, EMBEDDED_DATA_ROOT)";

describe("an embedded node restarted on the same data folder", { skip }, () => {
  let browser;
  let node;
  let ann;
  let bob;
  let room;

  before(async () => {
    node = new EmbeddedNode("node-restarted", await freePort(), ARTIFACTS);
    await node.start();
    browser = await launch();
    ann = await person(browser, node.url, "rita");
    bob = await person(browser, node.url, "ross");
    room = await createRoom(ann.page, "Through a restart");
    await addMember(ann.page, bob.id);
    await waitForRoom(bob.page, room);
    await openRoom(bob.page, room);
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  test("the page reconnects by itself, still signed in, with the conversation intact", async () => {
    await send(ann.page, "before the restart");
    await waitForMessage(bob.page, "before the restart");
    await send(bob.page, "see you on the other side");
    await waitForMessage(ann.page, "see you on the other side");
    const annStates = await connectionStates(ann.page);
    const bobStates = await connectionStates(bob.page);

    const stopped = await node.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, `a clean shutdown on SIGTERM:\n${node.logTail()}`);
    for (const page of [ann.page, bob.page]) await page.waitForSelector("#connection:not([data-state=live])");
    // Written while the node is down: it waits on the page and goes out after the restart.
    await send(ann.page, "written during the restart");
    await ann.page.waitForSelector("#messages li.pending:has-text('written during the restart')");

    await node.start(); // same port, same data folder
    for (const page of [ann.page, bob.page]) {
      await page.waitForSelector("#connection[data-state=live]", { timeout: 30_000 });
    }
    for (const states of [annStates, bobStates]) {
      const seen = await states();
      assert.ok(seen.includes("reconnecting"), `went through reconnecting: ${seen}`);
      assert.equal(seen.at(-1), "live");
    }

    await waitForMessage(bob.page, "written during the restart", 20_000);
    await waitForMessage(ann.page, "written during the restart", 20_000);
    await send(bob.page, "back again");
    await waitForMessage(ann.page, "back again");

    const conversation = ["before the restart", "see you on the other side", "written during the restart", "back again"];
    for (const [who, page] of [["ann", ann.page], ["bob", bob.page]]) {
      assert.equal(await page.isVisible("#login-view"), false, `${who} is still signed in`);
      const shown = await shownMessages(page);
      assert.deepEqual(shown.map((m) => m.text), conversation, `${who} sees the conversation once, in order`);
      const seqs = shown.map((m) => m.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.equal(await page.$$eval("#messages li.pending", (rows) => rows.length), 0);
    }

    // A reload reads everything back from the restarted node: the session and the history
    // survived on disk, not just on the page.
    await bob.page.reload();
    await bob.page.waitForSelector("#connection[data-state=live]");
    assert.equal(await bob.page.isVisible("#login-view"), false, "still signed in after a reload");
    assert.equal((await bob.page.textContent("#my-id")).trim(), bob.id);
    await openRoom(bob.page, room);
    await waitForMessage(bob.page, "back again");
    assert.deepEqual((await shownMessages(bob.page)).map((m) => m.text), conversation);

    assert.deepEqual([...ann.problems, ...bob.problems], []);
  });
});
