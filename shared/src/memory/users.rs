use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{DisplayName, PasswordHash, User, UserId};
use crate::ports::{InsertUserError, StoreError, UserStore};

#[derive(Default)]
pub struct MemoryUserStore {
    users: Mutex<HashMap<UserId, (User, PasswordHash)>>,
}

impl MemoryUserStore {
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

    async fn update_display_name(&self, id: UserId, name: &DisplayName) -> Result<Option<User>, StoreError> {
        Ok(self.lock().get_mut(&id).map(|(u, _)| {
            u.display_name = name.clone();
            u.clone()
        }))
    }
}
