//! Ended logins: remembered for as long as their access tokens can live, and announced to every
//! node so that each one closes the login's sockets.

use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};

use super::errors::BoxError;
use crate::domain::{LoginId, UserId};

/// The failure of the revocation store or of the announcements. The caller decides what a
/// missing answer means: a check accepts the token unless this node heard of its revocation.
#[derive(Debug, thiserror::Error)]
#[error("login revocations unavailable")]
pub struct RevocationError(#[source] pub BoxError);

impl RevocationError {
    pub fn new(err: impl Into<BoxError>) -> Self {
        Self(err.into())
    }
}

/// A login that ended (logout, a replayed refresh token, a password change elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginEnded {
    pub login: LoginId,
    pub user: UserId,
}

/// The logins that ended while their access tokens may still be presented, shared by every
/// node (Redis in a cluster). An entry is needed only until the login's last access token
/// expires, and is forgotten after it.
#[async_trait]
pub trait RevokedLogins: Send + Sync {
    /// Remembers that `login` ended, at least until `until`.
    async fn revoke(&self, login: LoginId, until: DateTime<Utc>) -> Result<(), RevocationError>;

    /// Whether `login` ended (and `until` has not passed).
    async fn is_revoked(&self, login: LoginId) -> Result<bool, RevocationError>;
}

pub type LoginEndedStream = Pin<Box<dyn Stream<Item = LoginEnded> + Send>>;

/// Tells every node, this one included, that a login ended (core NATS in a cluster): at most
/// once, to those subscribed at the time.
#[async_trait]
pub trait LoginAnnouncements: Send + Sync {
    async fn announce(&self, ended: &LoginEnded) -> Result<(), RevocationError>;

    /// Starts receiving announcements. Dropping the stream ends the subscription.
    async fn subscribe(&self) -> Result<LoginEndedStream, RevocationError>;
}

/// The sockets a node holds, by the login they authenticated with.
pub trait LoginSockets: Send + Sync {
    /// Closes every socket of `login` on this node (close code 4001), and returns how many.
    fn close(&self, login: LoginId) -> usize;
}
