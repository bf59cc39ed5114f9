//! End-to-end tests: one binary, real services, a database per test.

mod abuse_limits;
mod auth;
mod bench_smoke;
mod connections;
mod contract;
mod edge;
mod embedded;
mod hostile;
mod message_changes;
mod messaging;
mod nats_outage;
mod operations;
mod ops;
mod persister;
mod presence;
mod processes;
mod redaction;
mod replicated_log;
mod replies;
mod revocation;
mod rooms;
mod sqlite;
mod store;
mod tls;
mod users;
mod ws_input;
