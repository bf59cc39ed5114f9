// The page: signs in, keeps one ChatClient connected, keeps the user's room list complete from
// their feed, follows every room in it (for live unread counts), and shows the open one.

import { Api, type MemberRefs } from "./api.js";
import {
  ChatClient,
  type ConnectionState,
  type Id,
  type Room,
  type RoomSummary,
  type RoomType,
  type User,
} from "@chat-cluster/client";
import { Conversation } from "./conversation.js";
import { byId } from "./dom.js";
import { describe, describeBody } from "./errors.js";
import { PickedUsers } from "./picked-users.js";
import { RoomFeed } from "./room-feed.js";
import { Sidebar } from "./sidebar.js";
import { type Pick, UserPicker } from "./user-picker.js";
import { UserDirectory } from "./users.js";

const STATE_LABELS: Record<ConnectionState, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  closed: "offline",
};

const api = new Api();
const users = new UserDirectory(api);
let chat: SignedIn | null = null;

/** A form's text field. */
function field(form: string, name: string): HTMLInputElement {
  return byId<HTMLFormElement>(form).elements.namedItem(name) as HTMLInputElement;
}

// The page's people pickers live as long as the page; what they name is read on submit.
const directPicker = new UserPicker(field("direct-form", "user"), api);
const newRoomMembers = new PickedUsers(byId<HTMLUListElement>("new-room-members"));
const newRoomPicker: UserPicker = new UserPicker(field("new-room-form", "member"), api, (user) => {
  newRoomMembers.add(user);
  newRoomPicker.reset();
});
const memberPicker = new UserPicker(field("add-member-form", "user"), api);

/** The members a pick names, as the server takes them. */
function memberRefs(who: Pick): MemberRefs {
  if (!who) return {};
  if ("user" in who) return { ids: [who.user.id] };
  return "id" in who ? { ids: [who.id] } : { usernames: [who.username] };
}

/** A direct room's name, the same for both: who is in it (room names are at most 100 characters). */
function directName(me: User, who: NonNullable<Pick>): string {
  const them = "user" in who ? who.user.display_name : "username" in who ? `@${who.username}` : "someone";
  return Array.from(`${me.display_name} & ${them}`).slice(0, 100).join("");
}

const NO_ONE = "Type a name and pick the person from the list, or enter their username or user id.";

/** Everything that exists while a user is signed in. */
class SignedIn {
  readonly client: ChatClient;
  private readonly sidebar = new Sidebar((room) => void this.open(room));
  private readonly conversation: Conversation;
  /** Who is online in each followed room, from join replies and presence events. */
  private readonly online = new Map<Id, Set<Id>>();
  private readonly feed: RoomFeed;
  /** The names of rooms dropped since the list was last read, for a ban that is heard of after
   * the room went by another way (the member event of one's own removal). */
  private readonly gone = new Map<Id, string>();

  constructor(private readonly me: User) {
    users.remember(me);
    // The session renews the socket's token before it expires.
    this.client = new ChatClient({ session: api.session });
    this.conversation = new Conversation(
      api,
      users,
      me.id,
      { client: () => this.client, onError: showError },
      memberPicker,
    );
    // Reads the list each time the client becomes live: before it connects.
    this.feed = new RoomFeed(
      this.client,
      {
        list: (rooms) => this.showRooms(rooms),
        added: (room) => this.roomAdded(room),
        removed: (room, banned) => this.roomRemoved(room, banned),
        updated: (room) => this.roomUpdated(room),
        failed: (err) => showError(describe(err)),
      },
      () => api.rooms(),
    );
    this.listen();
    this.client.connect();
  }

  stop(): void {
    this.conversation.close();
    this.client.close();
  }

  /** Reads the room list again (the feed keeps it complete; this settles what it may have
   * missed, say while NATS was unreachable). */
  refreshRooms(): Promise<void> {
    return this.feed.sync();
  }

  async createRoom(name: string | undefined, type: RoomType, members: MemberRefs): Promise<void> {
    const room = await api.createRoom(name, type, members);
    // The feed's room_added may still be on its way.
    if (!this.sidebar.room(room.id)) await this.refreshRooms();
    await this.open(room.id);
  }

  /** Opens the direct room with `who`, made if it does not exist yet. */
  async message(who: NonNullable<Pick>): Promise<void> {
    await this.createRoom(directName(this.me, who), "direct", memberRefs(who));
  }

  async open(room: Id): Promise<void> {
    const summary = this.sidebar.room(room);
    if (!summary) return;
    this.sidebar.select(room);
    document.body.classList.add("room-open");
    byId("room").hidden = false;
    byId("no-room").hidden = true;
    await this.conversation.open(summary, this.online.get(room) ?? new Set());
  }

  closeRoom(): void {
    this.conversation.close();
    this.sidebar.select(null);
    document.body.classList.remove("room-open");
    byId("room").hidden = true;
    byId("no-room").hidden = false;
  }

  // ---- The room list ----

  private showRooms(rooms: RoomSummary[]): void {
    const listed = new Set(rooms.map((room) => room.id));
    const open = this.conversation.room;
    const openName = open ? this.sidebar.room(open)?.name : undefined;
    this.gone.clear();
    for (const id of this.sidebar.ids()) if (!listed.has(id)) this.unfollow(id);
    this.sidebar.show(rooms);
    for (const room of rooms) this.follow(room.id);
    if (open && !listed.has(open)) this.closeGone(open, openName);
    const summary = open ? this.sidebar.room(open) : undefined;
    if (summary) this.conversation.setRoom(summary);
  }

  private roomAdded(room: RoomSummary): void {
    this.gone.delete(room.id);
    this.sidebar.add(room);
    this.follow(room.id);
    if (room.id === this.conversation.room) this.conversation.setRoom(room);
  }

  private roomRemoved(room: Id, banned: boolean): void {
    const name = this.sidebar.remove(room)?.name ?? this.gone.get(room);
    this.unfollow(room);
    if (name !== undefined) this.gone.set(room, name);
    if (room === this.conversation.room) this.closeGone(room, name, banned);
    else if (banned) showError(`You were banned from ${name ?? "a room"}.`);
  }

  private roomUpdated(room: Room): void {
    const summary = this.sidebar.update(room);
    if (summary && room.id === this.conversation.room) this.conversation.setRoom(summary);
  }

  /** Joins a room for its live events and unread count, once. */
  private follow(room: Id): void {
    if (this.online.has(room)) return;
    this.online.set(room, new Set());
    // Failures while offline are fine: the client joins its rooms once live.
    this.client.join(room).catch(() => {});
  }

  private unfollow(room: Id): void {
    const name = this.sidebar.room(room)?.name;
    if (name !== undefined) this.gone.set(room, name);
    if (!this.online.delete(room)) return;
    void this.client.leave(room).catch(() => {});
  }

  /** Closes the open room the user is no longer in, saying why. */
  private closeGone(room: Id, name: string | undefined, banned = false): void {
    if (room !== this.conversation.room) return;
    this.closeRoom();
    const which = name ?? "this room";
    showError(banned ? `You were banned from ${which}.` : `You are no longer in ${which}.`);
  }

  private listen(): void {
    const client = this.client;
    client.addEventListener("state", (event) => showConnection(event.detail.state));
    client.addEventListener("joined", (event) => {
      const { room, online, messages, changes, resumed, recovered } = event.detail;
      this.online.set(room.id, new Set(online));
      if (room.id === this.conversation.room) {
        void this.conversation.joined(messages, changes ?? [], resumed, recovered, online);
      } else if (!resumed) {
        // A first join's page may hold messages sent since the list was read. A resumed
        // join's are not counted: each reconnection reads the list again, which counts them.
        this.sidebar.countJoined(room.id, messages, this.me.id);
      }
    });
    client.addEventListener("message", (event) => {
      const message = event.detail;
      if (message.room_id === this.conversation.room) this.conversation.live(message);
      else if (message.sender_id !== this.me.id) this.sidebar.addUnread(message.room_id, 1);
    });
    client.addEventListener("changed", (event) => {
      if (event.detail.room === this.conversation.room) this.conversation.changed(event.detail);
    });
    client.addEventListener("reaction", (event) => {
      if (event.detail.room === this.conversation.room) this.conversation.reaction(event.detail);
    });
    client.addEventListener("presence", (event) => {
      const { room, user_id, state } = event.detail;
      const online = this.online.get(room) ?? new Set();
      if (state === "online") online.add(user_id);
      else online.delete(user_id);
      this.online.set(room, online);
      if (room === this.conversation.room) this.conversation.presence(user_id, state);
    });
    client.addEventListener("typing", (event) => {
      if (event.detail.room === this.conversation.room) this.conversation.typing(event.detail.user_id);
    });
    client.addEventListener("read", (event) => {
      const { room, user_id, seq } = event.detail;
      // The user's own marker, moved on another device.
      if (user_id === this.me.id) this.sidebar.readElsewhere(room, seq, client.lastSeq(room));
      if (room === this.conversation.room) this.conversation.read(user_id, seq);
    });
    client.addEventListener("muted", (event) => {
      const { room, until } = event.detail;
      const summary = this.sidebar.setMuted(room, until ?? undefined);
      if (summary && room === this.conversation.room) this.conversation.setRoom(summary);
    });
    client.addEventListener("member", (event) => {
      const { room, user_id, change, role } = event.detail;
      if (user_id === this.me.id && change === "removed") {
        // The feed's room_removed says the same (and whether it was a ban); whichever is first.
        this.roomRemoved(room, false);
        return;
      }
      if (user_id === this.me.id && change === "role" && role) {
        // What the page offers (posting in announcement rooms, moderation) follows the role.
        const summary = this.sidebar.setRole(room, role);
        if (summary && room === this.conversation.room) this.conversation.setRoom(summary);
      }
      if (room === this.conversation.room) {
        void this.conversation.memberChanged();
      }
    });
    client.addEventListener("error", (event) => {
      if (event.detail.code === "session_expired") signOut("Your session has expired. Please sign in again.");
      else showError(describeBody(event.detail));
    });
  }
}

// ---- Views ----

function showConnection(state: ConnectionState): void {
  const indicator = byId("connection");
  indicator.dataset.state = state;
  indicator.textContent = STATE_LABELS[state];
}

let bannerTimer: ReturnType<typeof setTimeout> | null = null;

function showError(message: string): void {
  byId("banner-text").textContent = message;
  byId("banner").hidden = false;
  if (bannerTimer) clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => (byId("banner").hidden = true), 8_000);
}

function signedIn(user: User): void {
  byId("login-view").hidden = true;
  byId("chat-view").hidden = false;
  byId("logout").hidden = false;
  byId("me").textContent = user.display_name;
  byId("my-id").textContent = user.id;
  byId("my-username").textContent = `@${user.username}`;
  byId("room").hidden = true;
  byId("no-room").hidden = false;
  chat = new SignedIn(user);
}

function signOut(message?: string): void {
  chat?.stop();
  chat = null;
  document.body.classList.remove("room-open");
  byId("chat-view").hidden = true;
  byId("login-view").hidden = false;
  byId("logout").hidden = true;
  byId("me").textContent = "";
  showConnection("closed");
  if (message) showError(message);
}

// ---- Wiring ----

byId<HTMLFormElement>("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
  const field = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
  const username = field("username");
  const password = (form.elements.namedItem("password") as HTMLInputElement).value;
  if (username.length < 3 || password.length < 8) {
    showError("A username needs at least 3 characters and a password at least 8.");
    return;
  }
  try {
    const user =
      submitter?.value === "register"
        ? await api.register(username, password, field("display_name") || undefined)
        : await api.login(username, password);
    byId("banner").hidden = true;
    signedIn(user);
  } catch (err) {
    showError(describe(err));
  }
});

byId<HTMLFormElement>("new-room-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const name = (form.elements.namedItem("name") as HTMLInputElement).value.trim();
  const type = (form.elements.namedItem("type") as HTMLSelectElement).value as RoomType;
  if (!name || !chat) return;
  // Someone typed but not picked counts too, when what was typed names them.
  const typed = newRoomPicker.value;
  if (!typed && field("new-room-form", "member").value.trim()) {
    showError(NO_ONE);
    return;
  }
  const members = memberRefs(typed);
  members.ids = [...newRoomMembers.ids(), ...(members.ids ?? [])];
  try {
    await chat.createRoom(name, type, members);
    form.reset();
    newRoomPicker.reset();
    newRoomMembers.reset();
  } catch (err) {
    showError(describe(err));
  }
});

byId<HTMLFormElement>("direct-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const who = directPicker.value;
  if (!chat) return;
  if (!who) {
    showError(NO_ONE);
    return;
  }
  try {
    await chat.message(who);
    directPicker.reset();
  } catch (err) {
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

api.session.addEventListener("expired", () => signOut("Your session has expired. Please sign in again."));

const existing = api.user;
if (existing) signedIn(existing);
else signOut();
