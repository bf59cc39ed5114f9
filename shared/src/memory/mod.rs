//! In-process adapters: the embedded mode's presence and room events, and (with the
//! `test-support` feature) the stores, log and clock of tests. Each is checked by the same port
//! contract tests as the adapters over real services (`tests/tests/e2e/contract/`).

#[cfg(any(test, feature = "test-support"))]
mod clock;
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
pub use clock::ManualClock;
#[cfg(any(test, feature = "test-support"))]
pub use messages::{MemoryMessageLog, MemoryMessageStore};
pub use presence::{MemoryEventBus, MemoryPresenceStore};
#[cfg(any(test, feature = "test-support"))]
pub use rooms::MemoryRoomStore;
#[cfg(any(test, feature = "test-support"))]
pub use tokens::MemoryRefreshTokenStore;
#[cfg(any(test, feature = "test-support"))]
pub use users::MemoryUserStore;

/// A broadcast receiver as a stream. A receiver that fell behind skips what it missed: live
/// feeds are at most once, and their consumers detect and fill gaps themselves. Public for the
/// other in-process feeds (the embedded mode's SQLite log).
pub fn broadcast_stream<T: Clone + Send + 'static>(
    receiver: tokio::sync::broadcast::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    use tokio::sync::broadcast::error::RecvError;
    futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(item) => return Some((item, receiver)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
