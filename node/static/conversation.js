// src/conversation.ts
import {
  ChatError,
  newClientMsgId
} from "./chat-client.js";
import { byId, clear, el, sendOnEnter } from "./dom.js";
import { MAX_CONTENT, contentRefusal, describe } from "./errors.js";
import { contentOf, markNotSent, metaLine, pendingRow } from "./message-parts.js";
import { merged, quoteOf, withReaction } from "./message-state.js";
import { ReplyBar, quoteButton, replyCountButton } from "./replies.js";
import { ThreadPanel } from "./thread.js";
var PAGE = 50;
var PAGING_MARGIN_PX = 120;
var TYPING_SHOWN_MS = 4e3;
var QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];
var HIGHLIGHT_MS = 2e3;
var MAX_TIMER_MS = 2 ** 31 - 1;
var ADMINS_ONLY = "Only the owner and admins post in this room";
var Conversation = class {
  constructor(api, users, me, hooks, memberPicker) {
    this.api = api;
    this.users = users;
    this.me = me;
    this.hooks = hooks;
    this.memberPicker = memberPicker;
    this.replyBar = new ReplyBar(users, this.input);
    this.thread = new ThreadPanel(api, users, me, {
      send: (content, parent) => this.send(content, parent),
      found: (parent, replies) => {
        for (const reply of replies) this.noteReply(reply);
        this.renderReplyCount(parent);
      },
      onError: hooks.onError
    });
    this.list.addEventListener("scroll", () => this.onScroll());
    sendOnEnter(this.composer, this.input, () => this.submit());
    this.input.addEventListener("input", () => {
      if (this.room && this.input.value.trim()) this.hooks.client()?.typing(this.room);
    });
    byId("add-member-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.addMember();
    });
    document.addEventListener("visibilitychange", () => this.markReadIfSeen());
    document.addEventListener("click", (event) => {
      if (this.menu && !this.menu.box.contains(event.target)) this.menu.close(false);
    });
  }
  api;
  users;
  me;
  hooks;
  memberPicker;
  list = byId("messages");
  membersList = byId("members");
  typingLine = byId("typing");
  composer = byId("composer");
  input = this.composer.elements.namedItem("content");
  sendButton = this.composer.querySelector("button");
  /** Why the user may not post here, when they may not; the composer points to it. */
  composerNote = byId("composer-note");
  room = null;
  /** The open room as the user's room list has it: name, topic, post policy, role, mute. */
  summary = null;
  /** Re-enables the composer when the user's mute ends. */
  muteTimer = null;
  /** Why the user may not post here now (what the composer's note says), or null. */
  postingNote = null;
  /** Messages shown, ascending by seq, and their rows. */
  messages = [];
  rows = /* @__PURE__ */ new Map();
  /** Rows of messages sent but not yet acknowledged, by client_msg_id. */
  pending = /* @__PURE__ */ new Map();
  /** Changes to messages not shown (yet): a page asked for before a change may answer after it. */
  unshownChanges = /* @__PURE__ */ new Map();
  /** Reactions to messages not shown (yet), counted by the `reactions_seq` rule once they are. */
  unshownReactions = /* @__PURE__ */ new Map();
  /** The user's reaction as last asked for, by message and emoji, until the server answers: a
   * second click toggles what was asked for, not what is shown. */
  wantedReactions = /* @__PURE__ */ new Map();
  /** The open "add a reaction" menu: its control, and how to close it. */
  menu = null;
  /** The ids of the replies to each message that this page has seen. The room's messages are
   * shown from some seq up to the newest, and a reply comes after its parent, so a shown
   * parent's replies are all here once delivered: its count is the larger of this and the
   * count it was read with, and a reply seen twice (live, then in a page) counts once. */
  replyIds = /* @__PURE__ */ new Map();
  replyBar;
  thread;
  hasMore = false;
  loadingOlder = false;
  members = [];
  online = /* @__PURE__ */ new Set();
  readMarks = /* @__PURE__ */ new Map();
  typists = /* @__PURE__ */ new Map();
  /** Bumped on every open, so answers for a room left meanwhile are ignored. */
  generation = 0;
  async open(summary, online) {
    const generation = ++this.generation;
    const room = summary.id;
    this.room = room;
    this.messages = [];
    this.rows.clear();
    this.pending.clear();
    this.unshownChanges.clear();
    this.unshownReactions.clear();
    this.wantedReactions.clear();
    this.menu = null;
    this.replyIds.clear();
    this.replyBar.cancel();
    this.thread.close();
    this.readMarks.clear();
    this.online = new Set(online);
    this.hasMore = false;
    clear(this.list);
    clear(this.membersList);
    this.typingLine.textContent = "";
    this.members = [];
    this.setRoom(summary);
    this.list.append(el("li", { class: "hint", text: "Loading…" }));
    try {
      const [page, members] = await Promise.all([this.api.history(room, { limit: PAGE }), this.api.members(room)]);
      if (generation !== this.generation) return;
      this.list.querySelector(".hint")?.remove();
      this.members = members;
      for (const member of members) this.readMarks.set(member.user_id, member.last_read_seq);
      this.hasMore = page.has_more;
      this.add(page.messages);
      this.renderMembers();
      this.renderPosting();
      this.renderAllActions();
      this.scrollToBottom();
      this.markReadIfSeen();
    } catch (err) {
      if (generation !== this.generation) return;
      clear(this.list);
      this.list.append(el("li", { class: "hint error", text: describe(err) }));
    }
  }
  close() {
    this.generation++;
    this.room = null;
    this.summary = null;
    this.stopMuteTimer();
    this.replyBar.cancel();
    this.thread.close();
  }
  /** Messages of a (re-)join: a replay to append with the changes and reactions missed, or, if
   * the server lost some, a fresh page. */
  async joined(messages, changes, resumed, recovered, online) {
    this.online = new Set(online);
    this.renderMembers();
    if (!recovered) {
      const page = await this.api.history(this.room ?? "", { limit: PAGE }).catch(() => null);
      if (!page) return;
      for (const row of this.rows.values()) row.remove();
      this.messages = [];
      this.rows.clear();
      this.replyIds.clear();
      this.hasMore = page.has_more;
      this.add(page.messages);
      this.scrollToBottom();
      return;
    }
    const atBottom = this.isAtBottom();
    this.add(messages);
    for (const change of changes) {
      if (change.type === "reaction") this.reaction(change);
      else this.changed(change);
    }
    if (atBottom || resumed) this.scrollToBottom();
    this.markReadIfSeen();
  }
  /** An edit or deletion: the message shown with that id takes the state it left. */
  changed(change) {
    if (change.room !== this.room) return;
    if (this.rows.has(change.message.id)) this.replace(change.message, change.seq);
    else {
      this.unshownChanges.set(change.message.id, change);
      this.thread.show(change.message);
    }
  }
  /** A reaction added or removed: counted on the message shown, unless its count includes it. */
  reaction(frame) {
    if (frame.room !== this.room) return;
    const at = this.messages.findIndex((shown) => shown.id === frame.message_id);
    if (at < 0) {
      const held = this.unshownReactions.get(frame.message_id);
      if (held) held.push(frame);
      else this.unshownReactions.set(frame.message_id, [frame]);
      return;
    }
    const message = withReaction(this.messages[at], frame, this.me);
    if (message === this.messages[at]) return;
    this.messages[at] = message;
    this.renderReactions(message);
  }
  live(message) {
    const atBottom = this.isAtBottom();
    this.add([message]);
    this.stopTyping(message.sender_id);
    if (atBottom || message.sender_id === this.me) this.scrollToBottom();
    this.markReadIfSeen();
  }
  presence(user, state) {
    if (state === "online") this.online.add(user);
    else this.online.delete(user);
    this.renderMembers();
  }
  typing(user) {
    const previous = this.typists.get(user);
    if (previous) clearTimeout(previous);
    this.typists.set(
      user,
      setTimeout(() => this.stopTyping(user), TYPING_SHOWN_MS)
    );
    this.renderTyping();
  }
  read(user, seq) {
    this.readMarks.set(user, Math.max(seq, this.readMarks.get(user) ?? 0));
    this.renderSeen();
  }
  async memberChanged() {
    if (!this.room) return;
    const room = this.room;
    const members = await this.api.members(room).catch(() => null);
    if (!members || room !== this.room) return;
    this.members = members;
    this.renderMembers();
    this.renderPosting();
    this.renderAllActions();
  }
  /** The open room's entry changed (renamed, a new topic or post policy, the user muted or
   * unmuted): the header and the composer follow. */
  setRoom(summary) {
    if (summary.id !== this.room) return;
    this.summary = summary;
    byId("room-name").textContent = summary.name;
    const topic = byId("room-topic");
    topic.textContent = summary.topic ?? "";
    topic.hidden = !summary.topic;
    this.renderPosting();
  }
  // ---- Who may post ----
  /** The composer as the room's rules and the user's mute allow: hidden with the reason in an
   * announcement room the user may not post in; disabled, saying until when, while muted. */
  renderPosting() {
    this.stopMuteTimer();
    const summary = this.summary;
    const role = this.members.find((member) => member.user_id === this.me)?.role ?? summary?.role;
    const until = summary?.muted_until ? new Date(summary.muted_until) : null;
    const mutedFor = until ? until.getTime() - Date.now() : 0;
    let note = null;
    if (summary?.post_policy === "admins" && role === "member") {
      note = ADMINS_ONLY;
    } else if (until && mutedFor > 0) {
      note = `You are muted in this room until ${clockTime(until)}`;
      this.muteTimer = setTimeout(() => this.renderPosting(), Math.min(mutedFor + 250, MAX_TIMER_MS));
    }
    const offersChanged = note !== this.postingNote;
    this.postingNote = note;
    const hidden = note === ADMINS_ONLY;
    this.composer.hidden = hidden;
    this.input.disabled = note !== null;
    this.sendButton.disabled = note !== null;
    this.composerNote.textContent = note ?? "";
    this.composerNote.hidden = note === null;
    if (note) this.input.setAttribute("aria-describedby", "composer-note");
    else this.input.removeAttribute("aria-describedby");
    this.thread.setPosting(note);
    if (note) this.replyBar.cancel();
    if (offersChanged) this.renderAllActions();
  }
  stopMuteTimer() {
    if (this.muteTimer) clearTimeout(this.muteTimer);
    this.muteTimer = null;
  }
  /** Called when the page comes back into view or the list is scrolled to the end. */
  markReadIfSeen() {
    const newest = this.messages.at(-1);
    if (!this.room || !newest || document.visibilityState !== "visible" || !this.isAtBottom()) return;
    this.hooks.client()?.markRead(this.room, newest.seq).catch(() => {
    });
  }
  // ---- Messages ----
  /** Merges messages in seq order; one already shown (by id) is only brought up to date. */
  add(messages) {
    for (const given of messages) {
      if (given.room_id !== this.room) continue;
      if (this.rows.has(given.id)) {
        this.replace(given, given.changed_seq ?? 0);
        continue;
      }
      const message = this.withUnshown(given);
      const row = this.row(message);
      const pendingRow2 = message.client_msg_id ? this.pending.get(message.client_msg_id) : void 0;
      if (pendingRow2) {
        pendingRow2.remove();
        this.pending.delete(message.client_msg_id ?? "");
      }
      let at = this.messages.length;
      while (at > 0 && this.messages[at - 1].seq > message.seq) at--;
      const before = at < this.messages.length ? this.rows.get(this.messages[at].id) : null;
      this.messages.splice(at, 0, message);
      this.rows.set(message.id, row);
      if (before) this.list.insertBefore(row, before);
      else this.list.insertBefore(row, this.list.querySelector("li.pending"));
      if (message.reply_to && this.noteReply(message)) this.renderReplyCount(message.reply_to.id);
      this.thread.show(message);
    }
    this.renderSeen();
  }
  /** Remembers a reply as one of its parent's; whether it was new. */
  noteReply(message) {
    const parent = message.reply_to?.id;
    if (!parent) return false;
    let ids = this.replyIds.get(parent);
    if (!ids) {
      ids = /* @__PURE__ */ new Set();
      this.replyIds.set(parent, ids);
    }
    if (ids.has(message.id)) return false;
    ids.add(message.id);
    return true;
  }
  /** How many replies a shown message has, as far as this page knows. */
  replyCount(message) {
    return Math.max(message.reply_count ?? 0, this.replyIds.get(message.id)?.size ?? 0);
  }
  /** The message with what happened to it while it was not shown: the newest change, if newer
   * than its text, and the reactions its counts do not include. */
  withUnshown(given) {
    const change = this.unshownChanges.get(given.id);
    this.unshownChanges.delete(given.id);
    let message = change ? merged(given, change.message, change.seq) : given;
    for (const frame of this.unshownReactions.get(given.id) ?? []) message = withReaction(message, frame, this.me);
    this.unshownReactions.delete(given.id);
    return message;
  }
  /**
   * Shows a message's newer state: its text if it is that of a change with a seq above the
   * shown one's `changed_seq`, its reactions if they count entries past the shown ones. A state
   * the shown one already includes changes nothing.
   */
  replace(given, seq) {
    const at = this.messages.findIndex((shown) => shown.id === given.id);
    if (at < 0) return;
    const held = this.messages[at];
    const message = merged(held, given, seq);
    this.messages[at] = message;
    if (seq > (held.changed_seq ?? 0)) {
      this.redraw(message.id);
      this.requote(message);
    } else {
      if (message.reactions_seq !== held.reactions_seq) this.renderReactions(message);
      if (message.reply_count !== held.reply_count) this.renderReplyCount(message.id);
    }
    this.thread.show(message);
  }
  /** The quotes of a changed message's shown replies, brought up to its new text. */
  requote(parent) {
    this.messages.forEach((reply, at) => {
      if (reply.reply_to?.id !== parent.id) return;
      const quote = quoteOf(parent);
      const quoted = { ...reply, reply_to: quote };
      this.messages[at] = quoted;
      this.rows.get(reply.id)?.querySelector(".quote")?.replaceWith(this.quote(quote));
    });
  }
  /** Draws a shown message's row again from its latest state (closing an editor or question). */
  redraw(id) {
    const message = this.shown(id);
    const oldRow = this.rows.get(id);
    if (!message || !oldRow) return;
    const row = this.row(message);
    this.rows.set(id, row);
    oldRow.replaceWith(row);
    this.renderSeen();
  }
  row(message) {
    const classes = ["message"];
    if (message.sender_id === this.me) classes.push("mine");
    if (message.deleted) classes.push("deleted");
    return el(
      "li",
      {
        class: classes.join(" "),
        attrs: { "data-seq": String(message.seq), "data-id": message.id }
      },
      metaLine(message, this.users),
      message.reply_to ? this.quote(message.reply_to) : null,
      contentOf(message),
      el(
        "div",
        { class: "footer" },
        message.deleted ? null : this.reactionBar(message),
        this.replyCountControl(message),
        this.actions(message)
      ),
      el("div", { class: "seen" })
    );
  }
  // ---- Replies and threads ----
  /** The quote above a reply; choosing it shows its parent. */
  quote(quote) {
    return quoteButton(quote, this.users, () => this.jumpTo(quote.id));
  }
  /** Scrolls to a shown message and highlights it for a moment. */
  jumpTo(id) {
    const row = this.rows.get(id);
    if (!row) {
      this.hooks.onError("That message is further up: scroll up to load it.");
      return;
    }
    row.scrollIntoView({ block: "center", behavior: "smooth" });
    row.classList.remove("highlight");
    void row.offsetWidth;
    row.classList.add("highlight");
    setTimeout(() => row.classList.remove("highlight"), HIGHLIGHT_MS);
  }
  /** "N replies" under a message that has any, which opens its thread. */
  replyCountControl(message) {
    const count = this.replyCount(message);
    if (count === 0) return null;
    return replyCountButton(count, () => {
      if (!this.room) return;
      const control = () => this.rows.get(message.id)?.querySelector(".reply-count") ?? null;
      void this.thread.open(this.room, this.shown(message.id) ?? message, control);
    });
  }
  /** Brings a shown message's "N replies" up to date. */
  renderReplyCount(id) {
    const message = this.shown(id);
    const footer = this.rows.get(id)?.querySelector(".footer");
    if (!message || !footer) return;
    const old = footer.querySelector(".reply-count");
    const control = this.replyCountControl(message);
    const focused = old?.contains(document.activeElement) ?? false;
    if (old && control) old.replaceWith(control);
    else if (control) footer.insertBefore(control, footer.querySelector(".actions"));
    if (focused) control?.focus();
  }
  // ---- Editing and deleting ----
  /** Whether the user is the room's owner or an admin, who may delete anyone's message. */
  isModerator() {
    const role = this.members.find((member) => member.user_id === this.me)?.role;
    return role === "owner" || role === "admin";
  }
  /** The buttons a message offers the user: Reply on any, Edit on their own (both only while
   * they may post here), Delete on their own and, for a moderator, on anyone's; none on a
   * tombstone. */
  actions(message) {
    const box = el("div", { class: "actions" });
    if (message.deleted) return box;
    const mine = message.sender_id === this.me;
    const mayPost = this.postingNote === null;
    if (mayPost) box.append(actionButton("Reply", "reply", () => this.replyBar.show(message), "Reply to this message"));
    if (mine && mayPost) box.append(actionButton("Edit", "edit", () => this.startEdit(message)));
    if (mine || this.isModerator()) box.append(actionButton("Delete", "delete", () => this.askDelete(message, box)));
    return box;
  }
  /** Offers the actions anew, after the user's role may have changed. */
  renderAllActions() {
    for (const message of this.messages) {
      this.rows.get(message.id)?.querySelector(".actions")?.replaceWith(this.actions(message));
    }
  }
  /** Puts a textarea in place of the text: Enter saves, Shift+Enter is a new line, Escape cancels. */
  startEdit(message) {
    const row = this.rows.get(message.id);
    const content = row?.querySelector(".content");
    if (!row || !content || row.querySelector(".editor")) return;
    const editor = el("textarea", {
      class: "editor",
      attrs: { rows: "2", maxlength: String(MAX_CONTENT), "aria-label": "Edit message" }
    });
    editor.value = message.content;
    const cancel = () => this.redraw(message.id);
    editor.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        cancel();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.saveEdit(message, editor, cancel);
      }
    });
    content.replaceWith(editor);
    row.querySelector(".actions")?.replaceChildren(
      el("span", { class: "hint", text: "Enter to save, Escape to cancel" })
    );
    editor.focus();
    editor.setSelectionRange(editor.value.length, editor.value.length);
  }
  async saveEdit(message, editor, cancel) {
    const content = editor.value.trim();
    const client = this.hooks.client();
    if (!this.room || !client) return;
    if (content === message.content) {
      cancel();
      return;
    }
    if (!content) {
      this.hooks.onError("A message cannot be empty; delete it instead.");
      return;
    }
    const refusal = contentRefusal(content);
    if (refusal) {
      this.hooks.onError(refusal);
      return;
    }
    const room = this.room;
    editor.disabled = true;
    try {
      const edited = await client.edit(room, message.id, content, { clientChangeId: newClientMsgId() });
      if (room === this.room) this.replace(edited, edited.changed_seq ?? 0);
    } catch (err) {
      editor.disabled = false;
      this.hooks.onError(describe(err));
    }
  }
  /** Asks inline ("Delete? Yes / No"), not with a dialog. */
  askDelete(message, box) {
    const restore = () => this.redraw(message.id);
    const confirm = () => {
      box.replaceChildren(el("span", { class: "hint", text: "deleting…" }));
      void this.remove(message, restore);
    };
    box.replaceChildren(
      el("span", { class: "confirm", text: "Delete?" }),
      actionButton("Yes", "confirm-delete danger", confirm),
      actionButton("No", "cancel-delete", restore)
    );
  }
  async remove(message, restore) {
    const client = this.hooks.client();
    if (!this.room || !client) return;
    const room = this.room;
    try {
      const tombstone = await client.delete(room, message.id, { clientChangeId: newClientMsgId() });
      if (room === this.room) this.replace(tombstone, tombstone.changed_seq ?? 0);
    } catch (err) {
      if (room === this.room) restore();
      this.hooks.onError(describe(err));
    }
  }
  // ---- Reactions ----
  /** The reactions under a message, each a toggle, and the control to add one. */
  reactionBar(message) {
    const chips = el("div", { class: "chips" });
    this.renderChips(chips, message);
    const box = el("div", { class: "add-reaction" });
    const add = el("button", {
      class: "add-reaction",
      text: "🙂+",
      attrs: { type: "button", "aria-label": "Add a reaction", title: "Add a reaction", "aria-expanded": "false" }
    });
    add.addEventListener("click", () => {
      if (this.menu?.box === box) this.menu.close(false);
      else this.openMenu(message.id, box, add);
    });
    box.append(add);
    return el("div", { class: "reactions", attrs: { role: "group", "aria-label": "Reactions" } }, chips, box);
  }
  /** Brings a shown row's chips up to date, in place, so a chip keeps focus while counts move. */
  renderReactions(message) {
    const chips = this.rows.get(message.id)?.querySelector(".reactions .chips");
    if (chips) this.renderChips(chips, message);
  }
  renderChips(chips, message) {
    const old = /* @__PURE__ */ new Map();
    for (const chip of chips.querySelectorAll("button.reaction")) old.set(chip.dataset.emoji ?? "", chip);
    const reactions = message.deleted ? [] : message.reactions ?? [];
    reactions.forEach((reaction, at) => {
      const chip = old.get(reaction.emoji) ?? this.chip(message.id, reaction.emoji);
      old.delete(reaction.emoji);
      showCount(chip, reaction);
      if (chips.children[at] !== chip) chips.insertBefore(chip, chips.children[at] ?? null);
    });
    for (const chip of old.values()) {
      const focused = chip.contains(document.activeElement);
      chip.remove();
      if (focused) chips.parentElement?.querySelector("button.add-reaction")?.focus();
    }
  }
  chip(id, emoji) {
    return el(
      "button",
      {
        class: "reaction",
        attrs: { type: "button", "data-emoji": emoji },
        on: { click: () => void this.toggleReaction(id, emoji) }
      },
      el("span", { class: "emoji", text: emoji }),
      el("span", { class: "count" })
    );
  }
  /** Shows the quick reactions next to the control; Escape or a click elsewhere closes them. */
  openMenu(id, box, add) {
    this.menu?.close(false);
    const menu = el("div", { class: "reaction-menu", attrs: { role: "group", "aria-label": "Choose a reaction" } });
    const close = (refocus) => {
      menu.remove();
      add.setAttribute("aria-expanded", "false");
      if (this.menu?.box === box) this.menu = null;
      if (refocus) add.focus();
    };
    const mine = new Set((this.shown(id)?.reactions ?? []).filter((r) => r.me).map((r) => r.emoji));
    for (const emoji of QUICK_REACTIONS) {
      const pressed = this.wantedReactions.get(reactionKey(id, emoji)) ?? mine.has(emoji);
      menu.append(
        el("button", {
          class: "quick-reaction",
          text: emoji,
          attrs: { type: "button", "data-emoji": emoji, "aria-pressed": String(pressed), title: `React with ${emoji}` },
          on: {
            click: () => {
              close(true);
              void this.toggleReaction(id, emoji);
            }
          }
        })
      );
    }
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close(true);
      }
    });
    box.append(menu);
    add.setAttribute("aria-expanded", "true");
    this.menu = { box, close };
    menu.querySelector("button")?.focus();
  }
  /** Adds the user's reaction with this emoji, or removes it if they have it. */
  async toggleReaction(id, emoji) {
    const client = this.hooks.client();
    const room = this.room;
    const message = this.shown(id);
    if (!client || !room || !message || message.deleted) return;
    const key = reactionKey(id, emoji);
    const had = this.wantedReactions.get(key) ?? message.reactions?.some((r) => r.emoji === emoji && r.me) ?? false;
    this.wantedReactions.set(key, !had);
    try {
      const reacted = await (had ? client.unreact(room, id, emoji) : client.react(room, id, emoji));
      if (room === this.room) this.replace(reacted, reacted.changed_seq ?? 0);
    } catch (err) {
      const full = err instanceof ChatError && err.code === "conflict";
      this.hooks.onError(full ? "This message already has 50 different reactions, the most it can hold." : describe(err));
    } finally {
      if (this.wantedReactions.get(key) === !had) this.wantedReactions.delete(key);
    }
  }
  /** The message shown with this id, in its latest state. */
  shown(id) {
    return this.messages.find((message) => message.id === id);
  }
  submit() {
    const content = this.input.value.trim();
    if (!content || !this.room || !this.hooks.client()) return;
    const refusal = contentRefusal(content);
    if (refusal) {
      this.hooks.onError(refusal);
      return;
    }
    this.input.value = "";
    const parent = this.replyBar.target;
    this.replyBar.cancel();
    this.send(content, parent);
  }
  /** Sends a message, a reply to `parent` when given, showing it as "sending…" until it is
   * acknowledged (in the open thread too, when it replies to its message). */
  send(content, parent) {
    const client = this.hooks.client();
    if (!this.room || !client) return;
    const room = this.room;
    const clientMsgId = newClientMsgId();
    const row = pendingRow(clientMsgId, content, parent ? this.quote(quoteOf(parent)) : null);
    this.pending.set(clientMsgId, row);
    this.list.append(row);
    this.scrollToBottom();
    if (parent && this.thread.parentId === parent.id) this.thread.pending(clientMsgId, content);
    client.send(room, content, { clientMsgId, replyTo: parent?.id }).then(
      (message) => {
        if (room === this.room) this.live(message);
      },
      (err) => {
        markNotSent(row);
        this.pending.delete(clientMsgId);
        this.thread.failed(clientMsgId);
        this.hooks.onError(describe(err));
      }
    );
  }
  async loadOlder() {
    const room = this.room;
    const oldest = this.messages[0];
    if (!room || !oldest || !this.hasMore || this.loadingOlder) return;
    this.loadingOlder = true;
    try {
      const page = await this.api.history(room, { before: oldest.seq, limit: PAGE });
      if (room !== this.room) return;
      const fromBottom = this.list.scrollHeight - this.list.scrollTop;
      this.hasMore = page.has_more;
      this.add(page.messages);
      this.list.scrollTop = this.list.scrollHeight - fromBottom;
    } catch (err) {
      this.hooks.onError(describe(err));
    } finally {
      this.loadingOlder = false;
    }
  }
  onScroll() {
    if (this.list.scrollTop < PAGING_MARGIN_PX) void this.loadOlder();
    this.markReadIfSeen();
  }
  isAtBottom() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
  }
  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }
  // ---- Members, presence, typing, read markers ----
  renderMembers() {
    clear(this.membersList);
    const ids = /* @__PURE__ */ new Set([...this.members.map((m) => m.user_id), ...this.online]);
    for (const id of ids) {
      const online = this.online.has(id) || id === this.me;
      this.membersList.append(
        el(
          "li",
          {
            class: online ? "member online" : "member",
            attrs: { "data-user-id": id, title: online ? "online" : "offline" }
          },
          el("span", { class: "dot", attrs: { "aria-label": online ? "online" : "offline" } }),
          this.users.nameNode(id)
        )
      );
    }
  }
  renderTyping() {
    const names = [...this.typists.keys()].filter((id) => id !== this.me);
    clear(this.typingLine);
    if (names.length === 0) return;
    for (const [i, id] of names.entries()) {
      if (i > 0) this.typingLine.append(", ");
      this.typingLine.append(this.users.nameNode(id));
    }
    this.typingLine.append(names.length === 1 ? " is typing…" : " are typing…");
  }
  stopTyping(user) {
    const timer = this.typists.get(user);
    if (timer === void 0) return;
    clearTimeout(timer);
    this.typists.delete(user);
    this.renderTyping();
  }
  /** "Seen by" under the newest message each other member has read. */
  renderSeen() {
    const byMessage = /* @__PURE__ */ new Map();
    for (const [user, seq] of this.readMarks) {
      if (user === this.me) continue;
      let newest;
      for (let i = this.messages.length - 1; i >= 0; i--) {
        if (this.messages[i].seq <= seq) {
          newest = this.messages[i];
          break;
        }
      }
      if (newest) byMessage.set(newest.id, [...byMessage.get(newest.id) ?? [], user]);
    }
    for (const [id, row] of this.rows) {
      const seen = row.querySelector(".seen");
      if (!seen) continue;
      clear(seen);
      const readers = byMessage.get(id);
      if (!readers) continue;
      seen.append("Seen by ");
      for (const [i, user] of readers.entries()) {
        if (i > 0) seen.append(", ");
        seen.append(this.users.nameNode(user));
      }
    }
  }
  async addMember() {
    const who = this.memberPicker.value;
    if (!this.room) return;
    if (!who) {
      this.hooks.onError("Type a name and pick the person from the list, or enter their username or user id.");
      return;
    }
    try {
      const ref = "user" in who ? { user_id: who.user.id } : "id" in who ? { user_id: who.id } : { username: who.username };
      await this.api.addMember(this.room, ref);
      this.memberPicker.reset();
      await this.memberChanged();
    } catch (err) {
      const unknown = err instanceof ChatError && err.code === "not_found";
      this.hooks.onError(unknown ? "No one has that username or user id." : describe(err));
    }
  }
};
function clockTime(at) {
  const time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  if (at.toDateString() === (/* @__PURE__ */ new Date()).toDateString()) return time;
  return `${at.toLocaleDateString([], { day: "numeric", month: "short" })}, ${time}`;
}
function reactionKey(id, emoji) {
  return `${id} ${emoji}`;
}
function showCount(chip, reaction) {
  const count = chip.querySelector(".count");
  if (count) count.textContent = String(reaction.count);
  const noun = reaction.count === 1 ? "reaction" : "reactions";
  const whose = reaction.me ? reaction.count === 1 ? ", yours" : ", including yours" : "";
  const label = `${reaction.emoji} ${reaction.count} ${noun}${whose}`;
  chip.setAttribute("aria-pressed", String(reaction.me));
  chip.setAttribute("aria-label", label);
  chip.title = label;
}
function actionButton(text, classes, onClick, label) {
  const attrs = { type: "button" };
  if (label) attrs["aria-label"] = label;
  return el("button", { class: `link ${classes}`, text, attrs, on: { click: onClick } });
}
export {
  Conversation
};
