use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::errors::BoxError;
use crate::domain::{AccessClaims, AccessToken, LoginId, Password, PasswordHash, UserId};

/// Hashes and checks passwords. Implementations must keep the async runtime responsive (hash
/// off the runtime's worker threads) and bound how many hashes run at once.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError>;

    /// Whether `password` matches `hash`. With `None` it spends the same work as a real check and
    /// answers `false`, so an unknown username costs as much as a wrong password.
    async fn verify(&self, password: &str, hash: Option<&PasswordHash>) -> Result<bool, BoxError>;
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// Issues and verifies signed access tokens. Pure computation: no I/O.
pub trait TokenIssuer: Send + Sync {
    /// A token of `user`'s `login`, valid from `now` for the issuer's lifetime.
    fn issue(&self, user: UserId, login: LoginId, now: DateTime<Utc>) -> AccessToken;
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError>;
}
