//! Outbound adapters: each implements ports of `chat-shared` with one technology and translates
//! that technology's errors into the ports' error types.

pub mod argon2;
pub mod jwt;
pub mod postgres;
