// src/thread.ts
import { byId, clear, el, sendOnEnter } from "./dom.js";
import { contentRefusal, describe } from "./errors.js";
import { contentOf, markNotSent, metaLine, pendingRow } from "./message-parts.js";
var PAGE = 50;
var ThreadPanel = class {
  constructor(api, users, me, hooks) {
    this.api = api;
    this.users = users;
    this.me = me;
    this.hooks = hooks;
    byId("thread-close").addEventListener("click", () => this.close());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented) {
        event.preventDefault();
        this.close();
      }
    });
    this.more.addEventListener("click", () => void this.loadMore());
    sendOnEnter(this.composer, this.input, () => this.submit());
  }
  api;
  users;
  me;
  hooks;
  panel = byId("thread");
  parentBox = byId("thread-parent");
  list = byId("thread-replies");
  more = byId("thread-more");
  composer = byId("thread-composer");
  input = this.composer.elements.namedItem("content");
  note = byId("thread-note");
  room = null;
  parent = null;
  /** Replies shown, ascending by seq, and their rows. */
  replies = [];
  rows = /* @__PURE__ */ new Map();
  /** Rows of replies sent from here but not yet acknowledged, by client_msg_id. */
  pendingRows = /* @__PURE__ */ new Map();
  /** The highest seq the pages so far reached: the next page starts above it. */
  pagedThrough = 0;
  hasMore = false;
  loading = false;
  /** The control that opened the panel, to give focus back to. */
  opener = () => null;
  /** Bumped on every open, so pages of a thread closed meanwhile are ignored. */
  generation = 0;
  /** Why the user may not post in the room (the composer goes, saying so), or `null`. */
  setPosting(note) {
    this.composer.hidden = note !== null;
    this.note.textContent = note ?? "";
    this.note.hidden = note === null;
  }
  /** The message whose thread is open, if any. */
  get parentId() {
    return this.parent?.id ?? null;
  }
  async open(room, parent, opener) {
    const generation = ++this.generation;
    this.room = room;
    this.parent = parent;
    this.opener = opener;
    this.replies = [];
    this.rows.clear();
    this.pendingRows.clear();
    this.pagedThrough = 0;
    this.hasMore = false;
    this.more.hidden = true;
    this.renderParent();
    clear(this.list);
    this.list.append(el("li", { class: "hint", text: "Loading…" }));
    this.panel.hidden = false;
    this.input.focus();
    await this.loadMore(generation);
  }
  close() {
    if (!this.parent) return;
    this.generation++;
    this.room = null;
    this.parent = null;
    this.panel.hidden = true;
    this.input.value = "";
    this.opener()?.focus();
    this.opener = () => null;
  }
  /** A message of the room in its latest state: shown here if it is the parent or one of its
   * replies, once each, in seq order. */
  show(message) {
    if (!this.parent || message.room_id !== this.room) return;
    if (message.id === this.parent.id) {
      this.parent = message;
      this.renderParent();
      return;
    }
    if (message.reply_to?.id !== this.parent.id) return;
    const pendingRow2 = message.client_msg_id ? this.pendingRows.get(message.client_msg_id) : void 0;
    if (pendingRow2) {
      pendingRow2.remove();
      this.pendingRows.delete(message.client_msg_id ?? "");
    }
    const at = this.replies.findIndex((shown) => shown.id === message.id);
    if (at >= 0) {
      if ((message.changed_seq ?? 0) < (this.replies[at].changed_seq ?? 0)) return;
      this.replies[at] = message;
      const row2 = this.row(message);
      this.rows.get(message.id)?.replaceWith(row2);
      this.rows.set(message.id, row2);
      return;
    }
    this.list.querySelector(".hint")?.remove();
    let index = this.replies.length;
    while (index > 0 && this.replies[index - 1].seq > message.seq) index--;
    const before = index < this.replies.length ? this.rows.get(this.replies[index].id) : null;
    const row = this.row(message);
    this.replies.splice(index, 0, message);
    this.rows.set(message.id, row);
    this.list.insertBefore(row, before ?? this.list.querySelector("li.pending"));
  }
  /** A reply sent from here, shown as "sending…" until it is acknowledged. */
  pending(clientMsgId, content) {
    const row = pendingRow(clientMsgId, content);
    this.list.querySelector(".hint")?.remove();
    this.pendingRows.set(clientMsgId, row);
    this.list.append(row);
  }
  /** A reply sent from here that the server refused. */
  failed(clientMsgId) {
    const row = this.pendingRows.get(clientMsgId);
    if (!row) return;
    this.pendingRows.delete(clientMsgId);
    markNotSent(row);
  }
  async loadMore(generation = this.generation) {
    const room = this.room;
    const parent = this.parent;
    if (!room || !parent || this.loading) return;
    this.loading = true;
    this.more.disabled = true;
    try {
      const page = await this.api.thread(room, parent.id, { after: this.pagedThrough, limit: PAGE });
      if (generation !== this.generation) return;
      this.list.querySelector(".hint")?.remove();
      this.hasMore = page.has_more;
      for (const reply of page.messages) {
        this.pagedThrough = Math.max(this.pagedThrough, reply.seq);
        this.show(reply);
      }
      this.hooks.found(parent.id, page.messages);
      if (this.replies.length === 0 && this.pendingRows.size === 0) {
        this.list.append(el("li", { class: "hint", text: "No replies yet." }));
      }
    } catch (err) {
      if (generation !== this.generation) return;
      this.hooks.onError(describe(err));
    } finally {
      this.loading = false;
      this.more.disabled = false;
      if (generation === this.generation) this.more.hidden = !this.hasMore;
    }
  }
  submit() {
    const content = this.input.value.trim();
    if (!content || !this.parent) return;
    const refusal = contentRefusal(content);
    if (refusal) {
      this.hooks.onError(refusal);
      return;
    }
    this.input.value = "";
    this.hooks.send(content, this.parent);
  }
  renderParent() {
    const parent = this.parent;
    if (!parent) return;
    this.parentBox.replaceChildren(
      el("div", { class: "message thread-parent-message" }, metaLine(parent, this.users), contentOf(parent))
    );
  }
  row(message) {
    const classes = ["message"];
    if (message.sender_id === this.me) classes.push("mine");
    if (message.deleted) classes.push("deleted");
    return el(
      "li",
      { class: classes.join(" "), attrs: { "data-id": message.id, "data-seq": String(message.seq) } },
      metaLine(message, this.users),
      contentOf(message)
    );
  }
};
export {
  ThreadPanel
};
