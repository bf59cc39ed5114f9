use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::domain::{DirectoryCursor, DisplayName, SearchPrefix, User, UserId, Username};
use crate::error::Error;
use crate::ports::{DirectoryQuery, UserStore};

/// Users a directory page holds when the client names no `limit`.
pub const DEFAULT_DIRECTORY_PAGE: usize = 20;
/// The most users one directory page holds.
pub const MAX_DIRECTORY_PAGE: usize = 50;

/// The most usernames looked up at once: as many as a room's initial members.
pub const MAX_RESOLVED_USERNAMES: usize = 1000;

/// One page of a directory search; `next` resumes after its last user, and is `None` on the
/// last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPage {
    pub users: Vec<User>,
    pub next: Option<DirectoryCursor>,
}

/// Why usernames could not all be turned into ids.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// These usernames, in the order asked, name nobody.
    #[error("no user named {}", quoted(.0))]
    Unknown(Vec<Username>),
    #[error(transparent)]
    Failed(#[from] Error),
}

fn quoted(names: &[Username]) -> String {
    names.iter().map(|name| format!("{:?}", name.as_str())).collect::<Vec<_>>().join(", ")
}

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

    /// A page of the users whose username or display name starts with `prefix`, ordered by
    /// username. One more user than the page holds is read, so `next` is given only when
    /// another page has someone on it.
    pub async fn search(
        &self,
        prefix: SearchPrefix,
        after: Option<DirectoryCursor>,
        limit: usize,
    ) -> Result<DirectoryPage, Error> {
        directory_page(self.users.as_ref(), prefix, after, limit, false).await
    }

    /// The ids of the users `usernames` name (case-insensitively), in the order asked, in one
    /// lookup; a name repeated in any case gives its id once. Every one must exist.
    pub async fn resolve_usernames(&self, usernames: &[Username]) -> Result<Vec<UserId>, ResolveError> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let found: HashMap<String, UserId> = self
            .users
            .by_usernames(usernames)
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|user| (user.username.as_str().to_ascii_lowercase(), user.id))
            .collect();
        let mut seen = HashSet::with_capacity(usernames.len());
        let mut ids = Vec::with_capacity(usernames.len());
        let mut unknown = Vec::new();
        for name in usernames {
            match found.get(&name.as_str().to_ascii_lowercase()) {
                Some(id) if seen.insert(*id) => ids.push(*id),
                Some(_) => {}
                None => unknown.push(name.clone()),
            }
        }
        if unknown.is_empty() { Ok(ids) } else { Err(ResolveError::Unknown(unknown)) }
    }
}

/// A page of the users whose username or display name starts with `prefix`, disabled users
/// included only when asked (administrators' listing).
pub(super) async fn directory_page(
    users: &dyn UserStore,
    prefix: SearchPrefix,
    after: Option<DirectoryCursor>,
    limit: usize,
    include_disabled: bool,
) -> Result<DirectoryPage, Error> {
    let limit = limit.clamp(1, MAX_DIRECTORY_PAGE);
    let query = DirectoryQuery { prefix, after, limit: limit + 1, include_disabled };
    let mut users = users.search(&query).await?;
    let next = if users.len() > limit {
        users.truncate(limit);
        users.last().map(DirectoryCursor::after_user)
    } else {
        None
    };
    Ok(DirectoryPage { users, next })
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

    fn prefix(raw: &str) -> SearchPrefix {
        SearchPrefix::parse(raw).unwrap()
    }

    fn usernames(page: &DirectoryPage) -> Vec<&str> {
        page.users.iter().map(|u| u.username.as_str()).collect()
    }

    #[tokio::test]
    async fn a_search_finds_users_by_the_start_of_their_username_or_display_name_in_any_case() {
        let kit = Kit::new();
        let (_, bob) = (kit.user("Ann.Lee").await, kit.user("bob").await);
        kit.users.rename(bob, &DisplayName::parse("Élodie Annan").unwrap()).await.unwrap();
        kit.user("carl").await;
        let found = kit.users.search(prefix("ANN"), None, 20).await.unwrap();
        assert_eq!(usernames(&found), ["Ann.Lee"], "a display name matches at its start only");
        let found = kit.users.search(prefix("éLO"), None, 20).await.unwrap();
        assert_eq!(usernames(&found), ["bob"]);
        assert!(kit.users.search(prefix("nn"), None, 20).await.unwrap().users.is_empty());
    }

    #[tokio::test]
    async fn pages_of_a_search_neither_repeat_nor_skip_anyone_and_the_last_has_no_next() {
        let kit = Kit::new();
        for name in ["pa_e", "PA_C", "pa_a", "pa_d", "Pa_B", "other"] {
            kit.user(name).await;
        }
        let first = kit.users.search(prefix("pa_"), None, 2).await.unwrap();
        assert_eq!(usernames(&first), ["pa_a", "Pa_B"]);
        let second = kit.users.search(prefix("pa_"), first.next, 2).await.unwrap();
        assert_eq!(usernames(&second), ["PA_C", "pa_d"]);
        let last = kit.users.search(prefix("pa_"), second.next, 2).await.unwrap();
        assert_eq!((usernames(&last), &last.next), (vec!["pa_e"], &None));
        let exact = kit.users.search(prefix("pa_"), None, 5).await.unwrap();
        assert_eq!((exact.users.len(), exact.next), (5, None), "no next page without anyone on it");
    }

    #[tokio::test]
    async fn usernames_resolve_to_ids_in_the_order_asked_whatever_their_case_once_each() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("Bob").await);
        let names: Vec<Username> =
            ["BOB", "Ann", "bob"].iter().map(|n| Username::parse(n).unwrap()).collect();
        assert_eq!(kit.users.resolve_usernames(&names).await.unwrap(), [bob, ann]);
        assert!(kit.users.resolve_usernames(&[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn unknown_usernames_are_named_every_one() {
        let kit = Kit::new();
        kit.user("ann").await;
        let names: Vec<Username> =
            ["ghost", "ann", "nobody"].iter().map(|n| Username::parse(n).unwrap()).collect();
        let err = kit.users.resolve_usernames(&names).await.unwrap_err();
        assert!(matches!(&err, ResolveError::Unknown(unknown) if unknown.len() == 2), "{err:?}");
        assert_eq!(err.to_string(), r#"no user named "ghost", "nobody""#);
    }
}
