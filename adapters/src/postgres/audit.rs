//! The audit log in PostgreSQL.

use async_trait::async_trait;
use chat_shared::domain::AuditEntry;
use chat_shared::ports::{AuditLog, StoreError};
use uuid::Uuid;

use crate::rows::{AUDIT_COLUMNS, AuditRow};

use super::errors::store_error;
use sqlx::PgPool;

#[derive(Clone)]
pub struct PgAuditLog {
    pool: PgPool,
}

impl PgAuditLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AuditLog for PgAuditLog {
    async fn record(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "insert into audit_log (id, at, actor_id, action, target_user_id, detail)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.id)
        .bind(entry.at)
        .bind(entry.actor.map(|u| u.as_uuid()))
        .bind(entry.action.as_str())
        .bind(entry.target_user.map(|u| u.as_uuid()))
        .bind(entry.detail.as_deref())
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn page(&self, before: Option<Uuid>, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query_as::<_, AuditRow>(&format!(
            "select {AUDIT_COLUMNS} from audit_log
             where $1 is null or id < $1
             order by id desc limit $2"
        ))
        .bind(before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(AuditEntry::try_from)
        .collect()
    }
}
