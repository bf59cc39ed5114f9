use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{ApiKey, ApiKeyId, TokenHash};
use crate::ports::{ApiKeyStore, KeyRevocation, StoreError};

/// The API keys of tests.
#[derive(Default)]
pub struct MemoryApiKeyStore {
    keys: Mutex<Vec<(ApiKey, TokenHash)>>,
}

impl MemoryApiKeyStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(ApiKey, TokenHash)>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryApiKeyStore {
    async fn insert(&self, key: &ApiKey, secret_hash: &TokenHash) -> Result<(), StoreError> {
        self.lock().push((key.clone(), *secret_hash));
        Ok(())
    }

    async fn by_secret(&self, secret_hash: &TokenHash) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.lock().iter().find(|(_, hash)| hash == secret_hash).map(|(key, _)| key.clone()))
    }

    async fn all(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys: Vec<ApiKey> = self.lock().iter().map(|(key, _)| key.clone()).collect();
        keys.sort_by_key(|key| std::cmp::Reverse(key.id));
        Ok(keys)
    }

    async fn revoke(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<Option<KeyRevocation>, StoreError> {
        let mut keys = self.lock();
        let Some((key, _)) = keys.iter_mut().find(|(key, _)| key.id == id) else { return Ok(None) };
        if key.revoked_at.is_some() {
            return Ok(Some(KeyRevocation::AlreadyRevoked(key.clone())));
        }
        key.revoked_at = Some(at);
        Ok(Some(KeyRevocation::Revoked(key.clone())))
    }
}
