// The page: signs in, keeps one ChatClient connected, follows every room of the user (for live
// unread counts), and shows the open one.

import { Api, type MemberRefs } from "./api.js";
import { ChatClient, type ConnectionState, type Id, type RoomType, type User } from "./chat-client.js";
import { Conversation } from "./conversation.js";
import { byId } from "./dom.js";
import { describe, describeBody } from "./errors.js";
import { PickedUsers } from "./picked-users.js";
import { Sidebar } from "./sidebar.js";
import { type Pick, UserPicker } from "./user-picker.js";
import { UserDirectory } from "./users.js";

/** New rooms the user was added to are found by asking again; the server does not push them. */
const ROOM_LIST_POLL_MS = 15_000;

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
  private readonly poll: ReturnType<typeof setInterval>;

  constructor(private readonly me: User) {
    users.remember(me);
    this.client = new ChatClient({ token: (expired) => api.accessToken(expired) });
    this.conversation = new Conversation(
      api,
      users,
      me.id,
      { client: () => this.client, onError: showError },
      memberPicker,
    );
    api.onTokenRenewed = (token) => void this.client.renewToken(token).catch(() => {});
    this.listen();
    this.client.connect();
    void this.refreshRooms();
    this.poll = setInterval(() => void this.refreshRooms(), ROOM_LIST_POLL_MS);
  }

  stop(): void {
    clearInterval(this.poll);
    this.conversation.close();
    this.client.close();
  }

  async refreshRooms(): Promise<void> {
    try {
      const rooms = await api.rooms();
      this.sidebar.show(rooms);
      for (const room of rooms) {
        if (!this.online.has(room.id)) {
          this.online.set(room.id, new Set());
          // Failures while offline are fine: the client joins its rooms once live.
          this.client.join(room.id).catch(() => {});
        }
      }
    } catch (err) {
      showError(describe(err));
    }
  }

  async createRoom(name: string | undefined, type: RoomType, members: MemberRefs): Promise<void> {
    const room = await api.createRoom(name, type, members);
    await this.refreshRooms();
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
    await this.conversation.open(room, summary.name, this.online.get(room) ?? new Set());
  }

  closeRoom(): void {
    this.conversation.close();
    this.sidebar.select(null);
    document.body.classList.remove("room-open");
    byId("room").hidden = true;
    byId("no-room").hidden = false;
  }

  private listen(): void {
    const client = this.client;
    client.addEventListener("state", (event) => showConnection(event.detail.state));
    client.addEventListener("joined", (event) => {
      const { room, online, messages, changes, resumed, recovered } = event.detail;
      this.online.set(room.id, new Set(online));
      if (room.id === this.conversation.room) {
        void this.conversation.joined(messages, changes ?? [], resumed, recovered, online);
      } else if (resumed) {
        this.sidebar.addUnread(room.id, messages.filter((m) => m.sender_id !== this.me.id).length);
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
      if (event.detail.room === this.conversation.room) this.conversation.read(event.detail.user_id, event.detail.seq);
    });
    client.addEventListener("member", (event) => {
      const { room, user_id, change } = event.detail;
      if (user_id === this.me.id && change === "removed") {
        if (room === this.conversation.room) this.closeRoom();
        this.online.delete(room);
        void client.leave(room).catch(() => {});
        void this.refreshRooms();
      } else if (room === this.conversation.room) {
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
window.addEventListener("focus", () => void chat?.refreshRooms());

api.onSessionExpired = () => signOut("Your session has expired. Please sign in again.");

const existing = api.user;
if (existing) signedIn(existing);
else signOut();
