// src/errors.ts
import { ChatError } from "./chat-client.js";
var BY_CODE = {
  rate_limited: "Too many attempts. Wait a moment and try again.",
  forbidden: "You are not a member of this room (or not allowed to do that).",
  not_found: "That does not exist (any more).",
  unauthorized: "Wrong username or password.",
  session_expired: "Your session has expired. Please sign in again.",
  conflict: "That username is already taken.",
  payload_too_large: "That is too long.",
  unavailable: "The server is busy or restarting. Try again in a moment.",
  network: "The server cannot be reached. Check your connection.",
  timeout: "The server did not answer in time. Try again.",
  disconnected: "Not connected; it will be retried when the connection is back."
};
var BY_FIELD = {
  reply_to: "The message you replied to has been deleted, so your reply was not sent.",
  member_usernames: "No one has that username."
};
function describe(error) {
  if (error instanceof ChatError) {
    if (error.code === "invalid_input") {
      const known = Object.keys(error.fields ?? {}).find((name) => name in BY_FIELD);
      if (known) return BY_FIELD[known];
      const fields = Object.entries(error.fields ?? {}).map(([name, why]) => `${name.replace(/_/g, " ")} ${why}`);
      return fields.length ? `Please check: ${fields.join("; ")}.` : `Invalid input: ${error.message}.`;
    }
    return BY_CODE[error.code] ?? error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
var MAX_CONTENT = 4e3;
function contentRefusal(content) {
  return content.length > MAX_CONTENT ? `A message can be at most ${MAX_CONTENT} characters.` : null;
}
function describeBody(body) {
  return describe(new ChatError(body.code, body.message, body.fields));
}
export {
  MAX_CONTENT,
  contentRefusal,
  describe,
  describeBody
};
