// Shared steps of the browser tests: a Chromium, people signed in on a node, and what they do
// on the page.
import { chromium } from "playwright-core";

export const NODE_A = process.env.NODE_A_URL ?? "http://127.0.0.1:8080";
export const NODE_B = process.env.NODE_B_URL ?? NODE_A;
export const ARTIFACTS = process.env.ARTIFACTS ?? new URL("../artifacts", import.meta.url).pathname;
/** `cluster` (NODE_A and NODE_B are two nodes) or `embedded` (both are the one node). */
export const MODE = process.env.CHAT_MODE ?? (NODE_A === NODE_B ? "embedded" : "cluster");
/** What the suite runs against, for test names. */
export const SETUP = MODE === "embedded" ? "one embedded node" : "a two-node cluster";

/** A screenshot's path in the artifacts folder, marked with the mode unless it is the cluster. */
export function screenshot(name) {
  return `${ARTIFACTS}/${name}${MODE === "embedded" ? "-embedded" : ""}.png`;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: ["--no-sandbox"],
  });
}

/** A unique username: the database lives for one run, but tests within it must not collide. */
export function username(base) {
  return `${base}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A person on their own browser context (own cookies and sessionStorage), signed up through the
 * page on `node`. Records page errors and dialogs, which no test expects.
 */
export async function person(browser, node, base, viewport = { width: 1100, height: 720 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      problems.push(`policy violation: ${message.text()}`);
    }
  });
  page.on("dialog", async (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
  const response = await page.goto(node);
  const name = username(base);
  await page.fill("input[name=username]", name);
  await page.fill("input[name=password]", "correct horse battery");
  await page.fill("input[name=display_name]", base);
  await page.click("button[value=register]");
  await page.waitForSelector("#connection[data-state=live]");
  const id = (await page.textContent("#my-id")).trim();
  return { context, page, name, id, problems, response, node };
}

export async function createRoom(page, name) {
  await page.fill("#new-room-form input[name=name]", name);
  await page.click("#new-room-form button[type=submit]");
  await page.waitForSelector(`#room-name:text-is("${name}")`);
  return page.getAttribute(".room-list li.selected [data-room-id]", "data-room-id");
}

export async function addMember(page, userId) {
  await page.fill("#add-member-form input[name=user]", userId);
  await page.click("#add-member-form button[type=submit]");
  await page.waitForSelector(`#members [data-user-id="${userId}"]`);
}

/**
 * Types `typed` into the people picker of `form` and picks the suggestion of `username` with
 * the keyboard (arrow keys, then Enter), as someone who does not reach for the mouse would.
 */
export async function pickPerson(page, form, typed, username) {
  const input = `${form} input[role=combobox]`;
  await page.fill(input, "");
  await page.type(input, typed, { delay: 20 });
  const list = `#${await page.getAttribute(input, "aria-controls")}`;
  const option = `${list} [role=option][data-username="${username}"]`;
  await page.waitForSelector(option);
  for (let i = 0; i < 10 && (await page.getAttribute(option, "aria-selected")) !== "true"; i++) {
    await page.press(input, "ArrowDown");
  }
  if ((await page.getAttribute(option, "aria-selected")) !== "true") throw new Error(`${username} cannot be reached with the arrow keys`);
  await page.press(input, "Enter");
  await page.waitForSelector(`${list}[hidden]`, { state: "attached" });
}

/** Waits until the room shows in the list: the user's feed pushes it, nothing is refreshed. */
export async function waitForRoom(page, roomId, timeout = 5_000) {
  return page.waitForSelector(`.room-list [data-room-id="${roomId}"]`, { timeout });
}

/**
 * A REST call of the contract as `who` (signed in on `who.node`, or `node`), with the access
 * token their page holds at that moment (it renews it before it expires). The parsed body, or
 * null for 204; a status other than `expect` throws.
 */
export async function rest(who, method, path, body, expect = undefined) {
  const token = await accessToken(who.page);
  const response = await fetch(`${who.node}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (expect !== undefined ? response.status !== expect : !response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

export async function openRoom(page, roomId) {
  await page.click(`.room-list [data-room-id="${roomId}"]`);
  await page.waitForSelector("#room:not([hidden])");
}

export async function send(page, text) {
  await page.fill("#composer textarea", text);
  await page.press("#composer textarea", "Enter");
}

/** Waits until a message with exactly this text is shown and acknowledged. */
export async function waitForMessage(page, text, timeout = 15_000) {
  await page.waitForFunction(
    (text) => [...document.querySelectorAll("#messages li[data-id] .content")].some((p) => p.textContent === text),
    text,
    { timeout },
  );
}

/** The selector of the row of the shown message with exactly this text, once it is shown: a
 * sender's own row gets its id from the acknowledgement, which may come after the other page
 * shows the message. */
export async function rowOf(page, text) {
  await waitForMessage(page, text);
  const message = (await shownMessages(page)).find((m) => m.text === text);
  if (!message) throw new Error(`"${text}" is not shown`);
  return `#messages li[data-id="${message.id}"]`;
}

/** The shown messages, in page order. */
export function shownMessages(page) {
  return page.$$eval("#messages li[data-id]", (rows) =>
    rows.map((row) => ({
      id: row.dataset.id,
      seq: Number(row.dataset.seq),
      text: row.querySelector(".content").textContent,
    })),
  );
}

/** The signed-in person's access token, for setting up data faster than typing it. */
export function accessToken(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem("chat.session")).accessToken);
}

/** Starts recording the connection indicator's changes; the returned function reads them. */
export async function connectionStates(page) {
  await page.evaluate(() => {
    window.__states = [];
    new MutationObserver(() => window.__states.push(document.getElementById("connection").dataset.state)).observe(
      document.getElementById("connection"),
      { attributes: true, attributeFilter: ["data-state"] },
    );
  });
  return () => page.evaluate(() => window.__states);
}
