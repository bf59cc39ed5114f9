use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::AuditEntry;
use crate::ports::{AuditLog, StoreError};

/// The audit log of tests.
#[derive(Default)]
pub struct MemoryAuditLog {
    entries: Mutex<Vec<AuditEntry>>,
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn record(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).push(entry.clone());
        Ok(())
    }

    async fn page(&self, before: Option<Uuid>, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut page: Vec<AuditEntry> =
            entries.iter().filter(|e| before.is_none_or(|b| e.id < b)).cloned().collect();
        page.sort_by_key(|e| std::cmp::Reverse(e.id));
        page.truncate(limit);
        Ok(page)
    }
}
