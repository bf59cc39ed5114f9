use async_trait::async_trait;
use chat_shared::domain::{RefreshTokenRecord, TokenHash, UserId};
use chat_shared::ports::{RefreshTokenStore, StoreError};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{SqliteDb, corrupt, store_error};

#[derive(Clone)]
pub struct SqliteRefreshTokenStore {
    db: SqliteDb,
}

impl SqliteRefreshTokenStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    family_id: Uuid,
    token_hash: Vec<u8>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for RefreshTokenRecord {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        let hash: [u8; 32] =
            row.token_hash.try_into().map_err(|_| corrupt("token hash", "not 32 bytes".into()))?;
        Ok(RefreshTokenRecord {
            id: row.id,
            user_id: UserId::from_uuid(row.user_id),
            family_id: row.family_id,
            token_hash: TokenHash(hash),
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[async_trait]
impl RefreshTokenStore for SqliteRefreshTokenStore {
    async fn insert(&self, r: &RefreshTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "insert into refresh_tokens
                 (id, user_id, family_id, token_hash, issued_at, expires_at, used_at, revoked_at)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(r.id)
        .bind(r.user_id.as_uuid())
        .bind(r.family_id)
        .bind(&r.token_hash.0[..])
        .bind(r.issued_at)
        .bind(r.expires_at)
        .bind(r.used_at)
        .bind(r.revoked_at)
        .execute(&self.db.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>, StoreError> {
        sqlx::query_as::<_, TokenRow>(
            "select id, user_id, family_id, token_hash, issued_at, expires_at, used_at, revoked_at
             from refresh_tokens where token_hash = ?1",
        )
        .bind(&hash.0[..])
        .fetch_optional(&self.db.readers)
        .await
        .map_err(store_error)?
        .map(RefreshTokenRecord::try_from)
        .transpose()
    }

    async fn consume(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        // One writer: of two concurrent calls, the second sees the first's used_at.
        let done = sqlx::query(
            "update refresh_tokens set used_at = ?2
             where id = ?1 and used_at is null and revoked_at is null",
        )
        .bind(id)
        .bind(at)
        .execute(&self.db.writer)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_family(&self, family_id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("update refresh_tokens set revoked_at = ?2 where family_id = ?1 and revoked_at is null")
            .bind(family_id)
            .bind(at)
            .execute(&self.db.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
