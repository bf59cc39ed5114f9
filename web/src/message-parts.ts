// The parts of a message's row that the room and the thread panel show alike.

import type { Message } from "@chat-cluster/client";
import { el } from "./dom.js";
import type { UserDirectory } from "./users.js";

/** The author's name, the time, and "(edited)" on an edited message that stands. */
export function metaLine(message: Message, users: UserDirectory): HTMLDivElement {
  const time = new Date(message.created_at);
  return el(
    "div",
    { class: "meta" },
    users.nameNode(message.sender_id),
    el("time", {
      text: time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      attrs: { datetime: message.created_at, title: time.toLocaleString() },
    }),
    !message.deleted && message.edited_at ? editedMark(message.edited_at) : null,
  );
}

/** The text, or "message deleted" on a tombstone. */
export function contentOf(message: Message): HTMLParagraphElement {
  return message.deleted
    ? el("p", { class: "content tombstone", text: "message deleted" })
    : el("p", { class: "content", text: message.content });
}

function editedMark(editedAt: string): HTMLSpanElement {
  const title = `edited ${new Date(editedAt).toLocaleString()}`;
  return el("span", { class: "edited", text: "(edited)", attrs: { title } });
}

/** A message sent from here, shown as "sending…" until it is acknowledged; `quote` above its
 * text when it replies. */
export function pendingRow(clientMsgId: string, content: string, quote: HTMLElement | null = null): HTMLLIElement {
  return el(
    "li",
    { class: "message mine pending", attrs: { "data-client-msg-id": clientMsgId } },
    el("div", { class: "meta" }, el("span", { class: "name", text: "You" }), el("span", { class: "status", text: "sending…" })),
    quote,
    el("p", { class: "content", text: content }),
  );
}

/** Marks a pending row as refused by the server. */
export function markNotSent(row: HTMLLIElement): void {
  const status = row.querySelector(".status");
  if (status) status.textContent = "not sent";
  row.classList.add("failed");
}
