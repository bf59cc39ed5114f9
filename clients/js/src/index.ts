// @chat-cluster/client: the contract's types, the socket client and the sign-in session.

export * from "./client.js";
export * from "./errors.js";
export * from "./session.js";
export * from "./wire.js";
