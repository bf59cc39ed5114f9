// src/message-parts.ts
import { el } from "./dom.js";
function metaLine(message, users) {
  const time = new Date(message.created_at);
  return el(
    "div",
    { class: "meta" },
    users.nameNode(message.sender_id),
    el("time", {
      text: time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      attrs: { datetime: message.created_at, title: time.toLocaleString() }
    }),
    !message.deleted && message.edited_at ? editedMark(message.edited_at) : null
  );
}
function contentOf(message) {
  return message.deleted ? el("p", { class: "content tombstone", text: "message deleted" }) : el("p", { class: "content", text: message.content });
}
function editedMark(editedAt) {
  const title = `edited ${new Date(editedAt).toLocaleString()}`;
  return el("span", { class: "edited", text: "(edited)", attrs: { title } });
}
function pendingRow(clientMsgId, content, quote = null) {
  return el(
    "li",
    { class: "message mine pending", attrs: { "data-client-msg-id": clientMsgId } },
    el("div", { class: "meta" }, el("span", { class: "name", text: "You" }), el("span", { class: "status", text: "sending…" })),
    quote,
    el("p", { class: "content", text: content })
  );
}
function markNotSent(row) {
  const status = row.querySelector(".status");
  if (status) status.textContent = "not sent";
  row.classList.add("failed");
}
export {
  contentOf,
  markNotSent,
  metaLine,
  pendingRow
};
