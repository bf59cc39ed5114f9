//! API keys in the embedded database.

use async_trait::async_trait;
use chat_shared::domain::{ApiKey, ApiKeyId, TokenHash};
use chat_shared::ports::{ApiKeyStore, KeyRevocation, StoreError};
use chrono::{DateTime, Utc};

use crate::rows::{API_KEY_COLUMNS, ApiKeyRow, scopes_to_db};

use super::db::SqliteDb;
use super::errors::store_error;

#[derive(Clone)]
pub struct SqliteApiKeyStore {
    db: SqliteDb,
}

impl SqliteApiKeyStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ApiKeyStore for SqliteApiKeyStore {
    async fn insert(&self, key: &ApiKey, secret_hash: &TokenHash) -> Result<(), StoreError> {
        sqlx::query(
            "insert into api_keys (id, name, scopes, secret_hash, created_at, created_by, revoked_at)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(key.id.as_uuid())
        .bind(key.name.as_str())
        .bind(scopes_to_db(&key.scopes))
        .bind(&secret_hash.0[..])
        .bind(key.created_at)
        .bind(key.created_by.map(|u| u.as_uuid()))
        .bind(key.revoked_at)
        .execute(&self.db.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn by_secret(&self, secret_hash: &TokenHash) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query_as::<_, ApiKeyRow>(&format!(
            "select {API_KEY_COLUMNS} from api_keys where secret_hash = ?1"
        ))
        .bind(&secret_hash.0[..])
        .fetch_optional(&self.db.readers)
        .await
        .map_err(store_error)?;
        row.map(ApiKey::try_from).transpose()
    }

    async fn all(&self) -> Result<Vec<ApiKey>, StoreError> {
        sqlx::query_as::<_, ApiKeyRow>(&format!("select {API_KEY_COLUMNS} from api_keys order by id desc"))
            .fetch_all(&self.db.readers)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(ApiKey::try_from)
            .collect()
    }

    async fn revoke(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<Option<KeyRevocation>, StoreError> {
        let revoked = sqlx::query_as::<_, ApiKeyRow>(&format!(
            "update api_keys set revoked_at = ?2 where id = ?1 and revoked_at is null
             returning {API_KEY_COLUMNS}"
        ))
        .bind(id.as_uuid())
        .bind(at)
        .fetch_optional(&self.db.writer)
        .await
        .map_err(store_error)?;
        if let Some(row) = revoked {
            return Ok(Some(KeyRevocation::Revoked(row.try_into()?)));
        }
        let row =
            sqlx::query_as::<_, ApiKeyRow>(&format!("select {API_KEY_COLUMNS} from api_keys where id = ?1"))
                .bind(id.as_uuid())
                .fetch_optional(&self.db.writer)
                .await
                .map_err(store_error)?;
        row.map(|row| Ok(KeyRevocation::AlreadyRevoked(row.try_into()?))).transpose()
    }
}
