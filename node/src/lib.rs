//! The connection node: REST and metrics on one port, over the use cases of `chat-shared` and
//! the adapters of `chat-adapters`. `main` is a thin wrapper around [`Application`].
//!
//! The modules point one way: the entry points (`cli`, `app`) over the edges (`http`, `ws`, and
//! `socketio`, which runs `ws`'s sessions), over what those share (`state`, `error`, `hub`,
//! `connections`, `logins`, `config`), over the use cases.

mod abuse_limits;
pub mod app;
pub mod cli;
pub mod config;
mod connections;
pub mod error;
mod feeds;
mod hot_metrics;
pub mod http;
mod hub;
mod logins;
mod message_events;
mod socketio;
mod state;
mod trusted_proxies;
mod unread;
mod webhooks;
mod ws;

pub use chat_adapters::telemetry;

pub use app::{Application, administer, migrate};
