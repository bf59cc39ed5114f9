use async_trait::async_trait;
use chat_shared::domain::{DisplayName, PasswordHash, User, UserId, UserRole, Username, WebhookEvent};
use chat_shared::ports::{DirectoryQuery, InsertUserError, StoreError, UserStore};
use chrono::{DateTime, Utc};

use crate::rows::{CredentialsRow, UserRow};

use super::db::SqliteDb;
use super::errors::{store_error, violates};
use super::webhooks::enqueue_in;

/// A directory page (see `migrations/sqlite/0006_user_directory.sql`): each prefix match is a
/// range of an index, so no character typed is a wildcard. Who may be listed is decided here
/// and nowhere else.
const SEARCH: &str = "
    select id, username, display_name, created_at, role, disabled_at from users
    where ((lower(username) >= lower(?1) and lower(username) < lower(?1) || char(1114111))
        or (lower(display_name) >= lower(?1) and lower(display_name) < lower(?1) || char(1114111)))
      and (?2 is null or lower(username) > ?2)
      and (disabled_at is null or ?4)
    order by lower(username)
    limit ?3";

#[derive(Clone)]
pub struct SqliteUserStore {
    db: SqliteDb,
}

impl SqliteUserStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl UserStore for SqliteUserStore {
    async fn insert(&self, user: &User, hash: &PasswordHash) -> Result<(), InsertUserError> {
        let result = sqlx::query(
            "insert into users (id, username, display_name, password_hash, created_at, role)
             values (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(user.id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(hash.as_str())
        .bind(user.created_at)
        .bind(user.role.as_str())
        .execute(&self.db.writer)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if violates(&err, "users_username_lower_key") => Err(InsertUserError::UsernameTaken),
            Err(err) => Err(store_error(err).into()),
        }
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "select id, username, display_name, created_at, role, disabled_at from users where id = ?1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.db.readers)
        .await
        .map_err(store_error)?
        .map(User::try_from)
        .transpose()
    }

    async fn credentials(&self, username: &str) -> Result<Option<(User, PasswordHash)>, StoreError> {
        let row = sqlx::query_as::<_, CredentialsRow>(
            "select id, username, display_name, created_at, role, disabled_at, password_hash
             from users where lower(username) = lower(?1)",
        )
        .bind(username)
        .fetch_optional(&self.db.readers)
        .await
        .map_err(store_error)?;
        row.map(|r| Ok((User::try_from(r.user)?, PasswordHash::new(r.password_hash)))).transpose()
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<PasswordHash>, StoreError> {
        let hash: Option<String> = sqlx::query_scalar("select password_hash from users where id = ?1")
            .bind(id.as_uuid())
            .fetch_optional(&self.db.readers)
            .await
            .map_err(store_error)?;
        Ok(hash.map(PasswordHash::new))
    }

    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<bool, StoreError> {
        let done = sqlx::query("update users set password_hash = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') where id = ?1")
            .bind(id.as_uuid())
            .bind(hash.as_str())
            .execute(&self.db.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_role(&self, username: &Username, role: UserRole) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "update users set role = ?2 where lower(username) = lower(?1)
             returning id, username, display_name, created_at, role, disabled_at",
        )
        .bind(username.as_str())
        .bind(role.as_str())
        .fetch_optional(&self.db.writer)
        .await
        .map_err(store_error)?
        .map(User::try_from)
        .transpose()
    }

    async fn set_disabled(
        &self,
        id: UserId,
        at: Option<DateTime<Utc>>,
        event: Option<&WebhookEvent>,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.db.write().await.map_err(store_error)?;
        let Some(row) = sqlx::query_as::<_, UserRow>(
            "update users set disabled_at = ?2 where id = ?1
             returning id, username, display_name, created_at, role, disabled_at",
        )
        .bind(id.as_uuid())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        else {
            return Ok(None);
        };
        let user = User::try_from(row)?;
        if let Some(event) = event {
            enqueue_in(&mut tx, event).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(Some(user))
    }

    async fn update_display_name(&self, id: UserId, name: &DisplayName) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "update users set display_name = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             where id = ?1
             returning id, username, display_name, created_at, role, disabled_at",
        )
        .bind(id.as_uuid())
        .bind(name.as_str())
        .fetch_optional(&self.db.writer)
        .await
        .map_err(store_error)?
        .map(User::try_from)
        .transpose()
    }

    async fn search(&self, query: &DirectoryQuery) -> Result<Vec<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(SEARCH)
            .bind(query.prefix.as_str())
            .bind(query.after.as_ref().map(|cursor| cursor.as_str()))
            .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .bind(query.include_disabled)
            .fetch_all(&self.db.readers)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(User::try_from)
            .collect()
    }

    async fn by_usernames(&self, usernames: &[Username]) -> Result<Vec<User>, StoreError> {
        // One statement for any number of names: they travel as a JSON array, not as one
        // parameter each (SQLite caps those).
        let lowered: Vec<String> = usernames.iter().map(|name| name.as_str().to_ascii_lowercase()).collect();
        let lowered = serde_json::to_string(&lowered).map_err(|e| StoreError::Other(e.into()))?;
        sqlx::query_as::<_, UserRow>(
            "select id, username, display_name, created_at, role, disabled_at from users
             where lower(username) in (select value from json_each(?1))",
        )
        .bind(lowered)
        .fetch_all(&self.db.readers)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(User::try_from)
        .collect()
    }
}
