use std::sync::Arc;

use crate::domain::{DisplayName, User, UserId};
use crate::error::Error;
use crate::ports::UserStore;

/// Reading and editing profiles.
pub struct UserService {
    users: Arc<dyn UserStore>,
}

impl UserService {
    pub fn new(users: Arc<dyn UserStore>) -> Self {
        Self { users }
    }

    /// The caller's own profile. A token for a user that no longer exists is no longer valid.
    pub async fn me(&self, caller: UserId) -> Result<User, Error> {
        self.users.by_id(caller).await?.ok_or(Error::Unauthorized)
    }

    pub async fn get(&self, id: UserId) -> Result<User, Error> {
        self.users.by_id(id).await?.ok_or(Error::NotFound("user"))
    }

    pub async fn rename(&self, caller: UserId, name: &DisplayName) -> Result<User, Error> {
        self.users.update_display_name(caller, name).await?.ok_or(Error::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::testkit::Kit;

    #[tokio::test]
    async fn a_user_can_rename_themselves() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let renamed = kit.users.rename(ann, &DisplayName::parse("Ann A.").unwrap()).await.unwrap();
        assert_eq!(renamed.display_name.as_str(), "Ann A.");
        assert_eq!(kit.users.get(ann).await.unwrap().display_name.as_str(), "Ann A.");
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let kit = Kit::new();
        assert!(matches!(kit.users.get(UserId::generate()).await, Err(Error::NotFound(_))));
        assert!(matches!(kit.users.me(UserId::generate()).await, Err(Error::Unauthorized)));
    }
}
