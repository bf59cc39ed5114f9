// The REST side of the contract the page uses, as the signed-in user of its session: the
// package's Session, kept in sessionStorage (so it ends with the tab).

import {
  type HistoryPage,
  type Id,
  type Participant,
  type Room,
  type RoomSummary,
  type RoomType,
  Session,
  type SessionStore,
  type Seq,
  type StoredSession,
  type User,
} from "@chat-cluster/client";

/** Members of a new room, by id and by username (the server merges them). */
export interface MemberRefs {
  ids?: Id[];
  usernames?: string[];
}

const STORAGE_KEY = "chat.session";

const tabStorage: SessionStore = {
  load(): StoredSession | null {
    try {
      const raw = sessionStorage.getItem(STORAGE_KEY);
      return raw ? (JSON.parse(raw) as StoredSession) : null;
    } catch {
      return null;
    }
  },
  save(session: StoredSession): void {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  },
  clear(): void {
    sessionStorage.removeItem(STORAGE_KEY);
  },
};

export class Api {
  /** Sign-in, tokens and their renewal; "expired" when the user has to sign in again. */
  readonly session = new Session({ store: tabStorage });

  get user(): User | null {
    return this.session.user;
  }

  register(username: string, password: string, displayName?: string): Promise<User> {
    return this.session.register(username, password, displayName);
  }

  login(username: string, password: string): Promise<User> {
    return this.session.login(username, password);
  }

  logout(): Promise<void> {
    return this.session.logout();
  }

  getUser(id: Id): Promise<User> {
    return this.call("GET", `/users/${encodeURIComponent(id)}`);
  }

  async rooms(): Promise<RoomSummary[]> {
    return (await this.call<{ rooms: RoomSummary[] }>("GET", "/rooms")).rooms;
  }

  /** Users whose username or display name starts with `query`, ordered by username. */
  async searchUsers(query: string, limit: number): Promise<User[]> {
    const params = new URLSearchParams({ query, limit: String(limit) });
    return (await this.call<{ users: User[] }>("GET", `/users?${params}`)).users;
  }

  /** A room with the members named by id or by username; `name` may be left out of a direct room. */
  createRoom(name: string | undefined, type: RoomType, members: MemberRefs = {}): Promise<Room> {
    return this.call("POST", "/rooms", {
      name,
      type,
      member_ids: members.ids ?? [],
      member_usernames: members.usernames ?? [],
    });
  }

  async members(room: Id): Promise<Participant[]> {
    return (await this.call<{ members: Participant[] }>("GET", `/rooms/${room}/members`)).members;
  }

  /** Adds someone named by id or by username. */
  addMember(room: Id, who: { user_id: Id } | { username: string }): Promise<Participant> {
    return this.call("POST", `/rooms/${room}/members`, who);
  }

  history(room: Id, query: { before?: Seq; after?: Seq; limit?: number }): Promise<HistoryPage> {
    return this.call("GET", `/rooms/${room}/messages?${queryString(query)}`);
  }

  /** A page of a message's direct replies, ascending by seq, from right above `after`. */
  thread(room: Id, message: Id, query: { after?: Seq; limit?: number }): Promise<HistoryPage> {
    return this.call("GET", `/rooms/${room}/messages/${message}/thread?${queryString(query)}`);
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.session.request<T>(method, path, body);
  }
}

/** A page query's parameters, those given only. */
function queryString(query: Record<string, number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  return params.toString();
}
