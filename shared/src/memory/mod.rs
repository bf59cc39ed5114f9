//! In-process adapters: the embedded mode's presence, room events, rate limits and ended logins,
//! and (with the
//! `test-support` feature) the stores, log and clock of tests. Each is checked by the same port
//! contract tests as the adapters over real services (`tests/tests/e2e/contract/`).

#[cfg(any(test, feature = "test-support"))]
mod api_keys;
mod audit;
mod broadcast;
#[cfg(any(test, feature = "test-support"))]
mod clock;
mod feed;
mod limiter;
mod logins;
#[cfg(any(test, feature = "test-support"))]
mod messages;
mod presence;
#[cfg(any(test, feature = "test-support"))]
mod rooms;
#[cfg(any(test, feature = "test-support"))]
mod tokens;
#[cfg(any(test, feature = "test-support"))]
mod users;
#[cfg(any(test, feature = "test-support"))]
mod webhooks;

#[cfg(any(test, feature = "test-support"))]
pub use api_keys::MemoryApiKeyStore;
pub use audit::MemoryAuditLog;
pub use broadcast::broadcast_stream;
#[cfg(any(test, feature = "test-support"))]
pub use clock::{ManualClock, TokioClock};
pub use feed::MemoryUserFeed;
pub use limiter::MemoryRateLimiter;
pub use logins::{MemoryLoginAnnouncements, MemoryRevokedLogins};
#[cfg(any(test, feature = "test-support"))]
pub use messages::{MemoryMessageLog, MemoryMessageStore};
pub use presence::{MemoryEventBus, MemoryPresenceStore};
#[cfg(any(test, feature = "test-support"))]
pub use rooms::MemoryRoomStore;
#[cfg(any(test, feature = "test-support"))]
pub use tokens::MemoryRefreshTokenStore;
#[cfg(any(test, feature = "test-support"))]
pub use users::MemoryUserStore;
#[cfg(any(test, feature = "test-support"))]
pub use webhooks::MemoryWebhookStore;
