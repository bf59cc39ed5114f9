//! API keys: how an application backend calls the cluster's server-to-server routes. A key has
//! scopes that say which routes it may call; only a hash of its secret is stored.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{ApiKeyId, UserId};
use super::invalid::Invalid;
use super::names::showable;
use super::token::{TokenHash, random_secret};

/// What a key may do; each server-to-server route needs one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
pub enum Scope {
    /// Send messages as a user.
    #[serde(rename = "messages:publish")]
    MessagesPublish,
    /// Create rooms and add members as a user.
    #[serde(rename = "rooms:write")]
    RoomsWrite,
    /// Read who is online.
    #[serde(rename = "users:read")]
    UsersRead,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MessagesPublish => "messages:publish",
            Scope::RoomsWrite => "rooms:write",
            Scope::UsersRead => "users:read",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "messages:publish" => Ok(Scope::MessagesPublish),
            "rooms:write" => Ok(Scope::RoomsWrite),
            "users:read" => Ok(Scope::UsersRead),
            _ => Err(Invalid::Scope),
        }
    }

    /// A list of scopes as a client sent it: at least one, each known; sorted, repeats dropped.
    pub fn parse_list<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>, Invalid> {
        let mut scopes = raw.into_iter().map(Scope::parse).collect::<Result<Vec<_>, _>>()?;
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(Invalid::NoScopes);
        }
        Ok(scopes)
    }
}

/// What people call a key, to tell keys apart: 1 to 100 showable characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        showable(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key as it is stored and shown: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: ApiKeyName,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    /// The administrator who made it.
    pub created_by: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn allows(&self, scope: Scope) -> bool {
        self.revoked_at.is_none() && self.scopes.contains(&scope)
    }
}

/// A key's secret as its holder sends it: `ck_` and 32 random bytes in base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    pub const PREFIX: &'static str = "ck_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, random_secret()))
    }

    /// Any string a caller presents; an unknown one matches no stored hash.
    pub fn from_client(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_are_sorted_without_repeats_and_never_empty() {
        let scopes = Scope::parse_list(["users:read", "messages:publish", "users:read"]).unwrap();
        assert_eq!(scopes, [Scope::MessagesPublish, Scope::UsersRead]);
        assert_eq!(Scope::parse_list([]), Err(Invalid::NoScopes));
        for bad in ["admin", "USERS:READ", "", "rooms:write "] {
            assert_eq!(Scope::parse_list([bad]), Err(Invalid::Scope), "{bad:?}");
        }
        for scope in [Scope::MessagesPublish, Scope::RoomsWrite, Scope::UsersRead] {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), scope.as_str());
        }
    }

    #[test]
    fn secrets_are_unique_prefixed_hash_stably_and_never_print() {
        let (a, b) = (ApiKeySecret::generate(), ApiKeySecret::generate());
        assert_ne!(a, b);
        assert!(a.expose().starts_with("ck_") && a.expose().len() == 3 + 43, "{}", a.expose());
        assert_eq!(a.hash(), ApiKeySecret::from_client(a.expose()).hash());
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
    }

    #[test]
    fn a_revoked_key_allows_nothing() {
        let mut key = ApiKey {
            id: ApiKeyId::generate(),
            name: ApiKeyName::parse(" billing ").unwrap(),
            scopes: vec![Scope::RoomsWrite],
            created_at: Utc::now(),
            created_by: None,
            revoked_at: None,
        };
        assert_eq!(key.name.as_str(), "billing");
        assert!(key.allows(Scope::RoomsWrite) && !key.allows(Scope::UsersRead));
        key.revoked_at = Some(Utc::now());
        assert!(!key.allows(Scope::RoomsWrite));
        assert_eq!(ApiKeyName::parse(&"x".repeat(101)), Err(Invalid::Length(1, 100)));
    }
}
