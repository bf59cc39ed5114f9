use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::webhooks::MemoryWebhookStore;
use crate::domain::{DisplayName, PasswordHash, User, UserId, UserRole, Username, WebhookEvent};
use crate::ports::{DirectoryQuery, InsertUserError, StoreError, UserStore};

/// Users; the events of their changes go to the webhook store it is given (none given: they
/// are dropped).
#[derive(Default)]
pub struct MemoryUserStore {
    users: Mutex<HashMap<UserId, (User, PasswordHash)>>,
    webhooks: Option<Arc<MemoryWebhookStore>>,
}

impl MemoryUserStore {
    /// This store, enqueueing its changes' events in `webhooks`.
    pub fn recording_events_in(self, webhooks: Arc<MemoryWebhookStore>) -> Self {
        Self { webhooks: Some(webhooks), ..self }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, (User, PasswordHash)>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn insert(&self, user: &User, hash: &PasswordHash) -> Result<(), InsertUserError> {
        let mut users = self.lock();
        let wanted = user.username.as_str();
        if users.values().any(|(u, _)| u.username.as_str().eq_ignore_ascii_case(wanted)) {
            return Err(InsertUserError::UsernameTaken);
        }
        users.insert(user.id, (user.clone(), hash.clone()));
        Ok(())
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock().get(&id).map(|(u, _)| u.clone()))
    }

    async fn credentials(&self, username: &str) -> Result<Option<(User, PasswordHash)>, StoreError> {
        Ok(self.lock().values().find(|(u, _)| u.username.as_str().eq_ignore_ascii_case(username)).cloned())
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<PasswordHash>, StoreError> {
        Ok(self.lock().get(&id).map(|(_, hash)| hash.clone()))
    }

    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<bool, StoreError> {
        Ok(self.lock().get_mut(&id).map(|(_, stored)| *stored = hash.clone()).is_some())
    }

    async fn set_disabled(
        &self,
        id: UserId,
        at: Option<DateTime<Utc>>,
        event: Option<&WebhookEvent>,
    ) -> Result<Option<User>, StoreError> {
        let mut users = self.lock();
        let Some((user, _)) = users.get_mut(&id) else { return Ok(None) };
        user.disabled_at = at;
        let user = user.clone();
        if let (Some(webhooks), Some(event)) = (&self.webhooks, event) {
            webhooks.enqueue_now(event);
        }
        Ok(Some(user))
    }

    async fn set_role(&self, username: &Username, role: UserRole) -> Result<Option<User>, StoreError> {
        let mut users = self.lock();
        let wanted = username.as_str();
        Ok(users.values_mut().find(|(u, _)| u.username.as_str().eq_ignore_ascii_case(wanted)).map(
            |(u, _)| {
                u.role = role;
                u.clone()
            },
        ))
    }

    async fn update_display_name(&self, id: UserId, name: &DisplayName) -> Result<Option<User>, StoreError> {
        Ok(self.lock().get_mut(&id).map(|(u, _)| {
            u.display_name = name.clone();
            u.clone()
        }))
    }

    async fn search(&self, query: &DirectoryQuery) -> Result<Vec<User>, StoreError> {
        let prefix = query.prefix.as_str().to_lowercase();
        let after = query.after.as_ref().map(|cursor| cursor.as_str());
        let mut found: Vec<(String, User)> = self
            .lock()
            .values()
            .map(|(user, _)| (user.username.as_str().to_ascii_lowercase(), user))
            .filter(|(key, _)| after.is_none_or(|after| key.as_str() > after))
            .filter(|(_, user)| query.include_disabled || user.disabled_at.is_none())
            .filter(|(key, user)| {
                key.starts_with(&prefix) || user.display_name.as_str().to_lowercase().starts_with(&prefix)
            })
            .map(|(key, user)| (key, user.clone()))
            .collect();
        found.sort_by(|(a, _), (b, _)| a.cmp(b));
        Ok(found.into_iter().take(query.limit).map(|(_, user)| user).collect())
    }

    async fn by_usernames(&self, usernames: &[Username]) -> Result<Vec<User>, StoreError> {
        let wanted: std::collections::HashSet<String> =
            usernames.iter().map(|name| name.as_str().to_ascii_lowercase()).collect();
        Ok(self
            .lock()
            .values()
            .filter(|(user, _)| wanted.contains(&user.username.as_str().to_ascii_lowercase()))
            .map(|(user, _)| user.clone())
            .collect())
    }
}
