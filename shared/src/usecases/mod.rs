//! Use cases: each public method is one thing a client can ask for, with its rules.

mod admin;
mod api_keys;
mod auth;
mod bulk_deletion;
mod leases;
mod limits;
mod logins;
mod message_changes;
mod message_webhooks;
mod messages;
mod moderation;
mod presence;
mod reactions;
mod replies;
mod rooms;
mod system_messages;
mod unread_counts;
mod users;
mod webhook_delivery;
mod webhook_outbox;
mod webhooks;

pub use admin::{AdminPorts, AdminService, AuditPage, DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE, RoleGrants};
pub use api_keys::{IssuedApiKey, require_scope};
pub use auth::{AuthPorts, AuthService, Registration, Session};
pub use bulk_deletion::{BulkDeletion, DEFAULT_BULK_DELETION, MAX_BULK_DELETION};
pub use leases::MembershipLeases;
pub use limits::{AbuseLimits, Limit, LimitSettings};
pub use logins::LoginRevocations;
pub use message_changes::{Changed, MessageEdit};
pub use message_webhooks::{MessageWebhooks, MessagesHandled};
pub use messages::{DEFAULT_PAGE, MAX_PAGE, MessageService, NewMessage, Page, Replay, Sent};
pub use moderation::{MAX_MODERATION_SECS, NewBan};
pub use presence::{Availability, Online, PresenceService, PresenceSettings};
pub use reactions::{MAX_EMOJIS_PER_MESSAGE, Reacted};
pub use rooms::{MemberAdded, NewRoom, RoomCreated, RoomPorts, RoomService};
pub use unread_counts::UnreadCounts;
pub use users::{
    DEFAULT_DIRECTORY_PAGE, DirectoryPage, MAX_DIRECTORY_PAGE, MAX_RESOLVED_USERNAMES, ResolveError,
    UserService,
};
pub use webhook_delivery::{Attempted, DeliveryResult, WebhookDispatcher};
pub use webhook_outbox::WebhookOutbox;
pub use webhooks::{DEFAULT_DELIVERY_PAGE, MAX_DELIVERY_PAGE, RegisteredWebhook};

#[cfg(test)]
pub(crate) mod testkit;
