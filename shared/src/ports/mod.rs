//! Ports: the traits through which use cases reach storage, crypto, time and the other nodes. Each adapter
//! translates its driver's errors into the error types documented here.

mod api_keys;
mod audit;
mod clock;
mod crypto;
mod errors;
mod feed;
mod limits;
mod logins;
mod messages;
mod presence;
mod probe;
mod rooms;
mod tokens;
mod users;
mod webhooks;

pub use api_keys::{ApiKeyStore, KeyRevocation};
pub use audit::AuditLog;
pub use clock::{Clock, SystemClock};
pub use crypto::{PasswordHasher, TokenError, TokenIssuer};
pub use errors::StoreError;
pub use feed::{FeedError, UserEvent, UserEventStream, UserFeed};
pub use limits::{Decision, LimitSetting, Quota, QuotaError, RateLimiter};
pub use logins::{
    LoginAnnouncements, LoginEnded, LoginEndedStream, LoginSockets, RevocationError, RevokedLogins,
};
pub use messages::{
    Appended, LiveEntry, LiveFeed, LiveStream, LogError, MessageLog, MessageRef, MessageStore, PageQuery,
    ReactionTally, Redacted, StoredReactions,
};
pub use presence::{EventBus, EventStream, OnlineChange, PresenceError, PresenceStore, RoomEvent};
pub use probe::{Probe, ProbeError};
pub use rooms::{AddMemberOutcome, DirectRoomOutcome, RoomStore, RoomUpdate, UNREAD_CAP};
pub use tokens::RefreshTokenStore;
pub use users::{DirectoryQuery, InsertUserError, UserStore};
pub use webhooks::{
    AttemptOutcome, AttemptResult, DueDelivery, NewMessage, NewMessages, Receipt, SendError, WebhookSender,
    WebhookStore,
};
