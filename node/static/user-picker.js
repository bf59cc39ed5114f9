// src/user-picker.ts
import { clear, el } from "./dom.js";
var DEBOUNCE_MS = 200;
var SUGGESTIONS = 8;
var MAX_QUERY = 64;
var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
var USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
var pickers = 0;
var UserPicker = class {
  /** `onPick` runs when a suggestion is picked (by Enter or a click). */
  constructor(input, api, onPick = () => {
  }) {
    this.input = input;
    this.api = api;
    this.onPick = onPick;
    const id = `user-picker-${++pickers}`;
    this.list = el("ul", { class: "suggestions", attrs: { id: `${id}-list`, role: "listbox", "aria-label": "People" } });
    this.list.hidden = true;
    input.after(this.list);
    for (const [name, value] of Object.entries({
      role: "combobox",
      "aria-autocomplete": "list",
      "aria-expanded": "false",
      "aria-controls": this.list.id,
      autocomplete: "off",
      spellcheck: "false"
    })) {
      input.setAttribute(name, value);
    }
    input.addEventListener("input", () => this.typed());
    input.addEventListener("keydown", (event) => this.key(event));
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }
  input;
  api;
  onPick;
  list;
  suggestions = [];
  active = -1;
  picked = null;
  timer = null;
  /** Answers to searches older than the latest one are dropped. */
  searches = 0;
  /** The person named: picked, or typed as an id or a username. */
  get value() {
    if (this.picked) return { user: this.picked };
    const text = this.input.value.trim().replace(/^@/, "");
    if (UUID.test(text)) return { id: text };
    if (USERNAME.test(text)) return { username: text };
    return null;
  }
  reset() {
    this.input.value = "";
    this.picked = null;
    this.close();
  }
  typed() {
    this.picked = null;
    if (this.timer) clearTimeout(this.timer);
    const query = this.input.value.trimStart().replace(/^@/, "");
    if (!query || query.length > MAX_QUERY || UUID.test(query.trim())) {
      this.searches++;
      this.close();
      return;
    }
    this.timer = setTimeout(() => void this.search(query), DEBOUNCE_MS);
  }
  async search(query) {
    const search = ++this.searches;
    let users;
    try {
      users = await this.api.searchUsers(query, SUGGESTIONS);
    } catch {
      users = [];
    }
    if (search !== this.searches || document.activeElement !== this.input) return;
    this.show(users);
  }
  show(users) {
    this.suggestions = users;
    this.active = -1;
    clear(this.list);
    users.forEach((user, index) => {
      const option = el(
        "li",
        {
          class: "suggestion",
          attrs: {
            id: `${this.list.id}-${index}`,
            role: "option",
            "aria-selected": "false",
            "data-username": user.username
          },
          // mousedown, not click: it comes before the field's blur, and keeps the focus there.
          on: {
            mousedown: (event) => {
              event.preventDefault();
              this.pick(index);
            }
          }
        },
        el("span", { class: "suggestion-name", text: user.display_name }),
        el("span", { class: "suggestion-username", text: `@${user.username}` })
      );
      this.list.append(option);
    });
    if (users.length === 0) {
      this.list.append(el("li", { class: "hint", text: "No one by that name.", attrs: { role: "presentation" } }));
    }
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.input.removeAttribute("aria-activedescendant");
  }
  close() {
    this.list.hidden = true;
    this.suggestions = [];
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }
  key(event) {
    const open = !this.list.hidden;
    if (event.key === "Escape" && open) {
      event.preventDefault();
      event.stopPropagation();
      this.close();
    } else if ((event.key === "ArrowDown" || event.key === "ArrowUp") && this.suggestions.length > 0) {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      const count = this.suggestions.length;
      this.highlight(this.active < 0 && step < 0 ? count - 1 : (this.active + step + count) % count);
    } else if (event.key === "Enter" && open && this.active >= 0 && !event.isComposing) {
      event.preventDefault();
      this.pick(this.active);
    }
  }
  highlight(index) {
    this.active = index;
    for (const [i, option] of [...this.list.querySelectorAll("[role=option]")].entries()) {
      option.setAttribute("aria-selected", String(i === index));
      if (i === index) option.scrollIntoView({ block: "nearest" });
    }
    this.input.setAttribute("aria-activedescendant", `${this.list.id}-${index}`);
  }
  pick(index) {
    const user = this.suggestions[index];
    if (!user) return;
    this.picked = user;
    this.input.value = `${user.display_name} (@${user.username})`;
    this.close();
    this.onPick(user);
  }
};
export {
  UserPicker
};
