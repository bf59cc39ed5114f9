use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::errors::StoreError;
use crate::domain::{RefreshTokenRecord, TokenHash, UserId};

/// Where refresh tokens live, by hash only.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    async fn insert(&self, record: &RefreshTokenRecord) -> Result<(), StoreError>;

    async fn find(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>, StoreError>;

    /// Marks a token used if it is neither used nor revoked, atomically: of two concurrent
    /// calls for one token exactly one returns `true`.
    async fn consume(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Revokes every token of a family that is not revoked yet.
    async fn revoke_family(&self, family_id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Revokes every token of `user` that is neither revoked nor expired at `at`, except those
    /// of the family `keep`, and returns the families it revoked tokens of, each once.
    async fn revoke_other_families(
        &self,
        user: UserId,
        keep: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError>;
}
