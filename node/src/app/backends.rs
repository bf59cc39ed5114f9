//! What a mode connects: an adapter behind every port, the JWT key and the readiness probes.

use std::sync::Arc;

use chat_shared::ports::{
    ApiKeyStore, AuditLog, EventBus, LiveFeed, LoginAnnouncements, MessageLog, MessageStore, NewMessages,
    PresenceStore, Probe, RateLimiter, RefreshTokenStore, RevokedLogins, RoomStore, UserFeed, UserStore,
    WebhookStore,
};

/// The adapters a mode chose, each behind its port.
pub(super) struct Backends {
    pub users: Arc<dyn UserStore>,
    /// What administrators did.
    pub audit: Arc<dyn AuditLog>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// Registered webhooks and the outbox of their deliveries.
    pub webhooks: Arc<dyn WebhookStore>,
    /// The log's new messages, for `message.created`.
    pub new_messages: Arc<dyn NewMessages>,
    pub tokens: Arc<dyn RefreshTokenStore>,
    pub rooms: Arc<dyn RoomStore>,
    pub messages: Arc<dyn MessageStore>,
    pub log: Arc<dyn MessageLog>,
    pub live: Arc<dyn LiveFeed>,
    pub presence: Arc<dyn PresenceStore>,
    pub events: Arc<dyn EventBus>,
    /// Each user's events, to the nodes holding their sockets.
    pub feed: Arc<dyn UserFeed>,
    /// The abuse limits' counts, shared by every node of the deployment; `None` when this
    /// process is the whole deployment and counts in its own memory.
    pub limiter: Option<Arc<dyn RateLimiter>>,
    /// Ended logins, shared by the nodes, and the announcements of them.
    pub revoked: Arc<dyn RevokedLogins>,
    pub announcements: Arc<dyn LoginAnnouncements>,
    /// The HS256 key of access tokens.
    pub jwt_secret: Vec<u8>,
    /// What `/readyz` requires, and what it only reports as degraded when down.
    pub required: Vec<Arc<dyn Probe>>,
    pub optional: Vec<Arc<dyn Probe>>,
}
