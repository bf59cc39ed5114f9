//! SQLite adapters (sqlx): the storage of the embedded mode, one database file in its data
//! folder, with the same semantics as the PostgreSQL adapters. Migrations live in
//! `migrations/sqlite/` (the PostgreSQL migrator reads only the files of `migrations/` itself).

mod api_keys;
mod audit;
mod changes;
mod db;
mod errors;
mod log;
mod messages;
mod new_messages;
mod reactions;
mod replies;
mod rooms;
mod tokens;
mod users;
mod webhooks;

pub use api_keys::SqliteApiKeyStore;
pub use audit::SqliteAuditLog;
pub use db::{MIGRATOR, SqliteDb, SqliteProbe};
pub use log::SqliteMessageLog;
pub use messages::SqliteMessageStore;
pub use new_messages::SqliteNewMessages;
pub use rooms::SqliteRoomStore;
pub use tokens::SqliteRefreshTokenStore;
pub use users::SqliteUserStore;
pub use webhooks::SqliteWebhookStore;
