// What a reply shows and how one is written: the quote of its parent, a parent's reply count,
// and the "Replying to" bar above a composer.

import type { Message, ReplyQuote } from "@chat-cluster/client";
import { byId, el } from "./dom.js";
import type { UserDirectory } from "./users.js";

/** "1 reply", "2 replies". */
export function repliesText(count: number): string {
  return count === 1 ? "1 reply" : `${count} replies`;
}

/** What a quote says of its parent's text. */
function quotedText(quote: ReplyQuote): string {
  if (quote.deleted) return "Deleted message";
  // Only damaged data leaves a parent unreadable.
  return quote.content ?? "Message unavailable";
}

/** The quote above a reply: its parent's author and the start of its text; choosing it shows
 * the parent. */
export function quoteButton(quote: ReplyQuote, users: UserDirectory, onClick: () => void): HTMLButtonElement {
  return el(
    "button",
    {
      class: quote.deleted ? "quote deleted" : "quote",
      attrs: { type: "button", "data-parent-id": quote.id, title: "Show the message this replies to" },
      on: { click: onClick },
    },
    el("span", { class: "sr-only", text: "In reply to " }),
    users.nameNode(quote.sender_id),
    el("span", { class: "quoted", text: quotedText(quote) }),
  );
}

/** "N replies" under a parent, which opens its thread. */
export function replyCountButton(count: number, onClick: () => void): HTMLButtonElement {
  const text = repliesText(count);
  return el("button", {
    class: "link reply-count",
    text,
    attrs: { type: "button", "aria-label": `${text}, open the thread` },
    on: { click: onClick },
  });
}

/** The bar above a composer while it writes a reply: whom it answers, and × (or Escape) to
 * write a plain message again. */
export class ReplyBar {
  private readonly bar = byId("reply-bar");
  private readonly text = byId("reply-bar-text");
  /** The message the next send replies to. */
  target: Message | null = null;

  constructor(
    private readonly users: UserDirectory,
    private readonly input: HTMLTextAreaElement,
  ) {
    byId("reply-cancel").addEventListener("click", () => {
      this.cancel();
      this.input.focus();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.target) {
        event.preventDefault();
        this.cancel();
      }
    });
  }

  show(message: Message): void {
    this.target = message;
    this.text.replaceChildren(
      "Replying to ",
      this.users.nameNode(message.sender_id),
      ": ",
      el("span", { class: "quoted", text: message.content }),
    );
    this.bar.hidden = false;
    this.input.focus();
  }

  cancel(): void {
    this.target = null;
    this.bar.hidden = true;
    this.text.replaceChildren();
  }
}
