use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{RefreshTokenRecord, TokenHash, UserId};
use crate::ports::{RefreshTokenStore, StoreError};

#[derive(Default)]
pub struct MemoryRefreshTokenStore {
    tokens: Mutex<HashMap<Uuid, RefreshTokenRecord>>,
}

impl MemoryRefreshTokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, RefreshTokenRecord>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl RefreshTokenStore for MemoryRefreshTokenStore {
    async fn insert(&self, record: &RefreshTokenRecord) -> Result<(), StoreError> {
        self.lock().insert(record.id, record.clone());
        Ok(())
    }

    async fn find(&self, hash: &TokenHash) -> Result<Option<RefreshTokenRecord>, StoreError> {
        Ok(self.lock().values().find(|r| r.token_hash == *hash).cloned())
    }

    async fn consume(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tokens = self.lock();
        match tokens.get_mut(&id) {
            Some(r) if r.used_at.is_none() && r.revoked_at.is_none() => {
                r.used_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_family(&self, family_id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        for r in self.lock().values_mut() {
            if r.family_id == family_id && r.revoked_at.is_none() {
                r.revoked_at = Some(at);
            }
        }
        Ok(())
    }

    async fn revoke_other_families(
        &self,
        user: UserId,
        keep: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut families = Vec::new();
        for r in self.lock().values_mut() {
            let live = r.revoked_at.is_none() && r.expires_at > at;
            if r.user_id == user && live && Some(r.family_id) != keep {
                r.revoked_at = Some(at);
                if !families.contains(&r.family_id) {
                    families.push(r.family_id);
                }
            }
        }
        Ok(families)
    }
}
