//! Outbound adapters: each implements ports of `chat-shared` with one technology and translates
//! that technology's errors into the ports' error types.

pub mod argon2;
pub mod config;
pub mod jetstream;
pub mod jetstream_new_messages;
pub mod jwt;
pub mod nats;
pub mod postgres;
pub mod readiness;
pub mod redis;
pub mod redis_limits;
pub mod redis_logins;
mod rows;
pub mod runtime;
pub mod secret;
pub mod sqlite;
pub mod telemetry;
pub mod webhook_http;
