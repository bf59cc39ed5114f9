// The page: signs in, keeps one ChatClient connected, follows every room of the user (for live
// unread counts), and shows the open one.
import { Api } from "./api.js";
import { ChatClient } from "./chat-client.js";
import { Conversation } from "./conversation.js";
import { byId } from "./dom.js";
import { describe, describeBody } from "./errors.js";
import { Sidebar } from "./sidebar.js";
import { UserDirectory } from "./users.js";
/** New rooms the user was added to are found by asking again; the server does not push them. */
const ROOM_LIST_POLL_MS = 15_000;
const STATE_LABELS = {
    connecting: "connecting…",
    live: "live",
    reconnecting: "reconnecting…",
    closed: "offline",
};
const api = new Api();
const users = new UserDirectory(api);
let chat = null;
/** Everything that exists while a user is signed in. */
class SignedIn {
    me;
    client;
    sidebar = new Sidebar((room) => void this.open(room));
    conversation;
    /** Who is online in each followed room, from join replies and presence events. */
    online = new Map();
    poll;
    constructor(me) {
        this.me = me;
        users.remember(me);
        this.client = new ChatClient({ token: (expired) => api.accessToken(expired) });
        this.conversation = new Conversation(api, users, me.id, {
            client: () => this.client,
            onError: showError,
        });
        api.onTokenRenewed = (token) => void this.client.renewToken(token).catch(() => { });
        this.listen();
        this.client.connect();
        void this.refreshRooms();
        this.poll = setInterval(() => void this.refreshRooms(), ROOM_LIST_POLL_MS);
    }
    stop() {
        clearInterval(this.poll);
        this.conversation.close();
        this.client.close();
    }
    async refreshRooms() {
        try {
            const rooms = await api.rooms();
            this.sidebar.show(rooms);
            for (const room of rooms) {
                if (!this.online.has(room.id)) {
                    this.online.set(room.id, new Set());
                    // Failures while offline are fine: the client joins its rooms once live.
                    this.client.join(room.id).catch(() => { });
                }
            }
        }
        catch (err) {
            showError(describe(err));
        }
    }
    async createRoom(name, type) {
        const room = await api.createRoom(name, type);
        await this.refreshRooms();
        await this.open(room.id);
    }
    async open(room) {
        const summary = this.sidebar.room(room);
        if (!summary)
            return;
        this.sidebar.select(room);
        document.body.classList.add("room-open");
        byId("room").hidden = false;
        byId("no-room").hidden = true;
        await this.conversation.open(room, summary.name, this.online.get(room) ?? new Set());
    }
    closeRoom() {
        this.conversation.close();
        this.sidebar.select(null);
        document.body.classList.remove("room-open");
        byId("room").hidden = true;
        byId("no-room").hidden = false;
    }
    listen() {
        const client = this.client;
        client.addEventListener("state", (event) => showConnection(event.detail.state));
        client.addEventListener("joined", (event) => {
            const { room, online, messages, changes, resumed, recovered } = event.detail;
            this.online.set(room.id, new Set(online));
            if (room.id === this.conversation.room) {
                void this.conversation.joined(messages, changes ?? [], resumed, recovered, online);
            }
            else if (resumed) {
                this.sidebar.addUnread(room.id, messages.filter((m) => m.sender_id !== this.me.id).length);
            }
        });
        client.addEventListener("message", (event) => {
            const message = event.detail;
            if (message.room_id === this.conversation.room)
                this.conversation.live(message);
            else if (message.sender_id !== this.me.id)
                this.sidebar.addUnread(message.room_id, 1);
        });
        client.addEventListener("changed", (event) => {
            if (event.detail.room === this.conversation.room)
                this.conversation.changed(event.detail);
        });
        client.addEventListener("reaction", (event) => {
            if (event.detail.room === this.conversation.room)
                this.conversation.reaction(event.detail);
        });
        client.addEventListener("presence", (event) => {
            const { room, user_id, state } = event.detail;
            const online = this.online.get(room) ?? new Set();
            if (state === "online")
                online.add(user_id);
            else
                online.delete(user_id);
            this.online.set(room, online);
            if (room === this.conversation.room)
                this.conversation.presence(user_id, state);
        });
        client.addEventListener("typing", (event) => {
            if (event.detail.room === this.conversation.room)
                this.conversation.typing(event.detail.user_id);
        });
        client.addEventListener("read", (event) => {
            if (event.detail.room === this.conversation.room)
                this.conversation.read(event.detail.user_id, event.detail.seq);
        });
        client.addEventListener("member", (event) => {
            const { room, user_id, change } = event.detail;
            if (user_id === this.me.id && change === "removed") {
                if (room === this.conversation.room)
                    this.closeRoom();
                this.online.delete(room);
                void client.leave(room).catch(() => { });
                void this.refreshRooms();
            }
            else if (room === this.conversation.room) {
                void this.conversation.memberChanged();
            }
        });
        client.addEventListener("error", (event) => {
            if (event.detail.code === "session_expired")
                signOut("Your session has expired. Please sign in again.");
            else
                showError(describeBody(event.detail));
        });
    }
}
// ---- Views ----
function showConnection(state) {
    const indicator = byId("connection");
    indicator.dataset.state = state;
    indicator.textContent = STATE_LABELS[state];
}
let bannerTimer = null;
function showError(message) {
    byId("banner-text").textContent = message;
    byId("banner").hidden = false;
    if (bannerTimer)
        clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => (byId("banner").hidden = true), 8_000);
}
function signedIn(user) {
    byId("login-view").hidden = true;
    byId("chat-view").hidden = false;
    byId("logout").hidden = false;
    byId("me").textContent = user.display_name;
    byId("my-id").textContent = user.id;
    byId("room").hidden = true;
    byId("no-room").hidden = false;
    chat = new SignedIn(user);
}
function signOut(message) {
    chat?.stop();
    chat = null;
    document.body.classList.remove("room-open");
    byId("chat-view").hidden = true;
    byId("login-view").hidden = false;
    byId("logout").hidden = true;
    byId("me").textContent = "";
    showConnection("closed");
    if (message)
        showError(message);
}
// ---- Wiring ----
byId("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const submitter = event.submitter;
    const field = (name) => form.elements.namedItem(name).value.trim();
    const username = field("username");
    const password = form.elements.namedItem("password").value;
    if (username.length < 3 || password.length < 8) {
        showError("A username needs at least 3 characters and a password at least 8.");
        return;
    }
    try {
        const user = submitter?.value === "register"
            ? await api.register(username, password, field("display_name") || undefined)
            : await api.login(username, password);
        byId("banner").hidden = true;
        signedIn(user);
    }
    catch (err) {
        showError(describe(err));
    }
});
byId("new-room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = form.elements.namedItem("name").value.trim();
    const type = form.elements.namedItem("type").value;
    if (!name || !chat)
        return;
    try {
        await chat.createRoom(name, type);
        form.reset();
    }
    catch (err) {
        showError(describe(err));
    }
});
byId("logout").addEventListener("click", () => {
    chat?.stop();
    void api.logout();
    signOut();
});
byId("back").addEventListener("click", () => chat?.closeRoom());
byId("refresh-rooms").addEventListener("click", () => void chat?.refreshRooms());
byId("banner-close").addEventListener("click", () => (byId("banner").hidden = true));
byId("copy-id").addEventListener("click", () => {
    const id = byId("my-id").textContent ?? "";
    navigator.clipboard?.writeText(id).catch(() => showError("Copy failed; select the id instead."));
});
// Going offline makes the socket useless at once; coming back should not wait for a backoff.
window.addEventListener("offline", () => chat?.client.reconnectNow());
window.addEventListener("online", () => chat?.client.reconnectNow());
window.addEventListener("focus", () => void chat?.refreshRooms());
api.onSessionExpired = () => signOut("Your session has expired. Please sign in again.");
const existing = api.user;
if (existing)
    signedIn(existing);
else
    signOut();
