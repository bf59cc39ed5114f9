// The thread panel: one message and its direct replies, paged from the oldest and kept live by
// the open room, with a composer of its own whose messages reply to that message.

import type { Api } from "./api.js";
import type { Id, Message } from "@chat-cluster/client";
import { byId, clear, el, sendOnEnter } from "./dom.js";
import { contentRefusal, describe } from "./errors.js";
import { contentOf, markNotSent, metaLine, pendingRow } from "./message-parts.js";
import type { UserDirectory } from "./users.js";

/** Replies per page of a thread. */
const PAGE = 50;

export interface ThreadHooks {
  /** Sends `content` as a reply to `parent`, shown as pending in the room and, through
   * `pending`, here. */
  send: (content: string, parent: Message) => void;
  /** Replies a page of the thread holds, which count for their parent. */
  found: (parent: Id, replies: Message[]) => void;
  onError: (message: string) => void;
}

/** One message and its direct replies, paged forward from the oldest and kept live by the
 * room, with a composer whose messages reply to that message. */
export class ThreadPanel {
  private readonly panel = byId("thread");
  private readonly parentBox = byId("thread-parent");
  private readonly list = byId<HTMLOListElement>("thread-replies");
  private readonly more = byId<HTMLButtonElement>("thread-more");
  private readonly composer = byId<HTMLFormElement>("thread-composer");
  private readonly input = this.composer.elements.namedItem("content") as HTMLTextAreaElement;
  private readonly note = byId("thread-note");

  private room: Id | null = null;
  private parent: Message | null = null;
  /** Replies shown, ascending by seq, and their rows. */
  private replies: Message[] = [];
  private readonly rows = new Map<Id, HTMLLIElement>();
  /** Rows of replies sent from here but not yet acknowledged, by client_msg_id. */
  private readonly pendingRows = new Map<string, HTMLLIElement>();
  /** The highest seq the pages so far reached: the next page starts above it. */
  private pagedThrough = 0;
  private hasMore = false;
  private loading = false;
  /** The control that opened the panel, to give focus back to. */
  private opener: () => HTMLElement | null = () => null;
  /** Bumped on every open, so pages of a thread closed meanwhile are ignored. */
  private generation = 0;

  constructor(
    private readonly api: Api,
    private readonly users: UserDirectory,
    private readonly me: Id,
    private readonly hooks: ThreadHooks,
  ) {
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

  /** Why the user may not post in the room (the composer goes, saying so), or `null`. */
  setPosting(note: string | null): void {
    this.composer.hidden = note !== null;
    this.note.textContent = note ?? "";
    this.note.hidden = note === null;
  }

  /** The message whose thread is open, if any. */
  get parentId(): Id | null {
    return this.parent?.id ?? null;
  }

  async open(room: Id, parent: Message, opener: () => HTMLElement | null): Promise<void> {
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

  close(): void {
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
  show(message: Message): void {
    if (!this.parent || message.room_id !== this.room) return;
    if (message.id === this.parent.id) {
      this.parent = message;
      this.renderParent();
      return;
    }
    if (message.reply_to?.id !== this.parent.id) return;
    const pendingRow = message.client_msg_id ? this.pendingRows.get(message.client_msg_id) : undefined;
    if (pendingRow) {
      pendingRow.remove();
      this.pendingRows.delete(message.client_msg_id ?? "");
    }
    const at = this.replies.findIndex((shown) => shown.id === message.id);
    if (at >= 0) {
      // Only a newer state of its text redraws it (a page may answer after a live change).
      if ((message.changed_seq ?? 0) < (this.replies[at].changed_seq ?? 0)) return;
      this.replies[at] = message;
      const row = this.row(message);
      this.rows.get(message.id)?.replaceWith(row);
      this.rows.set(message.id, row);
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
  pending(clientMsgId: string, content: string): void {
    const row = pendingRow(clientMsgId, content);
    this.list.querySelector(".hint")?.remove();
    this.pendingRows.set(clientMsgId, row);
    this.list.append(row);
  }

  /** A reply sent from here that the server refused. */
  failed(clientMsgId: string): void {
    const row = this.pendingRows.get(clientMsgId);
    if (!row) return;
    this.pendingRows.delete(clientMsgId);
    markNotSent(row);
  }

  private async loadMore(generation = this.generation): Promise<void> {
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

  private submit(): void {
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

  private renderParent(): void {
    const parent = this.parent;
    if (!parent) return;
    this.parentBox.replaceChildren(
      el("div", { class: "message thread-parent-message" }, metaLine(parent, this.users), contentOf(parent)),
    );
  }

  private row(message: Message): HTMLLIElement {
    const classes = ["message"];
    if (message.sender_id === this.me) classes.push("mine");
    if (message.deleted) classes.push("deleted");
    return el(
      "li",
      { class: classes.join(" "), attrs: { "data-id": message.id, "data-seq": String(message.seq) } },
      metaLine(message, this.users),
      contentOf(message),
    );
  }
}
