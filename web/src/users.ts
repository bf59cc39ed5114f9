// Display names by user id, fetched once each.

import type { Api } from "./api.js";
import type { Id, User } from "./chat-client.js";

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
