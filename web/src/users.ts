// Display names by user id, fetched once each.

import type { Api } from "./api.js";
import type { Id, User } from "@chat-cluster/client";

/** The sender of system messages, which no account has (docs/API.md, server-to-server API). */
const SYSTEM_SENDER: Id = "00000000-0000-0000-0000-000000000000";

export class UserDirectory {
  private readonly users = new Map<Id, Promise<User | null>>();

  constructor(private readonly api: Api) {}

  remember(user: User): void {
    this.users.set(user.id, Promise.resolve(user));
  }

  get(id: Id): Promise<User | null> {
    let user = this.users.get(id);
    if (!user) {
      user = this.api.getUser(id).catch(() => null);
      this.users.set(id, user);
    }
    return user;
  }

  /** A span showing the user's display name once known (a short id until then). */
  nameNode(id: Id, className = "name"): HTMLSpanElement {
    const span = document.createElement("span");
    span.className = className;
    if (id === SYSTEM_SENDER) {
      span.textContent = "System";
      span.classList.add("system");
      return span;
    }
    span.textContent = id.slice(0, 8);
    void this.get(id).then((user) => {
      if (user) {
        span.textContent = user.display_name;
        span.title = `@${user.username}`;
      }
    });
    return span;
  }
}
