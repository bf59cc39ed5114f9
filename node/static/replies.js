// What a reply shows and how one is written: the quote of its parent, a parent's reply count,
// and the "Replying to" bar above a composer.
import { byId, el } from "./dom.js";
/** "1 reply", "2 replies". */
export function repliesText(count) {
    return count === 1 ? "1 reply" : `${count} replies`;
}
/** What a quote says of its parent's text. */
function quotedText(quote) {
    if (quote.deleted)
        return "Deleted message";
    // Only damaged data leaves a parent unreadable.
    return quote.content ?? "Message unavailable";
}
/** The quote above a reply: its parent's author and the start of its text; choosing it shows
 * the parent. */
export function quoteButton(quote, users, onClick) {
    return el("button", {
        class: quote.deleted ? "quote deleted" : "quote",
        attrs: { type: "button", "data-parent-id": quote.id, title: "Show the message this replies to" },
        on: { click: onClick },
    }, el("span", { class: "sr-only", text: "In reply to " }), users.nameNode(quote.sender_id), el("span", { class: "quoted", text: quotedText(quote) }));
}
/** "N replies" under a parent, which opens its thread. */
export function replyCountButton(count, onClick) {
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
    users;
    input;
    bar = byId("reply-bar");
    text = byId("reply-bar-text");
    /** The message the next send replies to. */
    target = null;
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
    show(message) {
        this.target = message;
        this.text.replaceChildren("Replying to ", this.users.nameNode(message.sender_id), ": ", el("span", { class: "quoted", text: message.content }));
        this.bar.hidden = false;
        this.input.focus();
    }
    cancel() {
        this.target = null;
        this.bar.hidden = true;
        this.text.replaceChildren();
    }
}
