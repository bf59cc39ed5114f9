//! Domain types. Every constructor validates, so a value that exists is a valid one.

mod api_key;
mod audit;
mod change;
mod chars;
mod directory;
mod ids;
mod invalid;
mod message;
mod moderation;
mod names;
mod reaction;
mod reply;
mod room;
mod sent_cursor;
mod timestamp;
mod token;
mod user;
mod webhook;

pub use api_key::{ApiKey, ApiKeyName, ApiKeySecret, Scope};
pub use audit::{AuditAction, AuditEntry};
pub use change::{Change, ChangeKind, Entry, apply_change};
pub use directory::{DirectoryCursor, SearchPrefix};
pub use ids::{ApiKeyId, DeliveryId, LoginId, MessageId, RoomId, Seq, SocketId, UserId, WebhookId};
pub use invalid::Invalid;
pub use message::{ClientMsgId, Content, Message, MessageKind, Metadata, ReplyTo};
pub use moderation::{Ban, BanReason, PostPolicy};
pub use reaction::{Emoji, Reaction, ReactionCount, ReactionKey};
pub use room::{Participant, Role, Room, RoomName, RoomSummary, RoomTopic, RoomType, SenderStanding};
pub use sent_cursor::SentCursor;
pub use token::{AccessClaims, AccessToken, RefreshToken, RefreshTokenRecord, TokenHash};
pub use user::{DisplayName, Password, PasswordHash, User, UserRole, Username};
pub use webhook::{
    Delivery, DeliveryStatus, EventType, RetryPolicy, Webhook, WebhookEvent, WebhookHosts, WebhookSecret,
    WebhookUrl,
};
