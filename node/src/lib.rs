//! The connection node: REST and metrics on one port, over the use cases of `chat-shared` and
//! the adapters of `chat-adapters`. `main` is a thin wrapper around [`Application`].

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
mod readiness;
mod ws;

pub use chat_adapters::telemetry;

pub use app::{Application, migrate};
