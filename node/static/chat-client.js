// ../clients/js/src/errors.ts
var ChatError = class extends Error {
  constructor(code, message, fields) {
    super(message);
    this.code = code;
    this.fields = fields;
    this.name = "ChatError";
  }
  code;
  fields;
};
var SessionExpired = class extends ChatError {
  constructor() {
    super("session_expired", "your session has expired; sign in again");
  }
};

// ../clients/js/src/wire.ts
var CloseCode = {
  Policy: 1008,
  TooBig: 1009,
  ServerError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  Unauthorized: 4001,
  TooSlow: 4002,
  RateLimited: 4008,
  TooManyConnections: 4029
};

// ../clients/js/src/client.ts
var OPEN = 1;
var RETRIABLE = /* @__PURE__ */ new Set(["rate_limited", "unavailable", "internal", "disconnected", "timeout"]);
function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
var ChatClient = class extends EventTarget {
  options;
  session;
  socket = null;
  stateValue = "closed";
  nextId = 1;
  requests = /* @__PURE__ */ new Map();
  /** Unacknowledged writes, by their client id (`client_msg_id`, `client_change_id`, or for a
   * reaction, which has none on the wire, an id of its own). */
  outgoing = /* @__PURE__ */ new Map();
  /** Joined rooms, each with the highest seq delivered; -1 before the first join answered. */
  joined = /* @__PURE__ */ new Map();
  /** The highest seq of a change or reaction delivered per room. Resuming asks from the newest
   * message's seq, so those after it come again; these are not delivered twice. */
  changesSeen = /* @__PURE__ */ new Map();
  lastTyping = /* @__PURE__ */ new Map();
  readSent = /* @__PURE__ */ new Map();
  reconnectTimer = null;
  heartbeatTimer = null;
  attempt = 0;
  tokenRejected = false;
  stopped = true;
  constructor(options) {
    super();
    const session = options.session;
    const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
    if (!WebSocketClass) throw new Error("no global WebSocket here: pass one as the WebSocket option");
    this.session = session;
    this.options = {
      url: options.url ?? defaultUrl(session),
      token: session ? (expired) => session.accessToken(expired) : options.token,
      WebSocket: WebSocketClass,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 1e4,
      heartbeatMs: options.heartbeatMs ?? 2e4,
      requestTimeoutMs: options.requestTimeoutMs ?? 15e3,
      typingIntervalMs: options.typingIntervalMs ?? 2500
    };
  }
  get state() {
    return this.stateValue;
  }
  /** Starts connecting; reconnects on its own until `close()`. */
  connect() {
    if (!this.stopped) return;
    this.stopped = false;
    this.session?.addEventListener("renewed", this.onRenewed);
    void this.open();
  }
  /** Ends the connection for good; pending sends fail with `closed`. */
  close() {
    this.stopped = true;
    this.session?.removeEventListener("renewed", this.onRenewed);
    this.clearTimers();
    this.socket?.close(1e3, "bye");
    this.socket = null;
    this.failRequests("closed", "the client was closed");
    for (const [key, out] of this.outgoing) {
      if (out.retry) clearTimeout(out.retry);
      out.reject(new ChatError("closed", "the client was closed"));
      this.outgoing.delete(key);
    }
    this.setState("closed");
  }
  /** Drops the current connection now and reconnects at once (e.g. after the network returns). */
  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      void this.open();
      return;
    }
    this.dropSocket();
  }
  /** The session renewed its token: the open socket takes it too, before the old one expires
   * (if that fails, the server closes with 4001 at expiry, and the client reconnects). */
  onRenewed = (event) => {
    this.renewToken(event.detail.token).catch(() => {
    });
  };
  /** Gives the server a renewed token before the current one expires. */
  async renewToken(token) {
    if (this.stateValue !== "live") return;
    await this.request({ type: "auth", token });
  }
  /** Follows a room; after reconnecting it re-joins with `since` on its own. */
  async join(room, since) {
    if (!this.joined.has(room)) this.joined.set(room, since ?? -1);
    return this.joinNow(room);
  }
  /** Stops following a room (membership is unchanged). */
  async leave(room) {
    this.joined.delete(room);
    this.changesSeen.delete(room);
    if (this.stateValue === "live") await this.request({ type: "leave", room });
  }
  /** The highest seq delivered for a room, if any. */
  lastSeq(room) {
    const seq = this.joined.get(room);
    return seq === void 0 || seq < 0 ? void 0 : seq;
  }
  /**
   * Sends a message and resolves once the server has made it durable. Until then it is re-sent
   * after every reconnection under the same `client_msg_id`, so it is stored once. Messages to
   * one room go one after the other, so they are stored in the order they were sent. With
   * `replyTo` (a message of the room that is not deleted) it is a reply to that message.
   */
  send(room, content, extra = {}) {
    const clientMsgId = extra.clientMsgId ?? newClientMsgId();
    const frame = { type: "send", room, content, client_msg_id: clientMsgId };
    if (extra.kind) frame.kind = extra.kind;
    if (extra.metadata) frame.metadata = extra.metadata;
    if (extra.replyTo) frame.reply_to = extra.replyTo;
    return this.enqueue(clientMsgId, frame, extra.clientMsgId === void 0);
  }
  /**
   * Replaces the content (and, when given, the metadata) of one's own message; resolves with
   * the message as edited once the change is durable. Retried like a send, under one
   * `client_change_id`, so it is applied once.
   */
  edit(room, messageId, content, extra = {}) {
    const clientChangeId = extra.clientChangeId ?? newClientMsgId();
    const frame = {
      type: "edit",
      room,
      message_id: messageId,
      content,
      client_change_id: clientChangeId
    };
    if (extra.metadata) frame.metadata = extra.metadata;
    return this.enqueue(clientChangeId, frame, false);
  }
  /**
   * Deletes a message (one's own, or anyone's as the room's owner or admin); resolves with its
   * tombstone once durable. Retried like a send, under one `client_change_id`.
   */
  delete(room, messageId, extra = {}) {
    const clientChangeId = extra.clientChangeId ?? newClientMsgId();
    const frame = { type: "delete", room, message_id: messageId, client_change_id: clientChangeId };
    return this.enqueue(clientChangeId, frame, false);
  }
  /**
   * Adds the user's reaction with `emoji` to a message; resolves with the message as it then
   * stands, its reactions counted, once durable. Queued behind the room's other writes and
   * re-sent until acknowledged: adding a reaction one has stores nothing, so a retry is safe.
   */
  react(room, messageId, emoji) {
    return this.enqueue(newClientMsgId(), { type: "react", room, message_id: messageId, emoji }, false);
  }
  /** Removes the user's reaction with `emoji` from a message; otherwise like `react`. */
  unreact(room, messageId, emoji) {
    return this.enqueue(newClientMsgId(), { type: "unreact", room, message_id: messageId, emoji }, false);
  }
  /** Sends, edits, deletions and reactions not yet acknowledged. */
  get unacknowledged() {
    return this.outgoing.size;
  }
  /** Says the user is typing; sent at most once per `typingIntervalMs` per room. */
  typing(room) {
    const now = Date.now();
    if (now - (this.lastTyping.get(room) ?? 0) < this.options.typingIntervalMs) return;
    if (this.stateValue !== "live") return;
    this.lastTyping.set(room, now);
    this.write({ type: "typing", room });
  }
  /** Moves the read marker forward to `seq` (never back; repeats are not sent). */
  async markRead(room, seq) {
    if (seq <= (this.readSent.get(room) ?? 0)) return;
    this.readSent.set(room, seq);
    try {
      await this.request({ type: "read", room, seq });
    } catch (err) {
      this.readSent.delete(room);
      throw err;
    }
  }
  /**
   * The user's rooms, as `GET /rooms` lists them. Sent first after becoming live and followed
   * by the feed's `room_added`, `room_removed` and `room_updated` events, it gives the complete
   * list (the re-sync rule of "Your feed"). With `unread: true` this socket also gets `unread`
   * events from then on (ask again after a reconnect, with the list).
   */
  async rooms(options = {}) {
    const result = await this.request(options.unread ? { type: "rooms", unread: true } : { type: "rooms" });
    return result.rooms;
  }
  /** A page of history, ascending by seq. */
  async history(room, query = {}) {
    const result = await this.request({ type: "history", room, ...query });
    return result;
  }
  /** A page of a message's direct replies, ascending by seq, from right above `after`. */
  async thread(room, messageId, query = {}) {
    const result = await this.request({ type: "thread", room, message_id: messageId, ...query });
    return result;
  }
  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
  }
  // ---- Connection ----
  async open() {
    if (this.stopped) return;
    this.setState(this.attempt === 0 && this.stateValue === "closed" ? "connecting" : "reconnecting");
    let token;
    try {
      token = await this.options.token(this.tokenRejected);
    } catch (err) {
      if (err instanceof ChatError && err.code === "session_expired") {
        this.emit("error", { code: err.code, message: err.message });
        this.close();
      } else {
        this.onDisconnect(0);
      }
      return;
    }
    if (this.stopped) return;
    this.tokenRejected = false;
    const socket = new this.options.WebSocket(this.options.url, "chat.v1.json");
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.write({ type: "auth", token });
      this.request({ type: "ping" }).then(() => this.becomeLive()).catch(() => {
      });
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket || typeof event.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.dispatch(frame);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onDisconnect(event.code);
    };
  }
  becomeLive() {
    this.attempt = 0;
    this.setState("live");
    this.startHeartbeat();
    for (const room of this.joined.keys()) {
      this.joinNow(room).catch((err) => this.emit("error", { code: err.code, message: err.message }));
    }
    this.pump();
  }
  async joinNow(room) {
    const since = this.joined.get(room) ?? -1;
    const frame = since >= 0 ? { type: "join", room, since } : { type: "join", room };
    let result;
    try {
      result = await this.request(frame);
    } catch (err) {
      if (err instanceof ChatError && (err.code === "forbidden" || err.code === "not_found")) this.joined.delete(room);
      throw err;
    }
    if (!this.joined.has(room)) return result;
    let seen = this.joined.get(room) ?? -1;
    for (const message of result.messages) seen = Math.max(seen, message.seq);
    this.joined.set(room, Math.max(seen, 0));
    const changes = (result.changes ?? []).filter((change) => this.isNewChange(change));
    this.emit("joined", { ...result, changes, resumed: since >= 0 });
    return { ...result, changes };
  }
  onDisconnect(code) {
    this.stopHeartbeat();
    for (const out of this.outgoing.values()) out.inFlight = false;
    this.failRequests("disconnected", "the connection was lost");
    if (this.stopped) return;
    if (code === CloseCode.Unauthorized) this.tokenRejected = true;
    this.setState("reconnecting");
    const quick = code === CloseCode.ServiceRestart || code === CloseCode.Unauthorized || code === CloseCode.TooSlow;
    const base = quick && this.attempt === 0 ? 100 : Math.min(this.options.maxReconnectDelayMs, 500 * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.open();
    }, delay);
  }
  dropSocket() {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    socket.onclose = null;
    socket.close(4e3, "reconnecting");
    this.onDisconnect(1006);
  }
  startHeartbeat() {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      this.request({ type: "ping" }, this.options.heartbeatMs).catch(() => {
      });
    }, this.options.heartbeatMs);
  }
  stopHeartbeat() {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }
  clearTimers() {
    this.stopHeartbeat();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }
  // ---- Frames ----
  dispatch(frame) {
    switch (frame.type) {
      case "reply": {
        const pending = this.requests.get(frame.id);
        if (!pending) return;
        this.requests.delete(frame.id);
        clearTimeout(pending.timer);
        if (frame.ok) pending.resolve(frame);
        else {
          const error = frame.error;
          pending.reject(new ChatError(error.code, error.message, error.fields));
        }
        return;
      }
      case "message": {
        const seen = this.joined.get(frame.message.room_id);
        if (seen === void 0 || frame.message.seq <= seen) return;
        this.joined.set(frame.message.room_id, frame.message.seq);
        this.emit("message", frame.message);
        return;
      }
      case "message_edited":
      case "message_deleted": {
        if (!this.joined.has(frame.room) || !this.isNewChange(frame)) return;
        this.emit("changed", frame);
        return;
      }
      case "reaction": {
        if (!this.joined.has(frame.room) || !this.isNewChange(frame)) return;
        this.emit("reaction", frame);
        return;
      }
      case "presence":
      case "typing":
      case "read":
      case "member": {
        const { type, ...detail } = frame;
        this.emit(type, detail);
        return;
      }
      case "room_added":
      case "room_updated":
        this.emit(frame.type, { room: frame.room });
        return;
      case "room_removed":
        this.emit("room_removed", { room: frame.room, banned: frame.banned === true });
        return;
      case "muted":
        this.emit("muted", { room: frame.room, until: frame.until ?? null });
        return;
      case "unread":
        this.emit("unread", { room: frame.room, unread_count: frame.unread_count, last_read_seq: frame.last_read_seq });
        return;
      case "error":
        this.emit("error", frame.error);
        return;
      case "pong":
        return;
    }
  }
  /** Whether a change or reaction comes after every one delivered for its room; if so, it
   * counts as delivered. Both are entries of the room's log, delivered in seq order. */
  isNewChange(change) {
    if (change.seq <= (this.changesSeen.get(change.room) ?? -1)) return false;
    this.changesSeen.set(change.room, change.seq);
    return true;
  }
  /** Queues a write behind the others of its room; it goes out when live. */
  enqueue(clientId, frame, fresh) {
    return new Promise((resolve, reject) => {
      this.outgoing.set(clientId, { frame, resolve, reject, attempts: 0, fresh, inFlight: false, retry: null });
      this.pump();
    });
  }
  /**
   * Puts the oldest unacknowledged write of each room on the wire. One at a time per room:
   * the server handles a connection's sends concurrently, so two sent together could be
   * stored in either order, and a chat must keep the order they were written in.
   */
  pump() {
    if (this.stateValue !== "live") return;
    const rooms = /* @__PURE__ */ new Set();
    for (const [key, out] of this.outgoing) {
      if (rooms.has(out.frame.room)) continue;
      rooms.add(out.frame.room);
      if (!out.inFlight && !out.retry) this.transmit(key, out);
    }
  }
  transmit(clientId, out) {
    out.inFlight = true;
    out.attempts += 1;
    const frame = out.fresh && out.attempts === 1 ? { ...out.frame, first_attempt: true } : out.frame;
    this.request(frame).then(
      (result) => {
        this.outgoing.delete(clientId);
        out.resolve(result.message);
        this.pump();
      },
      (err) => {
        out.inFlight = false;
        if (!this.outgoing.has(clientId)) return;
        if (!RETRIABLE.has(err.code)) {
          this.outgoing.delete(clientId);
          out.reject(err);
          this.pump();
          return;
        }
        if (err.code === "disconnected") return;
        if (err.code === "rate_limited") this.emit("error", { code: err.code, message: err.message });
        const delay = Math.min(5e3, 250 * 2 ** Math.min(out.attempts, 5));
        out.retry = setTimeout(() => {
          out.retry = null;
          this.pump();
        }, delay);
      }
    );
  }
  request(frame, timeoutMs = this.options.requestTimeoutMs) {
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== OPEN) {
        reject(new ChatError("disconnected", "not connected"));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(new ChatError("timeout", "the server did not answer in time"));
        this.dropSocket();
      }, timeoutMs);
      this.requests.set(id, { frame, resolve, reject, timer });
      this.write({ ...frame, id });
    });
  }
  failRequests(code, message) {
    const pending = [...this.requests.values()];
    this.requests.clear();
    for (const request of pending) {
      clearTimeout(request.timer);
      request.reject(new ChatError(code, message));
    }
  }
  write(frame) {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(frame));
  }
  setState(state) {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit("state", { state });
  }
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
};
function defaultUrl(session) {
  const base = session?.baseUrl || globalThis.location?.origin;
  if (!base) throw new Error("no url for the socket: pass url, or a session with a baseUrl");
  const url = new URL(`${base.replace(/\/$/, "")}/ws`);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

// ../clients/js/src/session.ts
function refreshMargin(session) {
  return Math.min(6e4, session.lifetimeMs / 4 + 1e3);
}
var Session = class extends EventTarget {
  baseUrl;
  store;
  session;
  refreshing = null;
  refreshTimer = null;
  constructor(options = {}) {
    super();
    this.baseUrl = options.baseUrl ?? "";
    this.store = options.store;
    this.session = this.store?.load() ?? null;
    this.scheduleRefresh();
  }
  /** The signed-in user, or null. */
  get user() {
    return this.session?.user ?? null;
  }
  async register(username, password, displayName) {
    const body = { username, password };
    if (displayName) body.display_name = displayName;
    return this.start(await this.call("POST", "/auth/register", body, false));
  }
  async login(username, password) {
    const body = { username, password };
    return this.start(await this.call("POST", "/auth/login", body, false));
  }
  /** Ends the login on the server (every token of it) and here. */
  async logout() {
    const refreshToken = this.session?.refreshToken;
    this.end();
    if (refreshToken) {
      const body = { refresh_token: refreshToken };
      await this.call("POST", "/auth/logout", body, false).catch(() => {
      });
    }
  }
  /** A valid access token, refreshed first when it is about to expire (or `force`). */
  async accessToken(force = false) {
    const session = this.session;
    if (!session) throw new SessionExpired();
    if (!force && session.expiresAt - Date.now() > refreshMargin(session)) return session.accessToken;
    return this.refresh();
  }
  /**
   * Trades the refresh token for a new pair now and answers the new access token. One at a
   * time: a refresh token works once, and a second use revokes the login. A refusal ends the
   * session (`SessionExpired`); a failure to reach the server keeps it, to try again.
   */
  refresh() {
    this.refreshing ??= (async () => {
      const session = this.session;
      if (!session) throw new SessionExpired();
      const body = { refresh_token: session.refreshToken };
      const response = await this.fetch("POST", "/auth/refresh", body, null);
      if (response.status === 401) {
        this.expire();
        throw new SessionExpired();
      }
      if (!response.ok) throw new ChatError("unavailable", "could not renew the session; retrying");
      const answer = await response.json();
      this.start(answer);
      this.emit("renewed", { token: answer.access_token });
      return answer.access_token;
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }
  /**
   * A REST call of the contract as the signed-in user: the parsed answer (undefined for 204).
   * A 401 refreshes the token once and retries; a second one ends the session. Other refusals
   * throw a `ChatError` with the contract's code.
   */
  request(method, path, body) {
    return this.call(method, path, body, true);
  }
  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
  }
  async call(method, path, body, authenticated) {
    let response = await this.fetch(method, path, body, authenticated ? await this.accessToken() : null);
    if (response.status === 401 && authenticated) {
      response = await this.fetch(method, path, body, await this.accessToken(true));
    }
    if (response.status === 204) return void 0;
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
    }
    if (!response.ok) {
      const error = parsed?.error;
      if (response.status === 401 && authenticated) {
        this.expire();
        throw new SessionExpired();
      }
      const retryAfter = response.headers.get("retry-after");
      const message = error?.message ?? `the server answered ${response.status}`;
      throw new ChatError(
        error?.code ?? `http_${response.status}`,
        retryAfter ? `${message} (retry in ${retryAfter} s)` : message,
        error?.fields
      );
    }
    return parsed;
  }
  async fetch(method, path, body, token) {
    const headers = {};
    if (body !== void 0) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === void 0 ? void 0 : JSON.stringify(body)
      });
    } catch {
      throw new ChatError("network", "the server cannot be reached; check your connection");
    }
  }
  start(answer) {
    this.session = {
      user: answer.user,
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token,
      expiresAt: Date.now() + answer.expires_in * 1e3,
      lifetimeMs: answer.expires_in * 1e3
    };
    this.store?.save(this.session);
    this.scheduleRefresh();
    return answer.user;
  }
  scheduleRefresh() {
    this.clearTimer();
    if (!this.session) return;
    const due = Math.max(1e3, this.session.expiresAt - Date.now() - refreshMargin(this.session));
    this.setTimer(() => {
      this.refresh().catch(() => {
        if (this.session) this.setTimer(() => this.scheduleRefresh(), 5e3);
      });
    }, due);
  }
  setTimer(run, delayMs) {
    const timer = setTimeout(run, delayMs);
    timer.unref?.();
    this.refreshTimer = timer;
  }
  clearTimer() {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }
  expire() {
    const had = this.session !== null;
    this.end();
    if (had) this.emit("expired", null);
  }
  end() {
    this.session = null;
    this.store?.clear();
    this.clearTimer();
  }
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
};
export {
  ChatClient,
  ChatError,
  CloseCode,
  Session,
  SessionExpired,
  newClientMsgId
};
