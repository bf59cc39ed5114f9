//! The core of the chat cluster: what a user, a room and a message are, the ports the outside
//! world plugs into, the use cases that run over them, and the wire protocol.
//!
//! Nothing in here performs I/O; adapters live in `chat-adapters` (outbound) and in the node and
//! persister crates (inbound). The `memory` module holds in-process adapters, which are real
//! backends for the embedded mode and for use-case tests.

pub mod domain;
pub mod error;
pub mod memory;
pub mod ports;
pub mod protocol;
pub mod usecases;
