// Turns errors into sentences a person can act on.

import { ChatError } from "@chat-cluster/client";

const BY_CODE: Record<string, string> = {
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
  disconnected: "Not connected; it will be retried when the connection is back.",
};

/** Refusals of one field that a person can understand without the field's name. */
const BY_FIELD: Record<string, string> = {
  reply_to: "The message you replied to has been deleted, so your reply was not sent.",
  member_usernames: "No one has that username.",
};

export function describe(error: unknown): string {
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

/** A message's content at most, in characters, as the contract limits it. */
export const MAX_CONTENT = 4000;

/** Why `content` cannot be sent, checked before asking the server; null when it can. */
export function contentRefusal(content: string): string | null {
  return content.length > MAX_CONTENT ? `A message can be at most ${MAX_CONTENT} characters.` : null;
}

/** The sentence for a server error body (frames carry bodies, not exceptions). */
export function describeBody(body: { code: string; message: string; fields?: Record<string, string> }): string {
  return describe(new ChatError(body.code, body.message, body.fields));
}
