// Shared steps of the package's tests: people signed in on a node, clients connected, and
// waiting for what the server sends.
import { ChatClient, Session } from "../dist/index.js";

export const NODE_A = process.env.NODE_A_URL ?? "http://127.0.0.1:8080";
export const NODE_B = process.env.NODE_B_URL ?? NODE_A;
export const TOKEN_TTL_MS = Number(process.env.ACCESS_TOKEN_TTL_SECONDS ?? 900) * 1000;
export const PASSWORD = "correct horse battery";

/** A unique username: the database lives for one run, but tests within it must not collide. */
export function username(base) {
  return `${base}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Someone newly registered on `node`. */
export async function signUp(node, base) {
  const session = new Session({ baseUrl: node });
  const user = await session.register(username(base), PASSWORD);
  return { session, user };
}

/** A group created by `owner` with `members` in it. */
export function createGroup(owner, name, members) {
  return owner.session.request("POST", "/rooms", {
    name,
    type: "group",
    member_ids: members.map((m) => m.user.id),
  });
}

/** A client of `who`'s session, live. */
export async function connected(who, options = {}) {
  const client = new ChatClient({ session: who.session, ...options });
  client.connect();
  await nextEvent(client, "state", (detail) => detail.state === "live");
  return client;
}

/** The detail of the next `type` event of `target` that `accept` takes. */
export function nextEvent(target, type, accept = () => true, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, listener);
      reject(new Error(`no ${type} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (event) => {
      if (!accept(event.detail)) return;
      clearTimeout(timer);
      target.removeEventListener(type, listener);
      resolve(event.detail);
    };
    target.addEventListener(type, listener);
  });
}

/** Every message of a room, oldest first, read over REST. */
export async function history(who, room) {
  const page = await who.session.request("GET", `/rooms/${room}/messages?limit=200`);
  return page.messages;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A WebSocket class whose sockets the test can break as a network would: `drop()` closes the
 * newest socket and makes it deaf at once (nothing more it receives reaches the client), and
 * while `offline` new sockets go to a port where nothing listens.
 */
export function flakyWebSocket() {
  const control = { offline: false, sockets: [], sent: [] };
  class FlakyWebSocket extends WebSocket {
    #deaf = false;
    #onmessage = null;

    constructor(url, protocols) {
      super(control.offline ? "ws://127.0.0.1:9/ws" : url, protocols);
      control.sockets.push(this);
    }

    send(data) {
      control.sent.push(JSON.parse(data));
      super.send(data);
    }

    get onmessage() {
      return this.#onmessage;
    }

    set onmessage(listener) {
      this.#onmessage = listener;
      super.onmessage = (event) => {
        if (this.#deaf) return;
        // A test may drop the socket on seeing a frame: the client then never sees it.
        if (control.onFrame?.(JSON.parse(event.data), this) === "drop") return;
        listener?.call(this, event);
      };
    }

    drop() {
      this.#deaf = true;
      this.close();
    }
  }
  control.WebSocket = FlakyWebSocket;
  control.drop = () => control.sockets.at(-1).drop();
  return control;
}
