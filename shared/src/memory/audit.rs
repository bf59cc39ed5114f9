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

impl MemoryAuditLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AuditEntry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn record(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.lock().push(entry.clone());
        Ok(())
    }

    async fn page(&self, before: Option<Uuid>, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = self.lock();
        let mut page: Vec<AuditEntry> =
            entries.iter().filter(|e| before.is_none_or(|b| e.id < b)).cloned().collect();
        page.sort_by_key(|e| std::cmp::Reverse(e.id));
        page.truncate(limit);
        Ok(page)
    }
}
