// The one error type of the client: a refusal with the contract's code, or a failure of its own.

/**
 * A failed request: the server's error `code` (`forbidden`, `invalid_input`, ...), with
 * `fields` naming what `invalid_input` refused; or one of the client's own codes:
 * `disconnected`, `timeout`, `closed` (socket), `network` (REST), `session_expired` (sign in
 * again), `http_<status>` (an answer without a contract error body).
 */
export class ChatError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = "ChatError";
  }
}

/** Raised when the session cannot be renewed: the user has to sign in again. */
export class SessionExpired extends ChatError {
  constructor() {
    super("session_expired", "your session has expired; sign in again");
  }
}
