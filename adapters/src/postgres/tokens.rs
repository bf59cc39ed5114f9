use async_trait::async_trait;
use chat_shared::domain::{RefreshTokenRecord, TokenHash, UserId};
use chat_shared::ports::{RefreshTokenStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::rows::TokenRow;

use super::errors::store_error;

#[derive(Clone)]
pub struct PgRefreshTokenStore {
    pool: PgPool,
}

impl PgRefreshTokenStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl RefreshTokenStore for PgRefreshTokenStore {
    async fn insert(&self, r: &RefreshTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "insert into refresh_tokens
                 (id, user_id, family_id, token_hash, issued_at, expires_at, used_at, revoked_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(r.id)
        .bind(r.user_id.as_uuid())
        .bind(r.family_id)
        .bind(&r.token_hash.0[..])
        .bind(r.issued_at)
        .bind(r.expires_at)
        .bind(r.used_at)
        .bind(r.revoked_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>, StoreError> {
        sqlx::query_as::<_, TokenRow>(
            "select id, user_id, family_id, token_hash, issued_at, expires_at, used_at, revoked_at
             from refresh_tokens where token_hash = $1",
        )
        .bind(&hash.0[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(RefreshTokenRecord::try_from)
        .transpose()
    }

    async fn consume(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update refresh_tokens set used_at = $2
             where id = $1 and used_at is null and revoked_at is null",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_family(&self, family_id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("update refresh_tokens set revoked_at = $2 where family_id = $1 and revoked_at is null")
            .bind(family_id)
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn revoke_other_families(
        &self,
        user: UserId,
        keep: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut families: Vec<Uuid> = sqlx::query_scalar(
            "update refresh_tokens set revoked_at = $3
             where user_id = $1 and revoked_at is null and expires_at > $3
               and ($2 is null or family_id <> $2)
             returning family_id",
        )
        .bind(user.as_uuid())
        .bind(keep)
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        families.sort_unstable();
        families.dedup();
        Ok(families)
    }
}
