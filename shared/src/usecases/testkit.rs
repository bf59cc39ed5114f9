//! Use cases wired to in-memory adapters, with a transparent hasher and token format so tests
//! run fast and read plainly.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::domain::{
    AccessClaims, AccessToken, Entry, LoginId, Password, PasswordHash, User, UserId, Username,
};
use crate::memory::{
    ManualClock, MemoryLoginAnnouncements, MemoryMessageLog, MemoryMessageStore, MemoryRefreshTokenStore,
    MemoryRevokedLogins, MemoryRoomStore, MemoryUserStore,
};
use crate::ports::{LoginSockets, MessageStore, PasswordHasher, TokenError, TokenIssuer, UserStore};
use crate::usecases::{
    AuthPorts, AuthService, LoginRevocations, MessageService, RoomPorts, RoomService, UserService,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Stores the password with a marker; only for tests, where hashing cost buys nothing.
struct MarkerHasher;

#[async_trait]
impl PasswordHasher for MarkerHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError> {
        Ok(PasswordHash::new(format!("plain:{}", password.expose())))
    }

    async fn verify(&self, password: &str, hash: Option<&PasswordHash>) -> Result<bool, BoxError> {
        Ok(hash.is_some_and(|h| h.as_str() == format!("plain:{password}")))
    }
}

/// Tokens of the form `user-id|expiry-seconds|login-id`.
struct PlainIssuer;

impl TokenIssuer for PlainIssuer {
    fn issue(&self, user: UserId, login: LoginId, now: DateTime<Utc>) -> AccessToken {
        let exp = (now + Duration::minutes(15)).timestamp();
        AccessToken { token: format!("{user}|{exp}|{login}"), expires_in_secs: 900 }
    }

    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        let mut parts = token.split('|');
        let mut next = || parts.next().ok_or(TokenError::Invalid);
        let user_id = next()?.parse().map_err(|_| TokenError::Invalid)?;
        let exp: i64 = next()?.parse().map_err(|_| TokenError::Invalid)?;
        let login = next()?.parse().map_err(|_| TokenError::Invalid)?;
        let expires_at = Utc.timestamp_opt(exp, 0).single().ok_or(TokenError::Invalid)?;
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(AccessClaims { user_id, expires_at, token_id: Uuid::nil(), login: Some(login) })
    }
}

/// The sockets of a node without any: records which logins it was told to close.
#[derive(Default)]
pub(crate) struct ClosedLogins(std::sync::Mutex<Vec<LoginId>>);

impl ClosedLogins {
    pub fn all(&self) -> Vec<LoginId> {
        self.0.lock().unwrap().clone()
    }
}

impl LoginSockets for ClosedLogins {
    fn close(&self, login: LoginId) -> usize {
        self.0.lock().unwrap().push(login);
        0
    }
}

pub(crate) struct Kit {
    pub clock: Arc<ManualClock>,
    pub issuer: Arc<dyn TokenIssuer>,
    pub revocations: Arc<LoginRevocations>,
    /// The revocation store the nodes share.
    pub revoked: Arc<MemoryRevokedLogins>,
    pub closed: Arc<ClosedLogins>,
    pub user_store: Arc<MemoryUserStore>,
    pub room_store: Arc<MemoryRoomStore>,
    pub token_store: Arc<MemoryRefreshTokenStore>,
    lease: std::time::Duration,
    pub auth: AuthService,
    pub users: UserService,
    pub rooms: Arc<RoomService>,
    /// Every user's feed, shared by the kit's nodes.
    pub feed: Arc<crate::memory::MemoryUserFeed>,
    /// The room events of the kit's first node.
    pub events: Arc<crate::memory::MemoryEventBus>,
    pub log: Arc<MemoryMessageLog>,
    pub store: Arc<MemoryMessageStore>,
    pub messages: MessageService,
    /// The outbox of webhook deliveries, shared by the kit's nodes and administration.
    pub webhooks: Arc<crate::usecases::WebhookOutbox>,
}

impl Kit {
    pub fn new() -> Self {
        Self::with_max_replay(1000)
    }

    pub fn with_max_replay(max_replay: usize) -> Self {
        Self::build(max_replay, std::time::Duration::ZERO)
    }

    /// Membership leases of `length` (none otherwise: every send asks the store).
    pub fn with_membership_lease(length: std::time::Duration) -> Self {
        Self::build(1000, length)
    }

    fn build(max_replay: usize, lease: std::time::Duration) -> Self {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()));
        let issuer: Arc<dyn TokenIssuer> = Arc::new(PlainIssuer);
        let webhook_store = Arc::new(crate::memory::MemoryWebhookStore::default());
        let user_store = Arc::new(MemoryUserStore::default().recording_events_in(webhook_store.clone()));
        let store = Arc::new(MemoryMessageStore::default());
        let room_store = Arc::new(
            MemoryRoomStore::counting_unread_in(store.clone()).recording_events_in(webhook_store.clone()),
        );
        let revoked = Arc::new(MemoryRevokedLogins::new(clock.clone()));
        let closed = Arc::new(ClosedLogins::default());
        let revocations = Arc::new(LoginRevocations::new(
            revoked.clone(),
            Arc::new(MemoryLoginAnnouncements::default()),
            closed.clone(),
            clock.clone(),
            Duration::minutes(15),
        ));
        let token_store = Arc::new(MemoryRefreshTokenStore::default());
        let ports = AuthPorts {
            users: user_store.clone(),
            tokens: token_store.clone(),
            hasher: Arc::new(MarkerHasher),
            issuer: issuer.clone(),
            revocations: revocations.clone(),
            clock: clock.clone(),
        };
        let auth = AuthService::new(ports, Duration::days(30));
        let events = Arc::new(crate::memory::MemoryEventBus::default());
        let feed = Arc::new(crate::memory::MemoryUserFeed::default());
        let webhooks = Arc::new(crate::usecases::WebhookOutbox::new(webhook_store, clock.clone()));
        let rooms = Arc::new(RoomService::new(
            RoomPorts {
                rooms: room_store.clone(),
                users: user_store.clone(),
                events: events.clone(),
                feed: feed.clone(),
                webhooks: webhooks.clone(),
                clock: clock.clone(),
            },
            crate::usecases::MembershipLeases::new(lease),
        ));
        let log = Arc::new(MemoryMessageLog::default());
        Kit {
            users: UserService::new(user_store.clone()),
            messages: MessageService::new(
                rooms.clone(),
                log.clone(),
                store.clone(),
                clock.clone(),
                max_replay,
            ),
            rooms,
            feed,
            events,
            webhooks,
            log,
            store,
            clock,
            issuer,
            revocations,
            revoked,
            closed,
            user_store,
            room_store,
            token_store,
            lease,
            auth,
        }
    }

    /// The room use cases as another node has them: the same stores, leases of its own.
    pub fn other_node_rooms(&self) -> RoomService {
        RoomService::new(
            RoomPorts {
                rooms: self.room_store.clone(),
                users: self.user_store.clone(),
                events: Arc::new(crate::memory::MemoryEventBus::default()),
                feed: self.feed.clone(),
                webhooks: self.webhooks.clone(),
                clock: self.clock.clone(),
            },
            crate::usecases::MembershipLeases::new(self.lease),
        )
    }

    /// Ends a membership in the store directly, behind the use cases' back, as another node
    /// does.
    pub async fn remove_from_store(&self, room: crate::domain::RoomId, user: UserId) {
        use crate::ports::RoomStore as _;
        let event = self.webhooks.event(crate::domain::EventType::MemberRemoved, ()).unwrap();
        assert!(self.room_store.remove_member(room, user, &event).await.unwrap(), "a member removed");
    }

    /// Stores a user directly and returns their id.
    pub async fn user(&self, name: &str) -> UserId {
        let user = User {
            id: UserId::generate(),
            username: Username::parse(name).unwrap(),
            display_name: crate::domain::DisplayName::parse(name).unwrap(),
            created_at: Utc::now(),
            role: crate::domain::UserRole::User,
            disabled_at: None,
        };
        self.user_store.insert(&user, &PasswordHash::new("x".into())).await.unwrap();
        user.id
    }

    /// A group room of `owner` with `members`.
    pub async fn group(&self, owner: UserId, members: Vec<UserId>) -> crate::domain::RoomId {
        let request = crate::usecases::NewRoom {
            name: Some(crate::domain::RoomName::parse("team").unwrap()),
            room_type: crate::domain::RoomType::Group,
            member_ids: members,
        };
        self.rooms.create(owner, request).await.unwrap().room.id
    }

    /// The command line's grants and the HTTP administration, over one audit log.
    pub fn admin(&self) -> (crate::usecases::RoleGrants, crate::usecases::AdminService) {
        let audit = Arc::new(crate::memory::MemoryAuditLog::default());
        let grants =
            crate::usecases::RoleGrants::new(self.user_store.clone(), audit.clone(), self.clock.clone());
        let ports = crate::usecases::AdminPorts {
            users: self.user_store.clone(),
            audit,
            tokens: self.token_store.clone(),
            revocations: self.revocations.clone(),
            messages: Arc::new(MessageService::new(
                self.rooms.clone(),
                self.log.clone(),
                self.store.clone(),
                self.clock.clone(),
                1000,
            )),
            api_keys: Arc::new(crate::memory::MemoryApiKeyStore::default()),
            webhooks: self.webhooks.clone(),
            webhook_hosts: crate::domain::WebhookHosts::default(),
            clock: self.clock.clone(),
        };
        (grants, crate::usecases::AdminService::new(ports))
    }

    /// Sends a plain text message as `sender` and returns it as stored.
    pub async fn send(
        &self,
        sender: UserId,
        room: crate::domain::RoomId,
        content: &str,
    ) -> crate::domain::Message {
        let request = crate::usecases::NewMessage {
            room,
            content: crate::domain::Content::parse(content).unwrap(),
            kind: crate::domain::MessageKind::text(),
            metadata: crate::domain::Metadata::default(),
            client_msg_id: None,
            first_attempt: false,
            reply_to: None,
        };
        self.messages.send(sender, request).await.unwrap().message
    }

    /// Moves everything in the log to the store and redacts the log, as the persister does.
    pub async fn persist_all(&self) {
        let newest = self.persist_unacknowledged().await;
        self.log.mark_persisted(newest);
    }

    /// What [`Kit::persist_all`] does short of acknowledging: the store holds it all and the
    /// log is redacted, but the log's progress is where it was. The seq of the newest entry.
    pub async fn persist_unacknowledged(&self) -> crate::domain::Seq {
        let entries = self.log.all();
        let (mut messages, mut changes, mut reactions) = (Vec::new(), Vec::new(), Vec::new());
        for entry in &entries {
            match entry {
                Entry::Message(message) => messages.push(message.clone()),
                Entry::Change(change) => changes.push(change.clone()),
                Entry::Reaction(reaction) => reactions.push(reaction.clone()),
            }
        }
        self.store.insert_batch(&messages).await.unwrap();
        self.store.apply_reactions(&reactions).await.unwrap();
        let redacted = self.store.apply_changes(&changes).await.unwrap();
        self.log.remove(&redacted.log_seqs);
        entries.last().map_or(0, Entry::seq)
    }
}
