// A typed client of the chat WebSocket protocol (`GET /ws`, subprotocol `chat.v1.json`).
//
// It keeps one connection alive: authenticates with the first frame, reconnects with backoff,
// renews the token when asked, re-joins every joined room with `since` = the last seq it saw (so
// nothing is missed or delivered twice), and re-sends unacknowledged messages under their
// `client_msg_id` until the server acknowledges them, edits and deletions likewise under
// their `client_change_id`, and reactions (idempotent by nature) as they are. It has no DOM dependencies beyond `WebSocket` and `EventTarget`, so
// it works in any browser page or worker.
/** Close codes of the contract. */
export const CloseCode = {
    Policy: 1008,
    TooBig: 1009,
    ServiceRestart: 1012,
    Unauthorized: 4001,
    TooSlow: 4002,
    RateLimited: 4008,
};
/** A failed request: the server's error code and message. */
export class ChatError extends Error {
    code;
    fields;
    constructor(code, message, fields) {
        super(message);
        this.code = code;
        this.fields = fields;
        this.name = "ChatError";
    }
}
/** Errors a send is retried after; anything else is final. */
const RETRIABLE = new Set(["rate_limited", "unavailable", "internal", "disconnected", "timeout"]);
/** A fresh `client_msg_id`; `crypto.randomUUID` needs a secure context, random bytes do not. */
export function newClientMsgId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
export class ChatClient extends EventTarget {
    options;
    socket = null;
    stateValue = "closed";
    nextId = 1;
    requests = new Map();
    /** Unacknowledged writes, by their client id (`client_msg_id`, `client_change_id`, or for a
     * reaction, which has none on the wire, an id of its own). */
    outgoing = new Map();
    /** Joined rooms, each with the highest seq delivered; -1 before the first join answered. */
    joined = new Map();
    /** The highest seq of a change or reaction delivered per room. Resuming asks from the newest
     * message's seq, so those after it come again; these are not delivered twice. */
    changesSeen = new Map();
    lastTyping = new Map();
    readSent = new Map();
    reconnectTimer = null;
    heartbeatTimer = null;
    attempt = 0;
    tokenRejected = false;
    stopped = true;
    constructor(options) {
        super();
        this.options = {
            url: options.url ?? defaultUrl(),
            token: options.token,
            maxReconnectDelayMs: options.maxReconnectDelayMs ?? 10_000,
            heartbeatMs: options.heartbeatMs ?? 20_000,
            requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
            typingIntervalMs: options.typingIntervalMs ?? 2_500,
        };
    }
    get state() {
        return this.stateValue;
    }
    /** Starts connecting; reconnects on its own until `close()`. */
    connect() {
        if (!this.stopped)
            return;
        this.stopped = false;
        void this.open();
    }
    /** Ends the connection for good; pending sends fail with `closed`. */
    close() {
        this.stopped = true;
        this.clearTimers();
        this.socket?.close(1000, "bye");
        this.socket = null;
        this.failRequests("closed", "the client was closed");
        for (const [key, out] of this.outgoing) {
            if (out.retry)
                clearTimeout(out.retry);
            out.reject(new ChatError("closed", "the client was closed"));
            this.outgoing.delete(key);
        }
        this.setState("closed");
    }
    /** Drops the current connection now and reconnects at once (e.g. after the network returns). */
    reconnectNow() {
        if (this.stopped)
            return;
        this.attempt = 0;
        if (this.reconnectTimer) {
            clearTimeout(this.reconnectTimer);
            this.reconnectTimer = null;
            void this.open();
            return;
        }
        this.dropSocket();
    }
    /** Gives the server a renewed token before the current one expires. */
    async renewToken(token) {
        if (this.stateValue !== "live")
            return;
        await this.request({ type: "auth", token });
    }
    /** Follows a room; after reconnecting it re-joins with `since` on its own. */
    async join(room, since) {
        if (!this.joined.has(room))
            this.joined.set(room, since ?? -1);
        return this.joinNow(room);
    }
    /** Stops following a room (membership is unchanged). */
    async leave(room) {
        this.joined.delete(room);
        this.changesSeen.delete(room);
        if (this.stateValue === "live")
            await this.request({ type: "leave", room });
    }
    /** The highest seq delivered for a room, if any. */
    lastSeq(room) {
        const seq = this.joined.get(room);
        return seq === undefined || seq < 0 ? undefined : seq;
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
        if (extra.kind)
            frame.kind = extra.kind;
        if (extra.metadata)
            frame.metadata = extra.metadata;
        if (extra.replyTo)
            frame.reply_to = extra.replyTo;
        return this.enqueue(clientMsgId, frame, extra.clientMsgId === undefined);
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
            client_change_id: clientChangeId,
        };
        if (extra.metadata)
            frame.metadata = extra.metadata;
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
        if (now - (this.lastTyping.get(room) ?? 0) < this.options.typingIntervalMs)
            return;
        if (this.stateValue !== "live")
            return;
        this.lastTyping.set(room, now);
        this.write({ type: "typing", room });
    }
    /** Moves the read marker forward to `seq` (never back; repeats are not sent). */
    async markRead(room, seq) {
        if (seq <= (this.readSent.get(room) ?? 0))
            return;
        this.readSent.set(room, seq);
        try {
            await this.request({ type: "read", room, seq });
        }
        catch (err) {
            this.readSent.delete(room);
            throw err;
        }
    }
    /**
     * The user's rooms, as `GET /rooms` lists them. Sent first after becoming live and followed
     * by the feed's `room_added`, `room_removed` and `room_updated` events, it gives the complete
     * list (the re-sync rule of "Your feed").
     */
    async rooms() {
        const result = await this.request({ type: "rooms" });
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
        if (this.stopped)
            return;
        this.setState(this.attempt === 0 && this.stateValue === "closed" ? "connecting" : "reconnecting");
        let token;
        try {
            token = await this.options.token(this.tokenRejected);
        }
        catch (err) {
            if (err instanceof ChatError && err.code === "session_expired") {
                this.emit("error", { code: err.code, message: err.message });
                this.close();
            }
            else {
                // Most likely the network is down too: try again after the usual backoff.
                this.onDisconnect(0);
            }
            return;
        }
        if (this.stopped)
            return;
        this.tokenRejected = false;
        const socket = new WebSocket(this.options.url, "chat.v1.json");
        this.socket = socket;
        socket.onopen = () => {
            if (this.socket !== socket)
                return;
            this.write({ type: "auth", token });
            // The first reply proves the token was accepted.
            this.request({ type: "ping" })
                .then(() => this.becomeLive())
                .catch(() => { });
        };
        socket.onmessage = (event) => {
            if (this.socket !== socket || typeof event.data !== "string")
                return;
            let frame;
            try {
                frame = JSON.parse(event.data);
            }
            catch {
                return;
            }
            this.dispatch(frame);
        };
        socket.onclose = (event) => {
            if (this.socket !== socket)
                return;
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
            result = (await this.request(frame));
        }
        catch (err) {
            // Not a participant (any more), or no such room: stop trying on every reconnection.
            if (err instanceof ChatError && (err.code === "forbidden" || err.code === "not_found"))
                this.joined.delete(room);
            throw err;
        }
        if (!this.joined.has(room))
            return result;
        let seen = this.joined.get(room) ?? -1;
        for (const message of result.messages)
            seen = Math.max(seen, message.seq);
        this.joined.set(room, Math.max(seen, 0));
        const changes = (result.changes ?? []).filter((change) => this.isNewChange(change));
        this.emit("joined", { ...result, changes, resumed: since >= 0 });
        return { ...result, changes };
    }
    onDisconnect(code) {
        this.stopHeartbeat();
        for (const out of this.outgoing.values())
            out.inFlight = false;
        this.failRequests("disconnected", "the connection was lost");
        if (this.stopped)
            return;
        if (code === CloseCode.Unauthorized)
            this.tokenRejected = true;
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
    dropSocket() {
        const socket = this.socket;
        if (!socket)
            return;
        this.socket = null;
        socket.onclose = null;
        socket.close(4000, "reconnecting");
        this.onDisconnect(1006);
    }
    startHeartbeat() {
        this.stopHeartbeat();
        this.heartbeatTimer = setInterval(() => {
            // A lost reply fails the request by timeout, which drops the socket.
            this.request({ type: "ping" }, this.options.heartbeatMs).catch(() => { });
        }, this.options.heartbeatMs);
    }
    stopHeartbeat() {
        if (this.heartbeatTimer)
            clearInterval(this.heartbeatTimer);
        this.heartbeatTimer = null;
    }
    clearTimers() {
        this.stopHeartbeat();
        if (this.reconnectTimer)
            clearTimeout(this.reconnectTimer);
        this.reconnectTimer = null;
    }
    // ---- Frames ----
    dispatch(frame) {
        switch (frame.type) {
            case "reply": {
                const pending = this.requests.get(frame.id);
                if (!pending)
                    return;
                this.requests.delete(frame.id);
                clearTimeout(pending.timer);
                if (frame.ok)
                    pending.resolve(frame);
                else {
                    const error = frame.error;
                    pending.reject(new ChatError(error.code, error.message, error.fields));
                }
                return;
            }
            case "message": {
                const seen = this.joined.get(frame.message.room_id);
                // Live messages are delivered once and in order; this only guards the seam after a
                // re-join, where the replay and the live stream meet.
                if (seen === undefined || frame.message.seq <= seen)
                    return;
                this.joined.set(frame.message.room_id, frame.message.seq);
                this.emit("message", frame.message);
                return;
            }
            case "message_edited":
            case "message_deleted": {
                if (!this.joined.has(frame.room) || !this.isNewChange(frame))
                    return;
                this.emit("changed", frame);
                return;
            }
            case "reaction": {
                if (!this.joined.has(frame.room) || !this.isNewChange(frame))
                    return;
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
        if (change.seq <= (this.changesSeen.get(change.room) ?? -1))
            return false;
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
        if (this.stateValue !== "live")
            return;
        const rooms = new Set();
        for (const [key, out] of this.outgoing) {
            if (rooms.has(out.frame.room))
                continue;
            rooms.add(out.frame.room);
            if (!out.inFlight && !out.retry)
                this.transmit(key, out);
        }
    }
    transmit(clientId, out) {
        out.inFlight = true;
        out.attempts += 1;
        // A first attempt spares the server its database lookup of the client id; a re-send may
        // find the message stored long ago, so it asks for that lookup.
        const frame = out.fresh && out.attempts === 1 ? { ...out.frame, first_attempt: true } : out.frame;
        this.request(frame).then((result) => {
            this.outgoing.delete(clientId);
            out.resolve(result.message);
            this.pump();
        }, (err) => {
            out.inFlight = false;
            if (!this.outgoing.has(clientId))
                return;
            if (!RETRIABLE.has(err.code)) {
                this.outgoing.delete(clientId);
                out.reject(err);
                this.pump();
                return;
            }
            if (err.code === "disconnected")
                return; // re-sent once live again
            if (err.code === "rate_limited")
                this.emit("error", { code: err.code, message: err.message });
            const delay = Math.min(5_000, 250 * 2 ** Math.min(out.attempts, 5));
            out.retry = setTimeout(() => {
                out.retry = null;
                this.pump();
            }, delay);
        });
    }
    request(frame, timeoutMs = this.options.requestTimeoutMs) {
        return new Promise((resolve, reject) => {
            if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
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
    failRequests(code, message) {
        const pending = [...this.requests.values()];
        this.requests.clear();
        for (const request of pending) {
            clearTimeout(request.timer);
            request.reject(new ChatError(code, message));
        }
    }
    write(frame) {
        if (this.socket?.readyState === WebSocket.OPEN)
            this.socket.send(JSON.stringify(frame));
    }
    setState(state) {
        if (this.stateValue === state)
            return;
        this.stateValue = state;
        this.emit("state", { state });
    }
    emit(type, detail) {
        this.dispatchEvent(new CustomEvent(type, { detail }));
    }
}
function defaultUrl() {
    const { protocol, host } = globalThis.location;
    return `${protocol === "https:" ? "wss:" : "ws:"}//${host}/ws`;
}
