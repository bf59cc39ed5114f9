// src/replies.ts
import { byId, el } from "./dom.js";
function repliesText(count) {
  return count === 1 ? "1 reply" : `${count} replies`;
}
function quotedText(quote) {
  if (quote.deleted) return "Deleted message";
  return quote.content ?? "Message unavailable";
}
function quoteButton(quote, users, onClick) {
  return el(
    "button",
    {
      class: quote.deleted ? "quote deleted" : "quote",
      attrs: { type: "button", "data-parent-id": quote.id, title: "Show the message this replies to" },
      on: { click: onClick }
    },
    el("span", { class: "sr-only", text: "In reply to " }),
    users.nameNode(quote.sender_id),
    el("span", { class: "quoted", text: quotedText(quote) })
  );
}
function replyCountButton(count, onClick) {
  const text = repliesText(count);
  return el("button", {
    class: "link reply-count",
    text,
    attrs: { type: "button", "aria-label": `${text}, open the thread` },
    on: { click: onClick }
  });
}
var ReplyBar = class {
  constructor(users, input) {
    this.users = users;
    this.input = input;
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
  users;
  input;
  bar = byId("reply-bar");
  text = byId("reply-bar-text");
  /** The message the next send replies to. */
  target = null;
  show(message) {
    this.target = message;
    this.text.replaceChildren(
      "Replying to ",
      this.users.nameNode(message.sender_id),
      ": ",
      el("span", { class: "quoted", text: message.content })
    );
    this.bar.hidden = false;
    this.input.focus();
  }
  cancel() {
    this.target = null;
    this.bar.hidden = true;
    this.text.replaceChildren();
  }
};
export {
  ReplyBar,
  quoteButton,
  repliesText,
  replyCountButton
};
