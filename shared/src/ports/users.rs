use async_trait::async_trait;

use super::errors::StoreError;
use crate::domain::{DisplayName, PasswordHash, User, UserId};

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// Another user has the same username, compared case-insensitively.
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where users and their password hashes live.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user. Two concurrent inserts of the same username: exactly one succeeds, the
    /// other gets `UsernameTaken`.
    async fn insert(&self, user: &User, hash: &PasswordHash) -> Result<(), InsertUserError>;

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Looks a user up by username, case-insensitively, with their password hash.
    async fn credentials(&self, username: &str) -> Result<Option<(User, PasswordHash)>, StoreError>;

    /// The user's password hash; `None` when the user does not exist.
    async fn password_hash(&self, id: UserId) -> Result<Option<PasswordHash>, StoreError>;

    /// Replaces the user's password hash; `false` when the user does not exist.
    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<bool, StoreError>;

    /// Sets the display name; `None` when the user does not exist.
    async fn update_display_name(&self, id: UserId, name: &DisplayName) -> Result<Option<User>, StoreError>;
}
