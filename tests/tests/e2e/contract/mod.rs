//! Port contracts: each port's behaviour as a set of functions over the port's trait
//! objects, run against every adapter of it, so the embedded mode's SQLite and in-memory
//! adapters, and the in-memory ones that use-case tests run on, keep the semantics of the
//! cluster's PostgreSQL, JetStream, Redis and NATS ones.

/// Runs each contract function (an `async fn(&Fixture)`) once per backend, as a test of the
/// same name in a module named after the backend: `users::sqlite::a_username_is_taken_...`.
macro_rules! contract_tests {
    ($fixture:ident [$($backend:ident),+] $names:tt) => {
        $( contract_tests!(@backend $fixture $backend $names); )+
    };
    (@backend $fixture:ident $backend:ident [$($name:ident),+ $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $name() {
                    let fixture = super::$fixture::$backend().await;
                    super::$name(&fixture).await;
                }
            )+
        }
    };
}

mod api_keys;
mod changes;
mod events;
mod limits;
mod log;
mod login_announcements;
mod messages;
mod presence;
mod reactions;
mod replies;
mod revoked_logins;
mod rooms;
mod tokens;
mod users;
mod webhooks;

use std::any::Any;
use std::sync::Arc;

use chat_adapters::postgres::{
    self, PgApiKeyStore, PgAuditLog, PgMessageStore, PgRefreshTokenStore, PgRoomStore, PgUserStore,
    PgWebhookStore,
};
use chat_adapters::sqlite::{
    SqliteApiKeyStore, SqliteAuditLog, SqliteDb, SqliteMessageStore, SqliteRefreshTokenStore,
    SqliteRoomStore, SqliteUserStore, SqliteWebhookStore,
};
use chat_shared::domain::{
    ClientMsgId, Content, DisplayName, EventType, Message, MessageId, MessageKind, Metadata, PasswordHash,
    PostPolicy, Role, Room, RoomId, RoomName, RoomType, User, UserId, UserRole, Username, WebhookEvent,
};
use chat_shared::memory::{
    MemoryApiKeyStore, MemoryAuditLog, MemoryMessageStore, MemoryRefreshTokenStore, MemoryRoomStore,
    MemoryUserStore, MemoryWebhookStore,
};
use chat_shared::ports::{
    ApiKeyStore, AuditLog, Clock, MessageStore, RefreshTokenStore, RoomStore, SystemClock, UserStore,
    WebhookStore,
};
use chat_tests::TestDatabase;
use chat_tests::embedded::DataDir;

/// The four stores of one fresh database.
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub tokens: Arc<dyn RefreshTokenStore>,
    pub rooms: Arc<dyn RoomStore>,
    pub messages: Arc<dyn MessageStore>,
    pub audit: Arc<dyn AuditLog>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    /// The database or folder, removed when the test ends.
    place: Box<dyn Any + Send + Sync>,
}

impl Stores {
    /// On a migrated PostgreSQL database of this test's own.
    pub async fn postgres() -> Self {
        let db = TestDatabase::create().await.expect("a test database");
        postgres::migrate(&db.pool).await.expect("migrations");
        let pool = db.pool.clone();
        Self {
            users: Arc::new(PgUserStore::new(pool.clone())),
            tokens: Arc::new(PgRefreshTokenStore::new(pool.clone())),
            rooms: Arc::new(PgRoomStore::new(pool.clone())),
            messages: Arc::new(PgMessageStore::new(pool.clone())),
            audit: Arc::new(PgAuditLog::new(pool.clone())),
            api_keys: Arc::new(PgApiKeyStore::new(pool.clone())),
            webhooks: Arc::new(PgWebhookStore::new(pool)),
            place: Box::new(db),
        }
    }

    /// On a migrated SQLite database in a folder of this test's own.
    pub async fn sqlite() -> Self {
        let dir = DataDir::new();
        let db = open_sqlite(&dir).await;
        Self {
            users: Arc::new(SqliteUserStore::new(db.clone())),
            tokens: Arc::new(SqliteRefreshTokenStore::new(db.clone())),
            rooms: Arc::new(SqliteRoomStore::new(db.clone())),
            messages: Arc::new(SqliteMessageStore::new(db.clone())),
            audit: Arc::new(SqliteAuditLog::new(db.clone())),
            api_keys: Arc::new(SqliteApiKeyStore::new(db.clone())),
            webhooks: Arc::new(SqliteWebhookStore::new(db)),
            place: Box::new(dir),
        }
    }

    /// On the in-memory stores.
    pub async fn memory() -> Self {
        let messages = Arc::new(MemoryMessageStore::default());
        let webhooks = Arc::new(MemoryWebhookStore::default());
        Self {
            users: Arc::new(MemoryUserStore::default().recording_events_in(webhooks.clone())),
            tokens: Arc::new(MemoryRefreshTokenStore::default()),
            rooms: Arc::new(
                MemoryRoomStore::counting_unread_in(messages.clone()).recording_events_in(webhooks.clone()),
            ),
            messages,
            audit: Arc::new(MemoryAuditLog::default()),
            api_keys: Arc::new(MemoryApiKeyStore::default()),
            webhooks,
            place: Box::new(()),
        }
    }

    /// Runs `sql` on the database itself, behind the stores' back (PostgreSQL and SQLite only).
    pub async fn execute(&self, sql: &str) {
        if let Some(db) = self.place.downcast_ref::<TestDatabase>() {
            sqlx::query(sql).execute(&db.pool).await.expect("the statement runs");
        } else if let Some(dir) = self.place.downcast_ref::<DataDir>() {
            use sqlx::Connection;
            let path = dir.path.join("chat.db");
            let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("the database opens");
            sqlx::query(sql).execute(&mut db).await.expect("the statement runs");
        } else {
            panic!("no database to run {sql} on");
        }
    }

    /// A stored user named `name`.
    pub async fn user(&self, name: &str) -> UserId {
        let user = new_user(name);
        self.users.insert(&user, &PasswordHash::new(format!("hash of {name}"))).await.expect("a new user");
        user.id
    }

    /// A stored group room of `owner` with `members`.
    pub async fn group(&self, owner: UserId, members: &[UserId]) -> RoomId {
        let room = new_room(owner, RoomType::Group);
        let mut participants = vec![(owner, Role::Owner)];
        participants.extend(members.iter().map(|m| (*m, Role::Member)));
        let event = new_event(EventType::RoomCreated, room.created_at);
        self.rooms.create(&room, &participants, &event).await.expect("a new room");
        room.id
    }
}

/// A migrated SQLite database in `dir`, created if missing.
pub async fn open_sqlite(dir: &DataDir) -> SqliteDb {
    std::fs::create_dir_all(&dir.path).expect("a data folder");
    let db = SqliteDb::open(&dir.path.join("chat.db")).await.expect("an SQLite database");
    db.migrate().await.expect("migrations");
    db
}

pub fn now() -> chrono::DateTime<chrono::Utc> {
    SystemClock.now()
}

pub fn new_user(name: &str) -> User {
    let username = Username::parse(name).unwrap();
    User {
        id: UserId::generate(),
        display_name: DisplayName::from_username(&username),
        username,
        created_at: now(),
        role: UserRole::User,
        disabled_at: None,
    }
}

pub fn new_room(owner: UserId, room_type: RoomType) -> Room {
    Room {
        id: RoomId::generate(),
        name: RoomName::parse("a room").unwrap(),
        topic: None,
        post_policy: PostPolicy::Everyone,
        room_type,
        created_by: owner,
        created_at: now(),
        is_active: true,
    }
}

/// An event of `event_type` happening `at`, as a change hands it to a store (when no webhook
/// wants it, recording it enqueues nothing).
pub fn new_event(event_type: EventType, at: chrono::DateTime<chrono::Utc>) -> WebhookEvent {
    WebhookEvent {
        id: uuid::Uuid::now_v7(),
        event_type,
        created_at: at,
        data: serde_json::json!({"ünïcode": "✓", "n": 1}),
    }
}

/// A message of `room` as the log receives it (its seq is for the store to keep, if any).
pub fn new_message(room: RoomId, seq: u64, content: &str, client_id: Option<&str>) -> Message {
    Message {
        id: MessageId::generate(),
        room_id: room,
        seq,
        sender_id: UserId::generate(),
        content: Content::parse(content).unwrap(),
        kind: MessageKind::text(),
        metadata: Metadata::default(),
        client_msg_id: client_id.map(|c| ClientMsgId::parse(c).unwrap()),
        created_at: now(),
        edited_at: None,
        deleted: false,
        deleted_by: None,
        deleted_at: None,
        changed_seq: 0,
        reactions: Vec::new(),
        reactions_seq: 0,
        reply_to: None,
        reply_count: 0,
    }
}
