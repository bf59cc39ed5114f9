// src/api.ts
import {
  Session
} from "./chat-client.js";
var STORAGE_KEY = "chat.session";
var tabStorage = {
  load() {
    try {
      const raw = sessionStorage.getItem(STORAGE_KEY);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  },
  save(session) {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  },
  clear() {
    sessionStorage.removeItem(STORAGE_KEY);
  }
};
var Api = class {
  /** Sign-in, tokens and their renewal; "expired" when the user has to sign in again. */
  session = new Session({ store: tabStorage });
  get user() {
    return this.session.user;
  }
  register(username, password, displayName) {
    return this.session.register(username, password, displayName);
  }
  login(username, password) {
    return this.session.login(username, password);
  }
  logout() {
    return this.session.logout();
  }
  getUser(id) {
    return this.call("GET", `/users/${encodeURIComponent(id)}`);
  }
  async rooms() {
    return (await this.call("GET", "/rooms")).rooms;
  }
  /** Users whose username or display name starts with `query`, ordered by username. */
  async searchUsers(query, limit) {
    const params = new URLSearchParams({ query, limit: String(limit) });
    return (await this.call("GET", `/users?${params}`)).users;
  }
  /** A room with the members named by id or by username; `name` may be left out of a direct room. */
  createRoom(name, type, members = {}) {
    return this.call("POST", "/rooms", {
      name,
      type,
      member_ids: members.ids ?? [],
      member_usernames: members.usernames ?? []
    });
  }
  async members(room) {
    return (await this.call("GET", `/rooms/${room}/members`)).members;
  }
  /** Adds someone named by id or by username. */
  addMember(room, who) {
    return this.call("POST", `/rooms/${room}/members`, who);
  }
  history(room, query) {
    return this.call("GET", `/rooms/${room}/messages?${queryString(query)}`);
  }
  /** A page of a message's direct replies, ascending by seq, from right above `after`. */
  thread(room, message, query) {
    return this.call("GET", `/rooms/${room}/messages/${message}/thread?${queryString(query)}`);
  }
  call(method, path, body) {
    return this.session.request(method, path, body);
  }
};
function queryString(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== void 0) params.set(key, String(value));
  }
  return params.toString();
}
export {
  Api
};
