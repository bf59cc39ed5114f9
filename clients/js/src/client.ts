// The socket client of the chat protocol (`GET /ws`, subprotocol `chat.v1.json`).
//
// It keeps one connection alive: authenticates with the first frame, reconnects with backoff,
// gives the server each token its session renews before the old one expires, re-joins every
// joined room with `since` = the last seq it saw (so nothing is missed or delivered twice), and
// re-sends unacknowledged messages under their `client_msg_id` until the server acknowledges
// them, edits and deletions likewise under their `client_change_id`, and reactions (idempotent
// by nature) as they are. It needs only `WebSocket`, `EventTarget`, `CustomEvent` and
// `crypto.getRandomValues`, so it works in a browser page, a worker and Node.

import { ChatError } from "./errors.js";
import type { Session } from "./session.js";
import {
  CloseCode,
  type ClientFrame,
  type ErrorBody,
  type HistoryPage,
  type Id,
  type JoinResult,
  type Message,
  type MessageChange,
  type ReactionChange,
  type Role,
  type Room,
  type RoomSummary,
  type Seq,
  type ServerFrame,
} from "./wire.js";

// ---- Events ----

export type ConnectionState = "connecting" | "live" | "reconnecting" | "closed";

export interface ChatEventMap {
  /** The connection changed state. */
  state: CustomEvent<{ state: ConnectionState }>;
  /** A room was joined or re-joined. `resumed`: `messages` are what came after the last seq
   * seen, and `changes` the edits, deletions and reactions not yet delivered; otherwise they
   * are the newest page. `recovered: false`: some could not be replayed. */
  joined: CustomEvent<JoinResult & { resumed: boolean }>;
  /** A live message, each at most once, in seq order within its room. */
  message: CustomEvent<Message>;
  /** A live edit or deletion, each at most once, in seq order within its room (those missed
   * while disconnected come in `joined` as `changes`). Replace the held message with the same
   * id by `message`, unless its `changed_seq` is already at least the change's `seq`. */
  changed: CustomEvent<MessageChange>;
  /** A live reaction added or removed, each at most once, in seq order with the changes of its
   * room (those missed come in `joined` as `changes`). Apply it to the held message only if
   * `seq` is above its `reactions_seq`, then set that to `seq`. */
  reaction: CustomEvent<ReactionChange>;
  presence: CustomEvent<{ room: Id; user_id: Id; state: "online" | "offline" }>;
  typing: CustomEvent<{ room: Id; user_id: Id }>;
  /** Someone's read marker moved in a joined room; or, with the user's own `user_id`, theirs
   * moved on another device, in any room of theirs. */
  read: CustomEvent<{ room: Id; user_id: Id; seq: Seq }>;
  /** `role` with `change: "role"` only: the member's new role. */
  member: CustomEvent<{ room: Id; user_id: Id; change: "added" | "removed" | "role"; role?: Role }>;
  /** The user's feed (docs/API.md, "Your feed"): they became a participant of `room`, shaped
   * like an entry of `rooms()`. Apply by room id: it may describe what a list already shows. */
  room_added: CustomEvent<{ room: RoomSummary }>;
  /** They are no longer a participant; `banned` when a moderator banned them. */
  room_removed: CustomEvent<{ room: Id; banned: boolean }>;
  /** A room of theirs was renamed, or its topic or post policy changed. */
  room_updated: CustomEvent<{ room: Room }>;
  /** A moderator muted them in `room` until `until`, or unmuted them (`null`). */
  muted: CustomEvent<{ room: Id; until: string | null }>;
  /** The unread count of one of the user's rooms changed (after `rooms({ unread: true })`). */
  unread: CustomEvent<{ room: Id; unread_count: number; last_read_seq: Seq }>;
  /** A server `error` frame, or a failure to keep the connection (code `session_expired`). */
  error: CustomEvent<ErrorBody>;
}

// ---- Options ----

/** A WebSocket class: the global one, or another runtime's with the same interface. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => WebSocket;

/** Where the client's access tokens come from: a session, which also renews the socket's
 * token before it expires, or a function of one's own. */
export type TokenSource =
  | { session: Session; token?: never }
  | {
      /**
       * The access token to authenticate with. Called before every connection; `expired` is
       * true when the server has just rejected the previous one (close 4001), so the provider
       * should refresh. Throwing a `ChatError` with code `session_expired` ends the client
       * (state `closed`, error `session_expired`); any other failure is retried like a lost
       * connection. Renewing the open socket's token is then up to the caller (`renewToken`).
       */
      token: (expired: boolean) => Promise<string>;
      session?: never;
    };

export type ChatClientOptions = TokenSource & {
  /** `ws://host/ws` or `wss://host/ws`; defaults to the session's server, else to the page's
   * own origin. */
  url?: string;
  /** Defaults to the global `WebSocket` (browsers, Node 22 and later). */
  WebSocket?: WebSocketClass;
  /** Longest wait between reconnection attempts. */
  maxReconnectDelayMs?: number;
  /** How often to ping an idle connection; a missing pong within the same time reconnects. */
  heartbeatMs?: number;
  /** How long a request waits for its reply before the connection counts as dead. */
  requestTimeoutMs?: number;
  /** Least time between two `typing` frames for one room. */
  typingIntervalMs?: number;
};

interface Settings {
  url: string;
  token: (expired: boolean) => Promise<string>;
  WebSocket: WebSocketClass;
  maxReconnectDelayMs: number;
  heartbeatMs: number;
  requestTimeoutMs: number;
  typingIntervalMs: number;
}

interface PendingRequest {
  frame: ClientFrame;
  resolve: (result: Record<string, unknown>) => void;
  reject: (error: ChatError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A write that is retried until acknowledged: a send, an edit, a deletion or a reaction. */
interface OutgoingMessage {
  frame: Extract<ClientFrame, { type: "send" | "edit" | "delete" | "react" | "unreact" }>;
  resolve: (message: Message) => void;
  reject: (error: ChatError) => void;
  attempts: number;
  /** A send whose `client_msg_id` the client made itself: its first transmission is a first attempt. */
  fresh: boolean;
  /** Whether a `send` is on the wire on the current connection, awaiting its reply. */
  inFlight: boolean;
  /** Set while backing off after a refusal such as `rate_limited`. */
  retry: ReturnType<typeof setTimeout> | null;
}

/** `WebSocket.OPEN`, the same in every implementation (a replaced class may not carry it). */
const OPEN = 1;

/** Errors a send is retried after; anything else is final. */
const RETRIABLE = new Set(["rate_limited", "unavailable", "internal", "disconnected", "timeout"]);

/** A fresh `client_msg_id`; `crypto.randomUUID` needs a secure context, random bytes do not. */
export function newClientMsgId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ChatClient extends EventTarget {
  private readonly options: Settings;
  private readonly session: Session | undefined;
  private socket: WebSocket | null = null;
  private stateValue: ConnectionState = "closed";
  private nextId = 1;
  private readonly requests = new Map<number, PendingRequest>();
  /** Unacknowledged writes, by their client id (`client_msg_id`, `client_change_id`, or for a
   * reaction, which has none on the wire, an id of its own). */
  private readonly outgoing = new Map<string, OutgoingMessage>();
  /** Joined rooms, each with the highest seq delivered; -1 before the first join answered. */
  private readonly joined = new Map<Id, Seq>();
  /** The highest seq of a change or reaction delivered per room. Resuming asks from the newest
   * message's seq, so those after it come again; these are not delivered twice. */
  private readonly changesSeen = new Map<Id, Seq>();
  private readonly lastTyping = new Map<Id, number>();
  private readonly readSent = new Map<Id, Seq>();
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private attempt = 0;
  private tokenRejected = false;
  private stopped = true;

  constructor(options: ChatClientOptions) {
    super();
    const session = options.session;
    const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
    if (!WebSocketClass) throw new Error("no global WebSocket here: pass one as the WebSocket option");
    this.session = session;
    this.options = {
      url: options.url ?? defaultUrl(session),
      token: session ? (expired) => session.accessToken(expired) : options.token,
      WebSocket: WebSocketClass,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 10_000,
      heartbeatMs: options.heartbeatMs ?? 20_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      typingIntervalMs: options.typingIntervalMs ?? 2_500,
    };
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Starts connecting; reconnects on its own until `close()`. */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.session?.addEventListener("renewed", this.onRenewed);
    void this.open();
  }

  /** Ends the connection for good; pending sends fail with `closed`. */
  close(): void {
    this.stopped = true;
    this.session?.removeEventListener("renewed", this.onRenewed);
    this.clearTimers();
    this.socket?.close(1000, "bye");
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
  reconnectNow(): void {
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
  private readonly onRenewed = (event: Event): void => {
    this.renewToken((event as CustomEvent<{ token: string }>).detail.token).catch(() => {});
  };

  /** Gives the server a renewed token before the current one expires. */
  async renewToken(token: string): Promise<void> {
    if (this.stateValue !== "live") return;
    await this.request({ type: "auth", token });
  }

  /** Follows a room; after reconnecting it re-joins with `since` on its own. */
  async join(room: Id, since?: Seq): Promise<JoinResult> {
    if (!this.joined.has(room)) this.joined.set(room, since ?? -1);
    return this.joinNow(room);
  }

  /** Stops following a room (membership is unchanged). */
  async leave(room: Id): Promise<void> {
    this.joined.delete(room);
    this.changesSeen.delete(room);
    if (this.stateValue === "live") await this.request({ type: "leave", room });
  }

  /** The highest seq delivered for a room, if any. */
  lastSeq(room: Id): Seq | undefined {
    const seq = this.joined.get(room);
    return seq === undefined || seq < 0 ? undefined : seq;
  }

  /**
   * Sends a message and resolves once the server has made it durable. Until then it is re-sent
   * after every reconnection under the same `client_msg_id`, so it is stored once. Messages to
   * one room go one after the other, so they are stored in the order they were sent. With
   * `replyTo` (a message of the room that is not deleted) it is a reply to that message.
   */
  send(
    room: Id,
    content: string,
    extra: { kind?: string; metadata?: Record<string, unknown>; clientMsgId?: string; replyTo?: Id } = {},
  ): Promise<Message> {
    const clientMsgId = extra.clientMsgId ?? newClientMsgId();
    const frame: OutgoingMessage["frame"] = { type: "send", room, content, client_msg_id: clientMsgId };
    if (extra.kind) frame.kind = extra.kind;
    if (extra.metadata) frame.metadata = extra.metadata;
    if (extra.replyTo) frame.reply_to = extra.replyTo;
    return this.enqueue(clientMsgId, frame, extra.clientMsgId === undefined);
  }

  /**
   * Replaces the content (and, when given, the metadata) of one's own message; resolves with
   * the message as edited once the change is durable. Retried like a send, under one
   * `client_change_id`, so it is applied once.
   */
  edit(
    room: Id,
    messageId: Id,
    content: string,
    extra: { metadata?: Record<string, unknown>; clientChangeId?: string } = {},
  ): Promise<Message> {
    const clientChangeId = extra.clientChangeId ?? newClientMsgId();
    const frame: OutgoingMessage["frame"] = {
      type: "edit",
      room,
      message_id: messageId,
      content,
      client_change_id: clientChangeId,
    };
    if (extra.metadata) frame.metadata = extra.metadata;
    return this.enqueue(clientChangeId, frame, false);
  }

  /**
   * Deletes a message (one's own, or anyone's as the room's owner or admin); resolves with its
   * tombstone once durable. Retried like a send, under one `client_change_id`.
   */
  delete(room: Id, messageId: Id, extra: { clientChangeId?: string } = {}): Promise<Message> {
    const clientChangeId = extra.clientChangeId ?? newClientMsgId();
    const frame: OutgoingMessage["frame"] = { type: "delete", room, message_id: messageId, client_change_id: clientChangeId };
    return this.enqueue(clientChangeId, frame, false);
  }

  /**
   * Adds the user's reaction with `emoji` to a message; resolves with the message as it then
   * stands, its reactions counted, once durable. Queued behind the room's other writes and
   * re-sent until acknowledged: adding a reaction one has stores nothing, so a retry is safe.
   */
  react(room: Id, messageId: Id, emoji: string): Promise<Message> {
    return this.enqueue(newClientMsgId(), { type: "react", room, message_id: messageId, emoji }, false);
  }

  /** Removes the user's reaction with `emoji` from a message; otherwise like `react`. */
  unreact(room: Id, messageId: Id, emoji: string): Promise<Message> {
    return this.enqueue(newClientMsgId(), { type: "unreact", room, message_id: messageId, emoji }, false);
  }

  /** Sends, edits, deletions and reactions not yet acknowledged. */
  get unacknowledged(): number {
    return this.outgoing.size;
  }

  /** Says the user is typing; sent at most once per `typingIntervalMs` per room. */
  typing(room: Id): void {
    const now = Date.now();
    if (now - (this.lastTyping.get(room) ?? 0) < this.options.typingIntervalMs) return;
    if (this.stateValue !== "live") return;
    this.lastTyping.set(room, now);
    this.write({ type: "typing", room });
  }

  /** Moves the read marker forward to `seq` (never back; repeats are not sent). */
  async markRead(room: Id, seq: Seq): Promise<void> {
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
  async rooms(options: { unread?: boolean } = {}): Promise<RoomSummary[]> {
    const result = await this.request(options.unread ? { type: "rooms", unread: true } : { type: "rooms" });
    return (result as unknown as { rooms: RoomSummary[] }).rooms;
  }

  /** A page of history, ascending by seq. */
  async history(room: Id, query: { before?: Seq; after?: Seq; limit?: number } = {}): Promise<HistoryPage> {
    const result = await this.request({ type: "history", room, ...query });
    return result as unknown as HistoryPage;
  }

  /** A page of a message's direct replies, ascending by seq, from right above `after`. */
  async thread(room: Id, messageId: Id, query: { after?: Seq; limit?: number } = {}): Promise<HistoryPage> {
    const result = await this.request({ type: "thread", room, message_id: messageId, ...query });
    return result as unknown as HistoryPage;
  }

  addEventListener<K extends keyof ChatEventMap>(
    type: K,
    listener: (event: ChatEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null | ((event: never) => void),
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  // ---- Connection ----

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.setState(this.attempt === 0 && this.stateValue === "closed" ? "connecting" : "reconnecting");
    let token: string;
    try {
      token = await this.options.token(this.tokenRejected);
    } catch (err) {
      if (err instanceof ChatError && err.code === "session_expired") {
        this.emit("error", { code: err.code, message: err.message });
        this.close();
      } else {
        // Most likely the network is down too: try again after the usual backoff.
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
      // The first reply proves the token was accepted.
      this.request({ type: "ping" })
        .then(() => this.becomeLive())
        .catch(() => {});
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket || typeof event.data !== "string") return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
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

  private becomeLive(): void {
    this.attempt = 0;
    this.setState("live");
    this.startHeartbeat();
    for (const room of this.joined.keys()) {
      this.joinNow(room).catch((err: ChatError) => this.emit("error", { code: err.code, message: err.message }));
    }
    this.pump();
  }

  private async joinNow(room: Id): Promise<JoinResult> {
    const since = this.joined.get(room) ?? -1;
    const frame: ClientFrame = since >= 0 ? { type: "join", room, since } : { type: "join", room };
    let result: JoinResult;
    try {
      result = (await this.request(frame)) as unknown as JoinResult;
    } catch (err) {
      // Not a participant (any more), or no such room: stop trying on every reconnection.
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

  private onDisconnect(code: number): void {
    this.stopHeartbeat();
    for (const out of this.outgoing.values()) out.inFlight = false;
    this.failRequests("disconnected", "the connection was lost");
    if (this.stopped) return;
    if (code === CloseCode.Unauthorized) this.tokenRejected = true;
    this.setState("reconnecting");
    // A restarting node (1012) or a token renewal should not wait; repeated failures back off.
    const quick = code === CloseCode.ServiceRestart || code === CloseCode.Unauthorized || code === CloseCode.TooSlow;
    const base = quick && this.attempt === 0 ? 100 : Math.min(this.options.maxReconnectDelayMs, 500 * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.open();
    }, delay);
  }

  private dropSocket(): void {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    socket.onclose = null;
    socket.close(4000, "reconnecting");
    this.onDisconnect(1006);
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      // A lost reply fails the request by timeout, which drops the socket.
      this.request({ type: "ping" }, this.options.heartbeatMs).catch(() => {});
    }, this.options.heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private clearTimers(): void {
    this.stopHeartbeat();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  // ---- Frames ----

  private dispatch(frame: ServerFrame): void {
    switch (frame.type) {
      case "reply": {
        const pending = this.requests.get(frame.id);
        if (!pending) return;
        this.requests.delete(frame.id);
        clearTimeout(pending.timer);
        if (frame.ok) pending.resolve(frame);
        else {
          const error = (frame as { error: ErrorBody }).error;
          pending.reject(new ChatError(error.code, error.message, error.fields));
        }
        return;
      }
      case "message": {
        const seen = this.joined.get(frame.message.room_id);
        // Live messages are delivered once and in order; this only guards the seam after a
        // re-join, where the replay and the live stream meet.
        if (seen === undefined || frame.message.seq <= seen) return;
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
  private isNewChange(change: { room: Id; seq: Seq }): boolean {
    if (change.seq <= (this.changesSeen.get(change.room) ?? -1)) return false;
    this.changesSeen.set(change.room, change.seq);
    return true;
  }

  /** Queues a write behind the others of its room; it goes out when live. */
  private enqueue(clientId: string, frame: OutgoingMessage["frame"], fresh: boolean): Promise<Message> {
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
  private pump(): void {
    if (this.stateValue !== "live") return;
    const rooms = new Set<Id>();
    for (const [key, out] of this.outgoing) {
      if (rooms.has(out.frame.room)) continue;
      rooms.add(out.frame.room);
      if (!out.inFlight && !out.retry) this.transmit(key, out);
    }
  }

  private transmit(clientId: string, out: OutgoingMessage): void {
    out.inFlight = true;
    out.attempts += 1;
    // A first attempt spares the server its database lookup of the client id; a re-send may
    // find the message stored long ago, so it asks for that lookup.
    const frame = out.fresh && out.attempts === 1 ? { ...out.frame, first_attempt: true } : out.frame;
    this.request(frame).then(
      (result) => {
        this.outgoing.delete(clientId);
        out.resolve((result as { message: Message }).message);
        this.pump();
      },
      (err: ChatError) => {
        out.inFlight = false;
        if (!this.outgoing.has(clientId)) return;
        if (!RETRIABLE.has(err.code)) {
          this.outgoing.delete(clientId);
          out.reject(err);
          this.pump();
          return;
        }
        if (err.code === "disconnected") return; // re-sent once live again
        if (err.code === "rate_limited") this.emit("error", { code: err.code, message: err.message });
        const delay = Math.min(5_000, 250 * 2 ** Math.min(out.attempts, 5));
        out.retry = setTimeout(() => {
          out.retry = null;
          this.pump();
        }, delay);
      },
    );
  }

  private request(frame: ClientFrame, timeoutMs = this.options.requestTimeoutMs): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== OPEN) {
        reject(new ChatError("disconnected", "not connected"));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(new ChatError("timeout", "the server did not answer in time"));
        // No answer in time means the connection is no longer trustworthy.
        this.dropSocket();
      }, timeoutMs);
      this.requests.set(id, { frame, resolve, reject, timer });
      this.write({ ...frame, id });
    });
  }

  private failRequests(code: string, message: string): void {
    const pending = [...this.requests.values()];
    this.requests.clear();
    for (const request of pending) {
      clearTimeout(request.timer);
      request.reject(new ChatError(code, message));
    }
  }

  private write(frame: ClientFrame): void {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify(frame));
  }

  private setState(state: ConnectionState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit("state", { state });
  }

  private emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** The session's server, or else this page's origin, with `/ws`. */
function defaultUrl(session: Session | undefined): string {
  const base = session?.baseUrl || globalThis.location?.origin;
  if (!base) throw new Error("no url for the socket: pass url, or a session with a baseUrl");
  const url = new URL(`${base.replace(/\/$/, "")}/ws`);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}
