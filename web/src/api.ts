// The REST side of the contract, and the login session: tokens kept in sessionStorage (so they
// end with the tab), the access token refreshed shortly before it expires and after a 401.

import {
  ChatError,
  type HistoryPage,
  type Id,
  type Message,
  type Participant,
  type Room,
  type RoomSummary,
  type RoomType,
  type Seq,
  type User,
} from "./chat-client.js";

interface AuthAnswer {
  user: User;
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

interface StoredSession {
  user: User;
  accessToken: string;
  refreshToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  lifetimeMs: number;
}

/** Members of a new room, by id and by username (the server merges them). */
export interface MemberRefs {
  ids?: Id[];
  usernames?: string[];
}

const STORAGE_KEY = "chat.session";
/** Refresh this long before the access token expires, so a slow network never lets it lapse;
 * a quarter of the lifetime when that is shorter, so short-lived tokens are not renewed
 * continuously. */
function refreshMargin(session: StoredSession): number {
  return Math.min(60_000, session.lifetimeMs / 4);
}

/** Raised when the session cannot be renewed: the user has to sign in again. */
export class SessionExpired extends ChatError {
  constructor() {
    super("session_expired", "your session has expired; sign in again");
  }
}

export class Api {
  private session: StoredSession | null = load();
  private refreshing: Promise<string> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  /** Called with each new access token (to renew the WebSocket's). */
  onTokenRenewed: (token: string) => void = () => {};
  /** Called once when the session ends by expiry or revocation. */
  onSessionExpired: () => void = () => {};

  constructor(private readonly base = "") {
    this.scheduleRefresh();
  }

  get user(): User | null {
    return this.session?.user ?? null;
  }

  async register(username: string, password: string, displayName?: string): Promise<User> {
    const body: Record<string, string> = { username, password };
    if (displayName) body.display_name = displayName;
    return this.start(await this.call<AuthAnswer>("POST", "/auth/register", body, false));
  }

  async login(username: string, password: string): Promise<User> {
    return this.start(await this.call<AuthAnswer>("POST", "/auth/login", { username, password }, false));
  }

  async logout(): Promise<void> {
    const refreshToken = this.session?.refreshToken;
    this.end();
    if (refreshToken) {
      await this.call("POST", "/auth/logout", { refresh_token: refreshToken }, false).catch(() => {});
    }
  }

  /** A valid access token, refreshed first when it is about to expire (or `force`). */
  async accessToken(force = false): Promise<string> {
    const session = this.session;
    if (!session) throw new SessionExpired();
    if (!force && session.expiresAt - Date.now() > refreshMargin(session)) return session.accessToken;
    return this.refresh();
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

  send(room: Id, content: string, clientMsgId: string): Promise<Message> {
    return this.call("POST", `/rooms/${room}/messages`, { content, client_msg_id: clientMsgId });
  }

  private async call<T>(method: string, path: string, body?: unknown, authenticated = true): Promise<T> {
    let response = await this.fetch(method, path, body, authenticated ? await this.accessToken() : null);
    if (response.status === 401 && authenticated) {
      // The token may have been revoked or the clock skewed: one refresh, one retry.
      response = await this.fetch(method, path, body, await this.accessToken(true));
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // A proxy's HTML error page: reported by status below.
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string; fields?: Record<string, string> } })?.error;
      if (response.status === 401 && authenticated) {
        this.expire();
        throw new SessionExpired();
      }
      const retryAfter = response.headers.get("retry-after");
      const message = error?.message ?? `the server answered ${response.status}`;
      throw new ChatError(
        error?.code ?? `http_${response.status}`,
        retryAfter ? `${message} (retry in ${retryAfter} s)` : message,
        error?.fields,
      );
    }
    return parsed as T;
  }

  private async fetch(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ChatError("network", "the server cannot be reached; check your connection");
    }
  }

  private refresh(): Promise<string> {
    // One refresh at a time: a refresh token works once, and a second use revokes the login.
    this.refreshing ??= (async () => {
      const session = this.session;
      if (!session) throw new SessionExpired();
      const response = await this.fetch("POST", "/auth/refresh", { refresh_token: session.refreshToken }, null);
      if (response.status === 401) {
        this.expire();
        throw new SessionExpired();
      }
      if (!response.ok) throw new ChatError("unavailable", "could not renew the session; retrying");
      const answer = (await response.json()) as AuthAnswer;
      this.start(answer);
      this.onTokenRenewed(answer.access_token);
      return answer.access_token;
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private start(answer: AuthAnswer): User {
    this.session = {
      user: answer.user,
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token,
      expiresAt: Date.now() + answer.expires_in * 1000,
      lifetimeMs: answer.expires_in * 1000,
    };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.session));
    this.scheduleRefresh();
    return answer.user;
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    if (!this.session) return;
    const due = Math.max(1_000, this.session.expiresAt - Date.now() - refreshMargin(this.session));
    this.refreshTimer = setTimeout(() => {
      this.refresh().catch(() => {
        // A failure that is not an expiry (network) is retried shortly.
        if (this.session) {
          this.refreshTimer = setTimeout(() => this.scheduleRefresh(), 5_000);
        }
      });
    }, due);
  }

  private expire(): void {
    const had = this.session !== null;
    this.end();
    if (had) this.onSessionExpired();
  }

  private end(): void {
    this.session = null;
    sessionStorage.removeItem(STORAGE_KEY);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }
}

function load(): StoredSession | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as StoredSession) : null;
  } catch {
    return null;
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
