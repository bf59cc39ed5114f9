// Finding people by name through the page: the direct-message, add-member and new-room fields
// suggest users from the directory as a name is typed, keyboard first (arrow keys, Enter,
// Escape), and a direct room started from either side is the same room.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  NODE_A,
  NODE_B,
  SETUP,
  launch,
  openRoom,
  person,
  pickPerson,
  screenshot,
  send,
  waitForMessage,
  waitForRoom,
} from "../lib/harness.mjs";

/** The open room's id. */
function openRoomId(page) {
  return page.getAttribute(".room-list li.selected [data-room-id]", "data-room-id");
}

describe(`finding people by name on ${SETUP}`, () => {
  let browser;
  let dora; // on node A
  let felix; // on node B (the same node when embedded)

  before(async () => {
    browser = await launch();
    dora = await person(browser, NODE_A, "Dorothea");
    felix = await person(browser, NODE_B, "Felix");
  });

  after(async () => {
    await browser?.close();
  });

  test("the picker is a combobox whose suggestions Escape closes", async () => {
    const input = "#direct-form input[role=combobox]";
    assert.equal(await dora.page.getAttribute(input, "aria-expanded"), "false");
    await dora.page.type(input, felix.name.slice(0, -1), { delay: 20 });
    const list = `#${await dora.page.getAttribute(input, "aria-controls")}`;
    assert.equal(await dora.page.getAttribute(list, "role"), "listbox");
    await dora.page.waitForSelector(`${list} [role=option][data-username="${felix.name}"]`);
    assert.equal(await dora.page.getAttribute(input, "aria-expanded"), "true");
    await dora.page.press(input, "ArrowDown");
    const active = await dora.page.getAttribute(input, "aria-activedescendant");
    assert.equal(await dora.page.getAttribute(`#${active}`, "aria-selected"), "true");
    await dora.page.screenshot({ path: screenshot("directory-suggestions") });
    await dora.page.press(input, "Escape");
    await dora.page.waitForSelector(`${list}[hidden]`, { state: "attached" });
    assert.equal(await dora.page.getAttribute(input, "aria-expanded"), "false");
    assert.equal(await dora.page.getAttribute(input, "aria-activedescendant"), null);
    await dora.page.fill(input, "");
  });

  test("a direct room is started by picking a name, and is the same room from the other side", async () => {
    // Felix is found by his display name as well as by his username.
    await pickPerson(dora.page, "#direct-form", "felix", felix.name);
    await dora.page.click("#direct-form button[type=submit]");
    await dora.page.waitForSelector(".room-list li.selected [data-room-id]");
    const room = await openRoomId(dora.page);
    assert.match(await dora.page.textContent(".room-list li.selected .room-type"), /direct/);

    await send(dora.page, "hello felix");
    await waitForMessage(dora.page, "hello felix");
    await waitForRoom(felix.page, room);

    await pickPerson(felix.page, "#direct-form", dora.name.slice(0, 6), dora.name);
    await felix.page.press("#direct-form input[role=combobox]", "Enter");
    await felix.page.waitForSelector(`.room-list li.selected [data-room-id="${room}"]`);
    await waitForMessage(felix.page, "hello felix");
    await send(felix.page, "hi dora");
    await waitForMessage(dora.page, "hi dora");
  });

  test("a member is added by picking a name, and a new room is made with people picked", async () => {
    const greta = await person(browser, NODE_B, "Greta");
    await dora.page.fill("#new-room-form input[name=name]", "Picked room");
    await pickPerson(dora.page, "#new-room-form", felix.name, felix.name);
    await dora.page.waitForSelector(`#new-room-members [data-user-id="${felix.id}"]`);
    await dora.page.click("#new-room-form button[type=submit]");
    await dora.page.waitForSelector(`#room-name:text-is("Picked room")`);
    await dora.page.waitForSelector(`#members [data-user-id="${felix.id}"]`);
    assert.equal(await dora.page.$(`#new-room-members li`), null, "the picked people are cleared");

    await pickPerson(dora.page, "#add-member-form", greta.name, greta.name);
    await dora.page.click("#add-member-form button[type=submit]");
    await dora.page.waitForSelector(`#members [data-user-id="${greta.id}"]`);
    const room = await openRoomId(dora.page);
    await waitForRoom(greta.page, room);
    await openRoom(greta.page, room);
    await greta.context.close();
  });

  test("a name no one has is explained, and a username typed whole works without picking", async () => {
    const input = "#add-member-form input[role=combobox]";
    await dora.page.fill(input, "");
    await dora.page.type(input, "zz_nobody_here", { delay: 10 });
    const list = `#${await dora.page.getAttribute(input, "aria-controls")}`;
    await dora.page.waitForSelector(`${list} .hint:text-is("No one by that name.")`);
    await dora.page.press(input, "Escape");
    await dora.page.click("#add-member-form button[type=submit]");
    await dora.page.waitForSelector('#banner-text:text-is("No one has that username or user id.")');

    const hugo = await person(browser, NODE_A, "Hugo");
    await dora.page.fill(input, hugo.name.toUpperCase());
    await dora.page.click("#add-member-form button[type=submit]");
    await dora.page.waitForSelector(`#members [data-user-id="${hugo.id}"]`);
    await hugo.context.close();
    for (const someone of [dora, felix]) assert.deepEqual(someone.problems, []);
  });
});
