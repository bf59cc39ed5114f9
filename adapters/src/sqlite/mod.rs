//! SQLite adapters (sqlx): the storage of the embedded mode, one database file in its data
//! folder, with the same semantics as the PostgreSQL adapters. Migrations live in
//! `migrations/sqlite/` (the PostgreSQL migrator reads only the files of `migrations/` itself).

mod log;
mod messages;
mod rooms;
mod tokens;
mod users;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chat_shared::ports::{Probe, ProbeError, StoreError};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub(crate) use crate::rows::{corrupt, seq_from_db, seq_to_db};
pub use log::SqliteMessageLog;
pub use messages::SqliteMessageStore;
pub use rooms::SqliteRoomStore;
pub use tokens::SqliteRefreshTokenStore;
pub use users::SqliteUserStore;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Connections that read at once; in WAL mode readers never wait for the writer.
const READERS: u32 = 4;
/// How long a statement waits for a lock (a checkpoint, another process) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One embedded database. Every write goes through a single connection: SQLite runs one writer
/// at a time anyway, and with one writer connection no transaction ever meets `SQLITE_BUSY`
/// halfway (a read that turns into a write). Reads use a pool of read-only connections. Cheap
/// to clone: clones share the pools.
#[derive(Clone)]
pub struct SqliteDb {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteDb {
    /// Opens the database file at `path`, creating it if missing. Every commit reaches the disk
    /// before it returns (`synchronous=FULL`): an acknowledged message survives a power cut.
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        let options =
            SqliteConnectOptions::new().filename(path).busy_timeout(BUSY_TIMEOUT).foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full),
            )
            .await?;
        // The writer has switched the file to WAL (a lasting property of the file) before any
        // reader opens it.
        let readers =
            SqlitePoolOptions::new().max_connections(READERS).connect_with(options.read_only(true)).await?;
        Ok(Self { writer, readers })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.writer).await
    }

    /// Waits for the connections to close, so the file is released when this returns.
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }

    pub fn probe(&self) -> SqliteProbe {
        SqliteProbe(self.readers.clone())
    }
}

/// Sorts a driver error into what a caller can act on: a locked, full or failing disk, or a
/// pool that gave up waiting, is `Unavailable`.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    if is_unavailable(&err) { StoreError::unavailable(err) } else { StoreError::other(err) }
}

pub(crate) fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            // The primary result code is the low byte of the extended one: 5 BUSY, 6 LOCKED,
            // 10 IOERR, 13 FULL, 14 CANTOPEN.
            let primary = db.code().and_then(|code| code.parse::<i32>().ok()).map(|code| code & 0xff);
            matches!(primary, Some(5 | 6 | 10 | 13 | 14))
        }
        _ => false,
    }
}

/// Whether the error is a violation of the named unique index. SQLite names an index on
/// expressions in its message ("UNIQUE constraint failed: index 'name'"), not as a constraint.
pub(crate) fn violates(err: &sqlx::Error, index: &str) -> bool {
    err.as_database_error().is_some_and(|db| {
        matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation) && db.message().contains(index)
    })
}

/// `/readyz` check: one query on a reader connection.
pub struct SqliteProbe(SqlitePool);

#[async_trait]
impl Probe for SqliteProbe {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn check(&self) -> Result<(), ProbeError> {
        sqlx::query("select 1")
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(|err| ProbeError::Failed(err.to_string()))
    }
}
