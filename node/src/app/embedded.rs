//! Embedded mode: one self-contained process. Users, rooms and messages live in an SQLite
//! database in the data folder, whose message table is also the log (so there is no separate
//! persister); presence, room events and ended logins stay in the process.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use chat_adapters::sqlite::{
    SqliteApiKeyStore, SqliteAuditLog, SqliteDb, SqliteMessageLog, SqliteMessageStore, SqliteNewMessages,
    SqliteRefreshTokenStore, SqliteRoomStore, SqliteUserStore, SqliteWebhookStore,
};
use chat_shared::memory::{
    MemoryEventBus, MemoryLoginAnnouncements, MemoryPresenceStore, MemoryRevokedLogins, MemoryUserFeed,
};
use chat_shared::ports::{AuditLog, SystemClock, UserStore};
use rand::RngCore;

use super::backends::Backends;
use crate::config::NodeConfig;

/// The database file, in the data folder.
const DATABASE_FILE: &str = "chat.db";
/// The generated JWT key, in the data folder.
const KEY_FILE: &str = "jwt.key";
/// Random bytes in a generated key (stored hex encoded).
const KEY_BYTES: usize = 32;
/// The shortest key HS256 is given, in bytes.
const MIN_KEY_LEN: usize = 32;

/// Opens (creating if need be) the data folder, its database and its key.
pub(super) async fn open(config: &NodeConfig) -> anyhow::Result<Backends> {
    let dir = &config.data_dir;
    let db = open_database(dir).await?;
    let jwt_secret = jwt_secret(config)?;
    tracing::info!(data_dir = %dir.display(), "running embedded");
    let log = Arc::new(SqliteMessageLog::new(db.clone()));
    Ok(Backends {
        users: Arc::new(SqliteUserStore::new(db.clone())),
        audit: Arc::new(SqliteAuditLog::new(db.clone())),
        api_keys: Arc::new(SqliteApiKeyStore::new(db.clone())),
        webhooks: Arc::new(SqliteWebhookStore::new(db.clone())),
        new_messages: Arc::new(SqliteNewMessages::new(db.clone())),
        tokens: Arc::new(SqliteRefreshTokenStore::new(db.clone())),
        rooms: Arc::new(SqliteRoomStore::new(db.clone())),
        messages: Arc::new(SqliteMessageStore::new(db.clone())),
        log: log.clone(),
        live: log,
        presence: Arc::new(MemoryPresenceStore::default()),
        events: Arc::new(MemoryEventBus::default()),
        feed: Arc::new(MemoryUserFeed::default()),
        limiter: None,
        revoked: Arc::new(MemoryRevokedLogins::new(Arc::new(SystemClock))),
        announcements: Arc::new(MemoryLoginAnnouncements::default()),
        jwt_secret,
        required: vec![Arc::new(db.probe())],
        optional: Vec::new(),
    })
}

/// The stores the command line administers, over the data folder's database.
pub(super) async fn admin_stores(
    config: &NodeConfig,
) -> anyhow::Result<(Arc<dyn UserStore>, Arc<dyn AuditLog>)> {
    let db = open_database(&config.data_dir).await?;
    Ok((Arc::new(SqliteUserStore::new(db.clone())), Arc::new(SqliteAuditLog::new(db))))
}

/// Applies the embedded database's pending migrations (creating the folder and database).
pub(super) async fn migrate(config: &NodeConfig) -> anyhow::Result<()> {
    open_database(&config.data_dir).await?.close().await;
    Ok(())
}

async fn open_database(dir: &Path) -> anyhow::Result<SqliteDb> {
    // Only the owner may read the messages and the key.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the data folder {} (--data-dir)", dir.display()))?;
    let path = dir.join(DATABASE_FILE);
    let db =
        SqliteDb::open(&path).await.with_context(|| format!("opening the database {}", path.display()))?;
    db.migrate().await.context("applying database migrations")?;
    Ok(db)
}

/// `JWT_SECRET` when set; otherwise the key kept in the data folder, made on the first start,
/// so access and refresh tokens outlive a restart.
fn jwt_secret(config: &NodeConfig) -> anyhow::Result<Vec<u8>> {
    // Blank counts as unset, as it does for the service URLs.
    let configured = config.jwt_secret.as_ref().map(|s| s.expose()).filter(|s| !s.trim().is_empty());
    if let Some(secret) = configured {
        if secret.len() < MIN_KEY_LEN {
            bail!("JWT_SECRET (--jwt-secret) must be at least {MIN_KEY_LEN} bytes");
        }
        return Ok(secret.as_bytes().to_vec());
    }
    key_in(&config.data_dir.join(KEY_FILE))
}

/// Reads the key at `path`, or writes a new random one there (readable by the owner only).
fn key_in(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut random = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let fresh: String = random.iter().map(|b| format!("{b:02x}")).collect();
    // `create_new`: a key that exists is never overwritten, or every session would end.
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            file.write_all(fresh.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing the JWT key {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a JWT key");
            Ok(fresh.into_bytes())
        }
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            let key = std::fs::read_to_string(path)
                .with_context(|| format!("reading the JWT key {}", path.display()))?;
            let key = key.trim();
            if key.len() < MIN_KEY_LEN {
                bail!(
                    "the JWT key {} is shorter than {MIN_KEY_LEN} bytes; delete it to make a new one \
                     (signing everyone out) or set JWT_SECRET",
                    path.display()
                );
            }
            Ok(key.as_bytes().to_vec())
        }
        Err(err) => Err(err).with_context(|| format!("creating the JWT key {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;

    /// A fresh folder under the system's temporary one, removed at the end of the test.
    struct Folder(PathBuf);

    impl Folder {
        fn new() -> Self {
            let path = std::env::temp_dir().join(format!("chat-node-key-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_key_is_generated_once_readable_by_the_owner_only_and_read_back_afterwards() {
        let folder = Folder::new();
        let path = folder.0.join(KEY_FILE);
        let first = key_in(&path).unwrap();
        assert_eq!(first.len(), 2 * KEY_BYTES);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(key_in(&path).unwrap(), first);
    }

    #[test]
    fn a_key_file_too_short_to_sign_with_is_refused() {
        let folder = Folder::new();
        let path = folder.0.join(KEY_FILE);
        std::fs::write(&path, "short").unwrap();
        let err = key_in(&path).unwrap_err().to_string();
        assert!(err.contains("shorter than 32 bytes"), "{err}");
    }
}
