use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::errors::StoreError;
use crate::domain::{
    DirectoryCursor, DisplayName, PasswordHash, SearchPrefix, User, UserId, UserRole, Username, WebhookEvent,
};

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// Another user has the same username, compared case-insensitively.
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a directory search: users whose username or display name starts with `prefix`,
/// compared lower-cased, ordered by lower-cased username, after `after`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryQuery {
    pub prefix: SearchPrefix,
    pub after: Option<DirectoryCursor>,
    pub limit: usize,
    /// Lists disabled users too (administrators' listing); the directory never does.
    pub include_disabled: bool,
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

    /// Disables the user from `at` (`None` enables them again) and returns them as they stand;
    /// `None` when there is no such user. `event`, if any, is recorded in the same transaction,
    /// as [`super::RoomStore`]'s changes record theirs: only when the user exists.
    async fn set_disabled(
        &self,
        id: UserId,
        at: Option<DateTime<Utc>>,
        event: Option<&WebhookEvent>,
    ) -> Result<Option<User>, StoreError>;

    /// Gives the user (by username, case-insensitively) a role and returns them as they stand;
    /// `None` when nobody has that username.
    async fn set_role(&self, username: &Username, role: UserRole) -> Result<Option<User>, StoreError>;

    /// Sets the display name; `None` when the user does not exist.
    async fn update_display_name(&self, id: UserId, name: &DisplayName) -> Result<Option<User>, StoreError>;

    /// The users `query` finds, in its order. Usernames compare ASCII case-insensitively (they
    /// are ASCII); display names as the store lower-cases text (PostgreSQL: `lower()` under the
    /// database's locale; SQLite: ASCII letters only; in memory: Unicode). The prefix matches
    /// literally: no character in it is a wildcard.
    async fn search(&self, query: &DirectoryQuery) -> Result<Vec<User>, StoreError>;

    /// The users among `usernames` (compared case-insensitively) that exist, in no particular
    /// order, in one lookup however many are asked for.
    async fn by_usernames(&self, usernames: &[Username]) -> Result<Vec<User>, StoreError>;
}
