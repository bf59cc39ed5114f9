// A text field that suggests people from the user directory as a name is typed: an ARIA
// combobox whose list the arrow keys move through, Enter picks from and Escape closes. What was
// typed stays usable on its own (a username or a user id) when nothing is picked.

import type { Api } from "./api.js";
import type { User } from "@chat-cluster/client";
import { clear, el } from "./dom.js";

/** Wait this long after the last keystroke before asking, so typing a name costs one search. */
const DEBOUNCE_MS = 200;
const SUGGESTIONS = 8;
/** The directory's longest query. */
const MAX_QUERY = 64;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

/** Who a picker names: the user picked from the suggestions, or what was typed, read as a
 * user id or a username; null when it is neither. */
export type Pick = { user: User } | { id: string } | { username: string } | null;

let pickers = 0;

export class UserPicker {
  private readonly list: HTMLUListElement;
  private suggestions: User[] = [];
  private active = -1;
  private picked: User | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Answers to searches older than the latest one are dropped. */
  private searches = 0;

  /** `onPick` runs when a suggestion is picked (by Enter or a click). */
  constructor(
    private readonly input: HTMLInputElement,
    private readonly api: Api,
    private readonly onPick: (user: User) => void = () => {},
  ) {
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
      spellcheck: "false",
    })) {
      input.setAttribute(name, value);
    }
    input.addEventListener("input", () => this.typed());
    input.addEventListener("keydown", (event) => this.key(event));
    // A click on a suggestion lands after the field loses focus; closing waits for it.
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  /** The person named: picked, or typed as an id or a username. */
  get value(): Pick {
    if (this.picked) return { user: this.picked };
    const text = this.input.value.trim().replace(/^@/, "");
    if (UUID.test(text)) return { id: text };
    if (USERNAME.test(text)) return { username: text };
    return null;
  }

  reset(): void {
    this.input.value = "";
    this.picked = null;
    this.close();
  }

  private typed(): void {
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

  private async search(query: string): Promise<void> {
    const search = ++this.searches;
    let users: User[];
    try {
      users = await this.api.searchUsers(query, SUGGESTIONS);
    } catch {
      // Suggestions are a help, not a step: a refused search (typing fast past the rate limit,
      // a server restarting) leaves the field as it is.
      users = [];
    }
    if (search !== this.searches || document.activeElement !== this.input) return;
    this.show(users);
  }

  private show(users: User[]): void {
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
            "data-username": user.username,
          },
          // mousedown, not click: it comes before the field's blur, and keeps the focus there.
          on: {
            mousedown: (event) => {
              event.preventDefault();
              this.pick(index);
            },
          },
        },
        el("span", { class: "suggestion-name", text: user.display_name }),
        el("span", { class: "suggestion-username", text: `@${user.username}` }),
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

  private close(): void {
    this.list.hidden = true;
    this.suggestions = [];
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  private key(event: KeyboardEvent): void {
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
      // Enter on a highlighted suggestion picks it; otherwise it submits the form as usual.
      event.preventDefault();
      this.pick(this.active);
    }
  }

  private highlight(index: number): void {
    this.active = index;
    for (const [i, option] of [...this.list.querySelectorAll<HTMLLIElement>("[role=option]")].entries()) {
      option.setAttribute("aria-selected", String(i === index));
      if (i === index) option.scrollIntoView({ block: "nearest" });
    }
    this.input.setAttribute("aria-activedescendant", `${this.list.id}-${index}`);
  }

  private pick(index: number): void {
    const user = this.suggestions[index];
    if (!user) return;
    this.picked = user;
    this.input.value = `${user.display_name} (@${user.username})`;
    this.close();
    this.onPick(user);
  }
}
