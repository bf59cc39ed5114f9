// What people are told when something goes wrong.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { NODE_A, NODE_B, addMember, createRoom, launch, person, username } from "../lib/harness.mjs";

async function bannerSays(page, text) {
  await page.waitForSelector(`#banner:not([hidden]) #banner-text:has-text("${text}")`);
}

describe("error messages on the chat page", () => {
  let browser;
  let owner;
  let room;

  before(async () => {
    browser = await launch();
    owner = await person(browser, NODE_A, "olga");
    room = await createRoom(owner.page, "Errors");
  });

  after(async () => {
    await browser?.close();
  });

  test("signing in wrongly or taking a used name says so", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(NODE_B);
    await page.fill("input[name=username]", owner.name);
    await page.fill("input[name=password]", "not the password");
    await page.click("button[value=login]");
    await bannerSays(page, "Wrong username or password.");

    await page.click("button[value=register]");
    await bannerSays(page, "That username is already taken.");

    await page.fill("input[name=username]", username("pat"));
    await page.fill("input[name=password]", "short");
    await page.click("button[value=register]");
    await bannerSays(page, "a password at least 8");
    assert.equal(await page.isVisible("#login-view"), true);
  });

  test("adding someone by what is not a name, or an unknown username or id, is explained", async () => {
    await owner.page.fill("#add-member-form input[name=user]", "bob smith!");
    await owner.page.click("#add-member-form button[type=submit]");
    await bannerSays(owner.page, "pick the person from the list, or enter their username or user id");

    for (const unknown of ["no_such_bob", "00000000-0000-4000-8000-000000000000"]) {
      await owner.page.fill("#add-member-form input[name=user]", unknown);
      await owner.page.click("#add-member-form button[type=submit]");
      await bannerSays(owner.page, "No one has that username or user id.");
    }
  });

  test("someone who is not a member is told so and the room stays closed to them", async () => {
    const outsider = await person(browser, NODE_B, "otto");
    const code = await outsider.page.evaluate(async (room) => {
      const { ChatClient } = await import("/assets/chat-client.js");
      const token = async () => JSON.parse(sessionStorage.getItem("chat.session")).accessToken;
      const client = new ChatClient({ token });
      client.connect();
      await new Promise((live) =>
        client.addEventListener("state", (e) => e.detail.state === "live" && live(undefined)),
      );
      try {
        await client.join(room);
        return "joined";
      } catch (err) {
        return err.code;
      } finally {
        client.close();
      }
    }, room);
    assert.equal(code, "forbidden");
    assert.equal(await outsider.page.$(`[data-room-id="${room}"]`), null);
  });

  test("a session revoked elsewhere returns to sign-in with a clear message", async () => {
    const gone = await person(browser, NODE_A, "gus");
    await addMember(owner.page, gone.id);
    const refreshToken = await gone.page.evaluate(
      () => JSON.parse(sessionStorage.getItem("chat.session")).refreshToken,
    );
    const response = await fetch(`${NODE_A}/auth/logout`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    assert.equal(response.status, 204);
    const ttl = Number(process.env.ACCESS_TOKEN_TTL_SECONDS ?? 900);
    await gone.page.waitForSelector("#login-view:not([hidden])", { timeout: (ttl + 5) * 1000 });
    await bannerSays(gone.page, "Your session has expired. Please sign in again.");
    assert.equal(await gone.page.evaluate(() => sessionStorage.getItem("chat.session")), null);
  });
});
