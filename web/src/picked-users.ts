// The people picked for a new room, shown as chips that a button removes.

import type { Id, User } from "@chat-cluster/client";
import { clear, el } from "./dom.js";

export class PickedUsers {
  private users: User[] = [];

  constructor(private readonly list: HTMLUListElement) {}

  add(user: User): void {
    if (this.users.some((picked) => picked.id === user.id)) return;
    this.users.push(user);
    this.render();
  }

  ids(): Id[] {
    return this.users.map((user) => user.id);
  }

  reset(): void {
    this.users = [];
    this.render();
  }

  private render(): void {
    clear(this.list);
    for (const user of this.users) {
      const remove = el("button", {
        class: "icon small",
        text: "×",
        attrs: { type: "button", "aria-label": `Remove ${user.display_name}` },
        on: {
          click: () => {
            this.users = this.users.filter((picked) => picked.id !== user.id);
            this.render();
          },
        },
      });
      this.list.append(el("li", { attrs: { "data-user-id": user.id } }, `${user.display_name} (@${user.username})`, remove));
    }
  }
}
