use async_trait::async_trait;
use chat_shared::domain::{DisplayName, PasswordHash, User, UserId, UserRole, Username, WebhookEvent};
use chat_shared::ports::{DirectoryQuery, InsertUserError, StoreError, UserStore};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::rows::{CredentialsRow, UserRow};

use super::errors::{store_error, violates};
use super::webhooks::enqueue_in;

/// A directory page (see `migrations/0009_user_directory.sql`): each prefix match is a range of
/// an index under the "C" collation, so no character typed is a wildcard. Who may be listed is
/// decided here and nowhere else.
const SEARCH: &str = r#"
    select id, username, display_name, created_at, role, disabled_at from users
    where ((lower(username) collate "C" >= lower($1) collate "C"
            and lower(username) collate "C" < (lower($1) || chr(1114111)) collate "C")
        or (lower(display_name) collate "C" >= lower($1) collate "C"
            and lower(display_name) collate "C" < (lower($1) || chr(1114111)) collate "C"))
      and ($2::text is null or lower(username) collate "C" > $2 collate "C")
      and (disabled_at is null or $4)
    order by lower(username) collate "C"
    limit $3"#;

#[derive(Clone)]
pub struct PgUserStore {
    pool: PgPool,
}

impl PgUserStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl UserStore for PgUserStore {
    async fn insert(&self, user: &User, hash: &PasswordHash) -> Result<(), InsertUserError> {
        let result = sqlx::query(
            "insert into users (id, username, display_name, password_hash, created_at, role)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(hash.as_str())
        .bind(user.created_at)
        .bind(user.role.as_str())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if violates(&err, "users_username_lower_key") => Err(InsertUserError::UsernameTaken),
            Err(err) => Err(store_error(err).into()),
        }
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "select id, username, display_name, created_at, role, disabled_at from users where id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(User::try_from)
        .transpose()
    }

    async fn credentials(&self, username: &str) -> Result<Option<(User, PasswordHash)>, StoreError> {
        let row = sqlx::query_as::<_, CredentialsRow>(
            "select id, username, display_name, created_at, role, disabled_at, password_hash
             from users where lower(username) = lower($1)",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|r| Ok((User::try_from(r.user)?, PasswordHash::new(r.password_hash)))).transpose()
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<PasswordHash>, StoreError> {
        let hash: Option<String> = sqlx::query_scalar("select password_hash from users where id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(hash.map(PasswordHash::new))
    }

    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<bool, StoreError> {
        let done = sqlx::query("update users set password_hash = $2, updated_at = now() where id = $1")
            .bind(id.as_uuid())
            .bind(hash.as_str())
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_role(&self, username: &Username, role: UserRole) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "update users set role = $2 where lower(username) = lower($1)
             returning id, username, display_name, created_at, role, disabled_at",
        )
        .bind(username.as_str())
        .bind(role.as_str())
        .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let Some(row) = sqlx::query_as::<_, UserRow>(
            "update users set disabled_at = $2 where id = $1
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
            "update users set display_name = $2, updated_at = now() where id = $1
             returning id, username, display_name, created_at, role, disabled_at",
        )
        .bind(id.as_uuid())
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(User::try_from)
        .transpose()
    }

    async fn search(&self, query: &DirectoryQuery) -> Result<Vec<User>, StoreError> {
        // Planned for each prefix (an unnamed statement), not once for all: a cached generic
        // plan, blind to how many users a prefix matches, walks the whole username index in
        // order and filters, which costs a scan of every user for a prefix that matches few.
        sqlx::query_as::<_, UserRow>(SEARCH)
            .persistent(false)
            .bind(query.prefix.as_str())
            .bind(query.after.as_ref().map(|cursor| cursor.as_str()))
            .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .bind(query.include_disabled)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(User::try_from)
            .collect()
    }

    async fn by_usernames(&self, usernames: &[Username]) -> Result<Vec<User>, StoreError> {
        let lowered: Vec<String> = usernames.iter().map(|name| name.as_str().to_ascii_lowercase()).collect();
        sqlx::query_as::<_, UserRow>(
            "select id, username, display_name, created_at, role, disabled_at from users where lower(username) = any($1)",
        )
        .bind(lowered)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(User::try_from)
        .collect()
    }
}
