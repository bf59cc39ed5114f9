//! The audit log in the embedded database.

use async_trait::async_trait;
use chat_shared::domain::AuditEntry;
use chat_shared::ports::{AuditLog, StoreError};
use uuid::Uuid;

use crate::rows::{AUDIT_COLUMNS, AuditRow};

use super::db::SqliteDb;
use super::errors::store_error;

#[derive(Clone)]
pub struct SqliteAuditLog {
    db: SqliteDb,
}

impl SqliteAuditLog {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AuditLog for SqliteAuditLog {
    async fn record(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "insert into audit_log (id, at, actor_id, action, target_user_id, detail)
             values (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(entry.id)
        .bind(entry.at)
        .bind(entry.actor.map(|u| u.as_uuid()))
        .bind(entry.action.as_str())
        .bind(entry.target_user.map(|u| u.as_uuid()))
        .bind(entry.detail.as_deref())
        .execute(&self.db.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn page(&self, before: Option<Uuid>, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query_as::<_, AuditRow>(&format!(
            "select {AUDIT_COLUMNS} from audit_log
             where ?1 is null or id < ?1
             order by id desc limit ?2"
        ))
        .bind(before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.db.readers)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(AuditEntry::try_from)
        .collect()
    }
}
