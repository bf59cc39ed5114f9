//! Ports: the traits through which use cases reach storage, crypto and time. Each adapter
//! translates its driver's errors into the error types documented here.

mod clock;
mod crypto;
mod messages;
mod presence;
mod rooms;
mod tokens;
mod users;

pub use clock::{Clock, SystemClock};
pub use crypto::{PasswordHasher, TokenError, TokenIssuer};
pub use messages::{
    Appended, LiveFeed, LiveMessage, LiveStream, LogError, MessageLog, MessageStore, PageQuery,
};
pub use presence::{EventBus, EventStream, OnlineChange, PresenceError, PresenceStore, RoomEvent};
pub use rooms::{AddMemberOutcome, DirectRoomOutcome, RoomStore, UNREAD_CAP};
pub use tokens::RefreshTokenStore;
pub use users::{InsertUserError, UserStore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The failure of a storage port, split by what a caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service cannot be reached or is refusing work; retrying later may succeed.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug, corrupt data, a violated invariant.
    #[error("store failure")]
    Other(#[source] BoxError),
}

impl StoreError {
    pub fn other(err: impl Into<BoxError>) -> Self {
        StoreError::Other(err.into())
    }

    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(err.into())
    }
}

/// A dependency a process needs to serve, checked by `/readyz`.
#[async_trait::async_trait]
pub trait Probe: Send + Sync {
    /// A short name for the reason text, e.g. `postgres`.
    fn name(&self) -> &'static str;
    /// `Ok` when the dependency answers; the error says why not.
    async fn check(&self) -> Result<(), ProbeError>;
}

/// Why a dependency failed its readiness check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No connection to it is up.
    #[error("unreachable")]
    Unreachable,
    /// The client is (re)connecting.
    #[error("connecting")]
    Connecting,
    /// It answered the check with an error.
    #[error("{0}")]
    Failed(String),
}
