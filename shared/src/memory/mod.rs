//! In-process adapters: the storage of the embedded mode and of use-case tests.

mod clock;
mod messages;
mod presence;
mod rooms;
mod tokens;
mod users;

pub use clock::ManualClock;
pub use messages::{MemoryMessageLog, MemoryMessageStore};
pub use presence::{MemoryEventBus, MemoryPresenceStore};
pub use rooms::MemoryRoomStore;
pub use tokens::MemoryRefreshTokenStore;
pub use users::MemoryUserStore;
