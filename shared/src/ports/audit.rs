use async_trait::async_trait;
use uuid::Uuid;

use super::errors::StoreError;
use crate::domain::AuditEntry;

/// Where administrators' actions are written, to be read back newest first.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Up to `limit` entries older than the entry `before` (all, without it), newest first.
    async fn page(&self, before: Option<Uuid>, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
}
