// Shared steps of the Socket.IO tests: people registered over REST, Socket.IO and /ws clients
// connected, and waiting for what the server sends.
import { io } from "socket.io-client";

export const NODE_A = process.env.NODE_A_URL ?? "http://127.0.0.1:8080";
export const NODE_B = process.env.NODE_B_URL ?? NODE_A;
export const WAIT_MS = 10_000;

/** A REST call; the parsed body, or an error naming the status. */
export async function rest(node, method, path, token, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${node}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Someone newly registered on `node`: `{id, token, refresh}`. */
export async function signUp(node, base) {
  const username = `${base}_${Math.random().toString(36).slice(2, 8)}`;
  const answer = await rest(node, "POST", "/auth/register", null, { username, password: "correct horse battery" });
  return { id: answer.user.id, token: answer.access_token, refresh: answer.refresh_token };
}

/** A group of `owner` with `members`: its id. */
export async function createGroup(node, owner, members = []) {
  const room = await rest(node, "POST", "/rooms", owner.token, {
    name: "socket.io",
    type: "group",
    member_ids: members.map((m) => m.id),
  });
  return room.id;
}

/** A Socket.IO socket of `node`, connected: WebSocket only and no reconnection unless said. */
export function connect(node, options = {}) {
  const socket = io(node, { transports: ["websocket"], reconnection: false, forceNew: true, ...options });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** The connect error of a refused socket. */
export async function refusal(node, options = {}) {
  try {
    const socket = await connect(node, options);
    socket.close();
  } catch (err) {
    return err;
  }
  throw new Error("the connection was not refused");
}

/** Emits an event and waits for its acknowledgement. */
export function call(socket, event, data) {
  return socket.timeout(WAIT_MS).emitWithAck(event, data);
}

/** The payload of the next `name` event of `socket` that `accept` takes. */
export function nextEvent(socket, name, accept = () => true, timeoutMs = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(name, listener);
      reject(new Error(`no ${name} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (payload) => {
      if (!accept(payload)) return;
      clearTimeout(timer);
      socket.off(name, listener);
      resolve(payload);
    };
    socket.on(name, listener);
  });
}

/** Every `message` event of `room` on `socket` from now on, in the order they come. */
export function collect(socket, room) {
  const messages = [];
  socket.on("message", (frame) => {
    if (frame.message.room_id === room) messages.push(frame.message);
  });
  return messages;
}

/** Waits until `check` holds, or fails after the wait. */
export async function eventually(check, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The `close` event and the reason of the disconnection after it. */
export function closing(socket, timeoutMs = WAIT_MS) {
  const close = nextEvent(socket, "close", () => true, timeoutMs);
  const disconnect = new Promise((resolve) => socket.once("disconnect", resolve));
  return Promise.all([close, disconnect]).then(([close, reason]) => ({ ...close, disconnect: reason }));
}

/** A /ws client: `request` sends a frame with an id and resolves with its reply. */
export async function wsClient(node, token) {
  const socket = new WebSocket(`${node.replace(/^http/, "ws")}/ws?token=${token}`, "chat.v1.json");
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 1;
  const replies = new Map();
  const frames = [];
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "reply") replies.get(frame.id)?.(frame);
    else frames.push(frame);
  };
  return {
    frames,
    request(frame) {
      const id = nextId++;
      return new Promise((resolve) => {
        replies.set(id, resolve);
        socket.send(JSON.stringify({ ...frame, id }));
      });
    },
    close: () => socket.close(),
  };
}
