// The room list follows the user's feed: rooms appear, are renamed and disappear without a
// reload, a ban says so, and the open room's composer follows mutes and announcement rooms.
// Ann (node A) acts through the REST API; bob's page (node B, the same node when embedded)
// only watches.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { NODE_A, NODE_B, SETUP, launch, openRoom, person, rest, screenshot, waitForRoom } from "../lib/harness.mjs";

/** What "at once" means here: the feed, not a refresh, brings it. */
const LIVE_MS = 5_000;

describe(`rooms appearing live, and banned and muted states, on ${SETUP}`, () => {
  let browser;
  let ann; // on node A: the owner, acting through the REST API
  let bob; // on node B (the same node when embedded): the page under test

  /** A group ann owns with bob in it, made through the REST API. */
  async function groupWithBob(name) {
    return rest(ann, "POST", "/rooms", { name, type: "group", member_ids: [bob.id] }, 201);
  }

  /** The composer's state on bob's page: shown, usable, and what the note beside it says. */
  function composer(page) {
    return page.evaluate(() => {
      const form = document.getElementById("composer");
      const input = form.querySelector("textarea");
      const note = document.getElementById("composer-note");
      return {
        shown: !form.hidden,
        enabled: !input.disabled && !form.querySelector("button").disabled,
        note: note.hidden ? null : note.textContent,
        describedBy: input.getAttribute("aria-describedby"),
      };
    });
  }

  before(async () => {
    browser = await launch();
    ann = await person(browser, NODE_A, "ann");
    bob = await person(browser, NODE_B, "bob");
  });

  after(async () => {
    await browser?.close();
  });

  test("a room someone else makes with you appears in the list at once, with live unread counts", async () => {
    const started = Date.now();
    const room = await groupWithBob("Made elsewhere");
    await waitForRoom(bob.page, room.id, LIVE_MS);
    assert.ok(Date.now() - started < LIVE_MS, "no polling interval in the way");
    assert.equal(await bob.page.textContent(`.room-list [data-room-id="${room.id}"] .room-title`), "Made elsewhere");

    // The page follows it at once, so a message counts as unread without opening it.
    await rest(ann, "POST", `/rooms/${room.id}/messages`, { content: "are you there?" }, 201);
    await bob.page.waitForSelector(`.room-list [data-room-id="${room.id}"] .unread:text-is("1")`, { timeout: LIVE_MS });
  });

  test("reading on another device clears the unread count", async () => {
    // Sent at once, so they race the page's joining the room it just heard of: whether the
    // join's page or the live feed brings them, each counts once.
    const room = await groupWithBob("Read elsewhere");
    await rest(ann, "POST", `/rooms/${room.id}/messages`, { content: "one" }, 201);
    const second = await rest(ann, "POST", `/rooms/${room.id}/messages`, { content: "two" }, 201);
    await waitForRoom(bob.page, room.id, LIVE_MS);
    const badge = `.room-list [data-room-id="${room.id}"] .unread`;
    await bob.page.waitForSelector(`${badge}:text-is("2")`, { timeout: LIVE_MS });
    // Bob's other device: the REST API with his token moves his marker.
    await rest(bob, "POST", `/rooms/${room.id}/read`, { seq: second.seq }, 204);
    await bob.page.waitForSelector(badge, { state: "detached", timeout: LIVE_MS });
  });

  test("a renamed room shows its new name and topic in the list and in the open room", async () => {
    const room = await groupWithBob("Old name");
    await waitForRoom(bob.page, room.id, LIVE_MS);
    await openRoom(bob.page, room.id);
    await bob.page.waitForSelector('#room-name:text-is("Old name")');
    assert.equal(await bob.page.isVisible("#room-topic"), false, "no topic, no empty line");

    await rest(ann, "PATCH", `/rooms/${room.id}`, { name: "New name", topic: "Plans for the spring" }, 200);
    const link = `.room-list [data-room-id="${room.id}"]`;
    await bob.page.waitForSelector(`${link} .room-title:text-is("New name")`, { timeout: LIVE_MS });
    await bob.page.waitForSelector(`${link} .room-topic:text-is("Plans for the spring")`);
    await bob.page.waitForSelector('#room-name:text-is("New name")');
    await bob.page.waitForSelector('#room-topic:text-is("Plans for the spring")');
    await bob.page.screenshot({ path: screenshot("live-rooms-renamed") });

    await rest(ann, "PATCH", `/rooms/${room.id}`, { topic: null }, 200);
    await bob.page.waitForSelector("#room-topic", { state: "hidden", timeout: LIVE_MS });
    assert.equal(await bob.page.$(`${link} .room-topic`), null);
    await bob.page.waitForSelector('#room-name:text-is("New name")');
  });

  test("a muted member's composer is disabled, saying until when, and comes back when unmuted", async () => {
    const room = await groupWithBob("Quiet please");
    await rest(ann, "POST", `/rooms/${room.id}/messages`, { content: "please keep it short" }, 201);
    await waitForRoom(bob.page, room.id, LIVE_MS);
    await openRoom(bob.page, room.id);
    await bob.page.waitForSelector("#messages li[data-id] button.reply");
    assert.deepEqual(await composer(bob.page), { shown: true, enabled: true, note: null, describedBy: null });

    await rest(ann, "PUT", `/rooms/${room.id}/mutes/${bob.id}`, { expires_in: 60 }, 200);
    await bob.page.waitForSelector("#composer textarea:disabled", { timeout: LIVE_MS });
    const muted = await composer(bob.page);
    assert.equal(muted.shown, true);
    assert.equal(muted.enabled, false);
    assert.match(muted.note, /^You are muted in this room until (.+, )?\d\d:\d\d$/);
    assert.equal(muted.describedBy, "composer-note", "the disabled field points to the reason");
    assert.equal(await bob.page.$("#messages button.reply"), null, "a reply is a send: not offered");
    await bob.page.screenshot({ path: screenshot("live-rooms-muted") });

    // Opened afresh, the room list's entry says the same.
    await bob.page.reload();
    await bob.page.waitForSelector("#connection[data-state=live]");
    await waitForRoom(bob.page, room.id, LIVE_MS);
    await openRoom(bob.page, room.id);
    await bob.page.waitForSelector("#composer textarea:disabled", { timeout: LIVE_MS });
    assert.match((await composer(bob.page)).note, /^You are muted in this room until /);

    await rest(ann, "DELETE", `/rooms/${room.id}/mutes/${bob.id}`, undefined, 200);
    await bob.page.waitForSelector("#composer textarea:enabled", { timeout: LIVE_MS });
    assert.deepEqual(await composer(bob.page), { shown: true, enabled: true, note: null, describedBy: null });
    await bob.page.waitForSelector("#messages li[data-id] button.reply");
    await bob.page.fill("#composer textarea", "thanks");
    await bob.page.press("#composer textarea", "Enter");
    await bob.page.waitForFunction(() =>
      [...document.querySelectorAll("#messages li[data-id] .content")].some((p) => p.textContent === "thanks"),
    );
  });

  test("in an announcement room members see why they cannot post; the owner and admins post", async () => {
    const room = await groupWithBob("News");
    await rest(ann, "POST", `/rooms/${room.id}/messages`, { content: "big news soon" }, 201);
    await waitForRoom(bob.page, room.id, LIVE_MS);
    await openRoom(bob.page, room.id);
    // Ann's page hears of the room she made through the API as well.
    await waitForRoom(ann.page, room.id, LIVE_MS);
    await openRoom(ann.page, room.id);

    await rest(ann, "PATCH", `/rooms/${room.id}`, { post_policy: "admins" }, 200);
    await bob.page.waitForSelector("#composer", { state: "hidden", timeout: LIVE_MS });
    assert.deepEqual(await composer(bob.page), {
      shown: false,
      enabled: false,
      note: "Only the owner and admins post in this room",
      describedBy: "composer-note",
    });
    assert.equal(await bob.page.$("#messages button.reply"), null, "members are not offered replies");
    await bob.page.screenshot({ path: screenshot("live-rooms-announcements") });
    const owner = await composer(ann.page);
    assert.equal(owner.shown && owner.enabled && owner.note === null, true, "the owner still posts");
    await ann.page.waitForSelector("#messages li[data-id] button.reply");

    // Made an admin, bob may post at once; made a member again, he may not.
    await rest(ann, "PATCH", `/rooms/${room.id}/members/${bob.id}`, { role: "admin" }, 200);
    await bob.page.waitForSelector("#composer textarea:enabled", { timeout: LIVE_MS });
    assert.equal((await composer(bob.page)).note, null);
    await rest(ann, "PATCH", `/rooms/${room.id}/members/${bob.id}`, { role: "member" }, 200);
    await bob.page.waitForSelector("#composer", { state: "hidden", timeout: LIVE_MS });
    assert.equal((await composer(bob.page)).note, "Only the owner and admins post in this room");

    await rest(ann, "PATCH", `/rooms/${room.id}`, { post_policy: "everyone" }, 200);
    await bob.page.waitForSelector("#composer textarea:enabled", { timeout: LIVE_MS });
    assert.equal((await composer(bob.page)).note, null);
    await bob.page.waitForSelector("#messages li[data-id] button.reply");
  });

  test("a room you are removed from disappears, and closes if it was open", async () => {
    const room = await groupWithBob("Short stay");
    await waitForRoom(bob.page, room.id, LIVE_MS);
    await openRoom(bob.page, room.id);
    await rest(ann, "DELETE", `/rooms/${room.id}/members/${bob.id}`, undefined, 204);
    await bob.page.waitForSelector(`.room-list [data-room-id="${room.id}"]`, { state: "detached", timeout: LIVE_MS });
    await bob.page.waitForSelector("#room", { state: "hidden" });
    await bob.page.waitForSelector('#banner-text:text-is("You are no longer in Short stay.")');
  });

  test("a ban takes the room away with a notice that says so", async () => {
    const room = await groupWithBob("Strict club");
    await waitForRoom(bob.page, room.id, LIVE_MS);
    await openRoom(bob.page, room.id);
    await rest(ann, "POST", `/rooms/${room.id}/bans`, { user_id: bob.id, reason: "testing" }, 201);
    await bob.page.waitForSelector(`.room-list [data-room-id="${room.id}"]`, { state: "detached", timeout: LIVE_MS });
    await bob.page.waitForSelector("#room", { state: "hidden" });
    await bob.page.waitForSelector('#banner-text:text-is("You were banned from Strict club.")');
    await bob.page.screenshot({ path: screenshot("live-rooms-banned") });

    // Not open at the time: the notice all the same.
    const other = await groupWithBob("Second club");
    await waitForRoom(bob.page, other.id, LIVE_MS);
    await rest(ann, "POST", `/rooms/${other.id}/bans`, { user_id: bob.id }, 201);
    await bob.page.waitForSelector(`.room-list [data-room-id="${other.id}"]`, { state: "detached", timeout: LIVE_MS });
    await bob.page.waitForSelector('#banner-text:text-is("You were banned from Second club.")');
    for (const someone of [ann, bob]) assert.deepEqual(someone.problems, []);
  });
});
