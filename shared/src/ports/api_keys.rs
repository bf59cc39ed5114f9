use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::errors::StoreError;
use crate::domain::{ApiKey, ApiKeyId, TokenHash};

/// API keys, found by the hash of their secret.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn insert(&self, key: &ApiKey, secret_hash: &TokenHash) -> Result<(), StoreError>;

    /// The key whose secret hashes to `secret_hash`, revoked or not.
    async fn by_secret(&self, secret_hash: &TokenHash) -> Result<Option<ApiKey>, StoreError>;

    /// Every key, newest first.
    async fn all(&self) -> Result<Vec<ApiKey>, StoreError>;

    /// Marks the key revoked at `at` unless it is already; `None` for an unknown id.
    async fn revoke(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<Option<KeyRevocation>, StoreError>;
}

/// What revoking a key did, and the key as it now stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRevocation {
    Revoked(ApiKey),
    /// It was revoked before; nothing changed.
    AlreadyRevoked(ApiKey),
}
