// src/picked-users.ts
import { clear, el } from "./dom.js";
var PickedUsers = class {
  constructor(list) {
    this.list = list;
  }
  list;
  users = [];
  add(user) {
    if (this.users.some((picked) => picked.id === user.id)) return;
    this.users.push(user);
    this.render();
  }
  ids() {
    return this.users.map((user) => user.id);
  }
  reset() {
    this.users = [];
    this.render();
  }
  render() {
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
          }
        }
      });
      this.list.append(el("li", { attrs: { "data-user-id": user.id } }, `${user.display_name} (@${user.username})`, remove));
    }
  }
};
export {
  PickedUsers
};
