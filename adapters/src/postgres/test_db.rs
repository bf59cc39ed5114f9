//! Databases of their own for the tests of this module, on the PostgreSQL server of
//! `CHAT_TEST_DATABASE_URL` (an admin URL; by default the local server's `postgres` database).

use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

pub(super) fn admin_url() -> String {
    std::env::var("CHAT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own; dropped by [`TestDb::drop`].
pub(super) struct TestDb {
    admin: PgConnection,
    name: String,
    pub(super) pool: PgPool,
}

impl TestDb {
    /// A new database, migrated.
    pub(super) async fn create() -> TestDb {
        let db = TestDb::unmigrated().await;
        super::migrate(&db.pool).await.unwrap();
        db
    }

    pub(super) async fn unmigrated() -> TestDb {
        let admin_url = admin_url();
        let name = format!("chat_unit_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("create database {name}")).execute(&mut admin).await.unwrap();
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
        let pool = PgPool::connect(&format!("{base}/{name}")).await.unwrap();
        TestDb { admin, name, pool }
    }

    pub(super) async fn drop(mut self) {
        self.pool.close().await;
        sqlx::query(&format!("drop database {} with (force)", self.name))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}
