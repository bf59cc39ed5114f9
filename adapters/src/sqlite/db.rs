//! The embedded database: one SQLite file, a single writer connection and a pool of readers.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chat_shared::ports::{Probe, ProbeError};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

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
    pub(super) writer: SqlitePool,
    pub(super) readers: SqlitePool,
}

impl SqliteDb {
    /// A write transaction that holds the write lock from its start (`BEGIN IMMEDIATE`), waiting
    /// up to the busy timeout for another process's lock. A deferred one would read first and
    /// then, asking for the lock only at its first write, fail at once if another process held
    /// it: SQLite does not wait on a read transaction's upgrade.
    pub(super) async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// Opens the database file at `path`, creating it if missing. Every commit reaches the disk
    /// before it returns (`synchronous=FULL`): an acknowledged message survives a power cut.
    ///
    /// `secure_delete` overwrites with zeros what a write frees (a deleted message's text, an
    /// edit's entry), so redacted text is gone from the database file, not merely unlinked. In
    /// WAL mode the page images written before the redaction stay in the `-wal` file until a
    /// checkpoint copies the pages back and the log is reused or truncated: SQLite checkpoints
    /// on its own as the log grows, and nothing forces one per deletion.
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("secure_delete", "on");
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
