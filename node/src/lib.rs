//! The connection node: REST and metrics on one port, over the use cases of `chat-shared` and
//! the adapters of `chat-adapters`. `main` is a thin wrapper around [`Application`].

pub mod app;
pub mod config;
mod http;
mod readiness;
pub mod telemetry;

pub use app::{Application, migrate};
