// Signing in over REST, and the login session it starts: the access token refreshed shortly
// before it expires and after a 401, and authenticated calls of the other REST routes.

import { ChatError, SessionExpired } from "./errors.js";
import type { AuthTokens, ErrorAnswer, LoginRequest, RefreshTokenRequest, RegisterRequest, User } from "./wire.js";

/** What a session keeps, and a `SessionStore` holds between page loads. */
export interface StoredSession {
  user: User;
  accessToken: string;
  refreshToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  lifetimeMs: number;
}

/** Where a session survives a reload (a page's `sessionStorage`, say); by default nowhere. */
export interface SessionStore {
  load(): StoredSession | null;
  save(session: StoredSession): void;
  clear(): void;
}

export interface SessionOptions {
  /** The server, `https://chat.example`; default "", this page's own origin (browsers only). */
  baseUrl?: string;
  store?: SessionStore;
}

export interface SessionEventMap {
  /** The access token was refreshed: sockets should take it (a `ChatClient` made with this
   * session does so by itself). */
  renewed: CustomEvent<{ token: string }>;
  /** The session ended by expiry or revocation: sign in again. */
  expired: CustomEvent<null>;
}

/** Refresh this long before the access token expires, so a slow network never lets it lapse;
 * a quarter of the lifetime when that is shorter, so short-lived tokens are not renewed
 * continuously. Plus a second: the token's `exp` is in whole seconds, rounded down, so it may
 * end up to a second before `expires_in` says. */
function refreshMargin(session: StoredSession): number {
  return Math.min(60_000, session.lifetimeMs / 4 + 1_000);
}

export class Session extends EventTarget {
  readonly baseUrl: string;
  private readonly store: SessionStore | undefined;
  private session: StoredSession | null;
  private refreshing: Promise<string> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: SessionOptions = {}) {
    super();
    this.baseUrl = options.baseUrl ?? "";
    this.store = options.store;
    this.session = this.store?.load() ?? null;
    this.scheduleRefresh();
  }

  /** The signed-in user, or null. */
  get user(): User | null {
    return this.session?.user ?? null;
  }

  async register(username: string, password: string, displayName?: string): Promise<User> {
    const body: RegisterRequest = { username, password };
    if (displayName) body.display_name = displayName;
    return this.start(await this.call<AuthTokens>("POST", "/auth/register", body, false));
  }

  async login(username: string, password: string): Promise<User> {
    const body: LoginRequest = { username, password };
    return this.start(await this.call<AuthTokens>("POST", "/auth/login", body, false));
  }

  /** Ends the login on the server (every token of it) and here. */
  async logout(): Promise<void> {
    const refreshToken = this.session?.refreshToken;
    this.end();
    if (refreshToken) {
      const body: RefreshTokenRequest = { refresh_token: refreshToken };
      await this.call("POST", "/auth/logout", body, false).catch(() => {});
    }
  }

  /** A valid access token, refreshed first when it is about to expire (or `force`). */
  async accessToken(force = false): Promise<string> {
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
  refresh(): Promise<string> {
    this.refreshing ??= (async () => {
      const session = this.session;
      if (!session) throw new SessionExpired();
      const body: RefreshTokenRequest = { refresh_token: session.refreshToken };
      const response = await this.fetch("POST", "/auth/refresh", body, null);
      if (response.status === 401) {
        this.expire();
        throw new SessionExpired();
      }
      if (!response.ok) throw new ChatError("unavailable", "could not renew the session; retrying");
      const answer = (await response.json()) as AuthTokens;
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
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.call<T>(method, path, body, true);
  }

  addEventListener<K extends keyof SessionEventMap>(
    type: K,
    listener: (event: SessionEventMap[K]) => void,
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

  private async call<T>(method: string, path: string, body: unknown, authenticated: boolean): Promise<T> {
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
      const error = (parsed as Partial<ErrorAnswer> | null)?.error;
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
      return await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ChatError("network", "the server cannot be reached; check your connection");
    }
  }

  private start(answer: AuthTokens): User {
    this.session = {
      user: answer.user,
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token,
      expiresAt: Date.now() + answer.expires_in * 1000,
      lifetimeMs: answer.expires_in * 1000,
    };
    this.store?.save(this.session);
    this.scheduleRefresh();
    return answer.user;
  }

  private scheduleRefresh(): void {
    this.clearTimer();
    if (!this.session) return;
    const due = Math.max(1_000, this.session.expiresAt - Date.now() - refreshMargin(this.session));
    this.setTimer(() => {
      this.refresh().catch(() => {
        // A failure that is not an expiry (network) is retried shortly.
        if (this.session) this.setTimer(() => this.scheduleRefresh(), 5_000);
      });
    }, due);
  }

  private setTimer(run: () => void, delayMs: number): void {
    const timer = setTimeout(run, delayMs);
    // In Node, renewal alone does not keep a process running that has nothing else to do (a
    // connected socket does).
    (timer as unknown as { unref?: () => void }).unref?.();
    this.refreshTimer = timer;
  }

  private clearTimer(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  private expire(): void {
    const had = this.session !== null;
    this.end();
    if (had) this.emit("expired", null);
  }

  private end(): void {
    this.session = null;
    this.store?.clear();
    this.clearTimer();
  }

  private emit(type: keyof SessionEventMap, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
