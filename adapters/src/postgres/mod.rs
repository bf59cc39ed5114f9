//! PostgreSQL adapters (sqlx). Migrations live in the workspace's `migrations/` folder.

mod api_keys;
mod audit;
mod client_ids;
mod errors;
mod message_copy;
mod messages;
mod reactions;
mod replies;
mod rooms;
#[cfg(test)]
mod test_db;
mod tokens;
mod users;
mod webhooks;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chat_shared::ports::{Probe, ProbeError};
pub use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

pub use api_keys::PgApiKeyStore;
pub use audit::PgAuditLog;
pub use messages::PgMessageStore;
pub use rooms::PgRoomStore;
pub use tokens::PgRefreshTokenStore;
pub use users::PgUserStore;
pub use webhooks::PgWebhookStore;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool. Connecting is lazy, so a node starts (and reports not ready) while PostgreSQL
/// is still down, and recovers by itself when it comes back. Its sessions are named
/// `application_name` (what `pg_stat_activity` and the server's log show) unless the URL or
/// `PGAPPNAME` names them already.
pub fn connect_lazy(url: &str, max_connections: u32, application_name: &str) -> Result<PgPool, sqlx::Error> {
    connect_lazy_trusting(url, None, max_connections, application_name)
}

/// As [`connect_lazy`], and with `ca_file` the server's certificate must chain to the
/// authorities in it and name the host (`verify-full`), unless the URL asks for `verify-ca`.
/// Without it, the URL's `sslmode` and `sslrootcert` decide, as they do for libpq: by default
/// (`prefer`) the connection is encrypted when the server offers TLS, unchecked.
pub fn connect_lazy_trusting(
    url: &str,
    ca_file: Option<&Path>,
    max_connections: u32,
    application_name: &str,
) -> Result<PgPool, sqlx::Error> {
    // sqlx reads a URL of any scheme as PostgreSQL's: `mysql://db.internal/chat` would be a
    // PostgreSQL connection to that host.
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    if !(scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")) {
        let why = format!("a PostgreSQL URL starts with postgres:// or postgresql://, not {scheme:?}");
        return Err(sqlx::Error::Configuration(why.into()));
    }
    let mut options: PgConnectOptions = url.parse()?;
    if let Some(ca_file) = ca_file {
        options = options.ssl_root_cert(ca_file);
        if !matches!(options.get_ssl_mode(), PgSslMode::VerifyCa) {
            options = options.ssl_mode(PgSslMode::VerifyFull);
        }
    }
    if options.get_application_name().is_none() {
        options = options.application_name(application_name);
    }
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options))
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// `/readyz` check: one round trip to the database.
pub struct PgProbe(pub PgPool);

#[async_trait]
impl Probe for PgProbe {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn check(&self) -> Result<(), ProbeError> {
        sqlx::query("select 1").execute(&self.0).await.map(|_| ()).map_err(|_| ProbeError::Unreachable)
    }
}

#[cfg(test)]
mod tests {
    use super::test_db::admin_url;
    use super::*;

    async fn session_name(pool: &PgPool) -> String {
        sqlx::query_scalar("select current_setting('application_name')").fetch_one(pool).await.unwrap()
    }

    #[tokio::test]
    async fn sessions_carry_the_given_application_name() {
        let pool = connect_lazy(&admin_url(), 1, "chat-node node-a").unwrap();
        assert_eq!(session_name(&pool).await, "chat-node node-a");
    }

    #[tokio::test]
    async fn an_application_name_in_the_url_wins() {
        let url = admin_url();
        let separator = if url.contains('?') { '&' } else { '?' };
        let pool = connect_lazy(&format!("{url}{separator}application_name=ops"), 1, "chat-node").unwrap();
        assert_eq!(session_name(&pool).await, "ops");
    }

    #[test]
    fn a_malformed_url_is_refused() {
        assert!(connect_lazy("postgres://[::1", 1, "chat-node").is_err());
    }

    #[tokio::test]
    async fn a_url_of_another_database_is_refused_and_both_postgresql_schemes_are_taken() {
        for other in ["mysql://127.0.0.1/chat", "sqlite://chat.db", "127.0.0.1:5432/chat"] {
            assert!(
                matches!(connect_lazy(other, 1, "chat-node"), Err(sqlx::Error::Configuration(_))),
                "{other}"
            );
        }
        for url in ["postgres://127.0.0.1/chat", "postgresql://127.0.0.1/chat", "POSTGRES://127.0.0.1/chat"] {
            assert!(connect_lazy(url, 1, "chat-node").is_ok(), "{url}");
        }
    }
}
