//! Rows of the tables both relational backends share, PostgreSQL and SQLite, and their
//! conversion to domain values: the columns, their types and the checks on the way out are
//! the same in both, only the SQL differs.

use chat_shared::domain::{
    ApiKey, ApiKeyId, ApiKeyName, AuditEntry, Ban, BanReason, ClientMsgId, Content, Delivery, DeliveryId,
    DeliveryStatus, DisplayName, EventType, Message, MessageId, MessageKind, Metadata, Participant,
    RefreshTokenRecord, ReplyTo, Room, RoomId, RoomName, RoomSummary, RoomTopic, Scope, Seq, TokenHash, User,
    UserId, Username, Webhook, WebhookId, WebhookSecret, WebhookUrl,
};
use chat_shared::ports::{AttemptOutcome, AttemptResult, DueDelivery, StoreError};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A stored value that no longer parses as a domain value: corrupt data, never user error.
pub(crate) fn corrupt(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::other(format!("stored {what} is invalid: {reason}"))
}

/// Sequence numbers are u64 in the domain and bigint in PostgreSQL; JetStream sequences stay far
/// below 2^63, and negatives never occur, so clamping only guards against corrupt rows.
pub(crate) fn seq_from_db(seq: i64) -> Seq {
    seq.max(0) as Seq
}

pub(crate) fn seq_to_db(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) role: String,
    pub(crate) disabled_at: Option<DateTime<Utc>>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: UserId::from_uuid(row.id),
            username: Username::parse(&row.username).map_err(|e| corrupt("username", e))?,
            display_name: DisplayName::parse(&row.display_name).map_err(|e| corrupt("display name", e))?,
            created_at: row.created_at,
            role: row.role.parse().map_err(|e| corrupt("user role", e))?,
            disabled_at: row.disabled_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    #[sqlx(flatten)]
    pub(crate) user: UserRow,
    pub(crate) password_hash: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) family_id: Uuid,
    pub(crate) token_hash: Vec<u8>,
    pub(crate) issued_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) used_at: Option<DateTime<Utc>>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for RefreshTokenRecord {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        let hash: [u8; 32] = row.token_hash.try_into().map_err(|_| corrupt("token hash", "not 32 bytes"))?;
        Ok(RefreshTokenRecord {
            id: row.id,
            user_id: UserId::from_uuid(row.user_id),
            family_id: row.family_id,
            token_hash: TokenHash(hash),
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RoomRow {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) topic: Option<String>,
    pub(crate) post_policy: String,
    #[sqlx(rename = "type")]
    pub(crate) room_type: String,
    pub(crate) created_by: Uuid,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) is_active: bool,
}

impl TryFrom<RoomRow> for Room {
    type Error = StoreError;

    fn try_from(row: RoomRow) -> Result<Self, StoreError> {
        Ok(Room {
            id: RoomId::from_uuid(row.id),
            name: RoomName::parse(&row.name).map_err(|e| corrupt("room name", e))?,
            topic: row
                .topic
                .as_deref()
                .map(RoomTopic::parse)
                .transpose()
                .map_err(|e| corrupt("room topic", e))?,
            post_policy: row.post_policy.parse().map_err(|e| corrupt("post policy", e))?,
            room_type: row.room_type.parse().map_err(|e| corrupt("room type", e))?,
            created_by: UserId::from_uuid(row.created_by),
            created_at: row.created_at,
            is_active: row.is_active,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ParticipantRow {
    pub(crate) user_id: Uuid,
    pub(crate) role: String,
    pub(crate) joined_at: DateTime<Utc>,
    pub(crate) last_read_seq: i64,
    pub(crate) muted_until: Option<DateTime<Utc>>,
}

impl TryFrom<ParticipantRow> for Participant {
    type Error = StoreError;

    fn try_from(row: ParticipantRow) -> Result<Self, StoreError> {
        Ok(Participant {
            user_id: UserId::from_uuid(row.user_id),
            role: row.role.parse().map_err(|e| corrupt("role", e))?,
            joined_at: row.joined_at,
            last_read_seq: seq_from_db(row.last_read_seq),
            muted_until: row.muted_until,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    #[sqlx(flatten)]
    pub(crate) room: RoomRow,
    pub(crate) role: String,
    pub(crate) last_read_seq: i64,
    pub(crate) unread_count: i64,
    pub(crate) muted_until: Option<DateTime<Utc>>,
}

impl TryFrom<SummaryRow> for RoomSummary {
    type Error = StoreError;

    fn try_from(row: SummaryRow) -> Result<Self, StoreError> {
        Ok(RoomSummary {
            room: row.room.try_into()?,
            role: row.role.parse().map_err(|e| corrupt("role", e))?,
            last_read_seq: seq_from_db(row.last_read_seq),
            unread_count: row.unread_count.max(0) as u64,
            muted_until: row.muted_until,
        })
    }
}

pub(crate) const ROOM_COLUMNS: &str =
    "r.id, r.name, r.topic, r.post_policy, r.type, r.created_by, r.created_at, r.is_active";
pub(crate) const PARTICIPANT_COLUMNS: &str = "p.user_id, p.role, p.joined_at, p.last_read_seq, p.muted_until";
pub(crate) const BAN_COLUMNS: &str = "room_id, user_id, banned_by, reason, created_at, expires_at";

#[derive(sqlx::FromRow)]
pub(crate) struct BanRow {
    pub(crate) room_id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) banned_by: Uuid,
    pub(crate) reason: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

impl TryFrom<BanRow> for Ban {
    type Error = StoreError;

    fn try_from(row: BanRow) -> Result<Self, StoreError> {
        Ok(Ban {
            room_id: RoomId::from_uuid(row.room_id),
            user_id: UserId::from_uuid(row.user_id),
            banned_by: UserId::from_uuid(row.banned_by),
            reason: row
                .reason
                .as_deref()
                .map(BanReason::parse)
                .transpose()
                .map_err(|e| corrupt("ban reason", e))?,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

/// The key that makes a direct room unique per pair, whichever of the two created it.
pub(crate) fn direct_key(a: UserId, b: UserId) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

pub(crate) const MESSAGE_COLUMNS: &str = "id, room_id, seq, sender_id, content, kind, metadata, client_msg_id, \
     created_at, edited_at, deleted_by, deleted_at, changed_seq, reply_to_id, reply_to_seq, reply_to_sender_id";

/// A `messages` row. `M` is how the backend hands back the metadata column: PostgreSQL's jsonb
/// as a JSON value, SQLite's text as a string.
#[derive(sqlx::FromRow, Clone)]
pub(crate) struct MessageRow<M> {
    id: Uuid,
    pub(crate) room_id: Uuid,
    pub(crate) seq: i64,
    sender_id: Uuid,
    content: String,
    kind: String,
    metadata: Option<M>,
    pub(crate) client_msg_id: Option<String>,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
    /// Set, with `deleted_at`, on a deleted message's tombstone.
    deleted_by: Option<Uuid>,
    deleted_at: Option<DateTime<Utc>>,
    changed_seq: i64,
    /// The parent of a reply: all three set, or none.
    reply_to_id: Option<Uuid>,
    reply_to_seq: Option<i64>,
    reply_to_sender_id: Option<Uuid>,
}

/// A metadata column as the backend decodes it.
pub(crate) trait MetadataColumn {
    fn into_json(self) -> Result<serde_json::Value, StoreError>;
}

impl MetadataColumn for serde_json::Value {
    fn into_json(self) -> Result<serde_json::Value, StoreError> {
        Ok(self)
    }
}

impl MetadataColumn for String {
    fn into_json(self) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&self).map_err(|e| corrupt("metadata", e))
    }
}

impl<M: MetadataColumn> TryFrom<MessageRow<M>> for Message {
    type Error = StoreError;

    fn try_from(row: MessageRow<M>) -> Result<Self, StoreError> {
        let metadata = row.metadata.map(MetadataColumn::into_json).transpose()?;
        let deleted = row.deleted_at.is_some();
        Ok(Message {
            id: MessageId::from_uuid(row.id),
            room_id: RoomId::from_uuid(row.room_id),
            seq: seq_from_db(row.seq),
            sender_id: UserId::from_uuid(row.sender_id),
            content: if deleted {
                Content::redacted()
            } else {
                Content::parse(&row.content).map_err(|e| corrupt("content", e))?
            },
            kind: MessageKind::parse(&row.kind).map_err(|e| corrupt("kind", e))?,
            metadata: Metadata::parse(metadata).map_err(|e| corrupt("metadata", e))?,
            client_msg_id: row
                .client_msg_id
                .map(|c| ClientMsgId::parse(&c))
                .transpose()
                .map_err(|e| corrupt("client_msg_id", e))?,
            created_at: row.created_at,
            edited_at: row.edited_at,
            deleted,
            deleted_by: row.deleted_by.map(UserId::from_uuid),
            deleted_at: row.deleted_at,
            changed_seq: seq_from_db(row.changed_seq),
            reactions: Vec::new(),
            reactions_seq: 0,
            reply_to: match (row.reply_to_id, row.reply_to_seq, row.reply_to_sender_id) {
                (Some(id), Some(seq), Some(sender)) => Some(Box::new(ReplyTo {
                    id: MessageId::from_uuid(id),
                    seq: seq_from_db(seq),
                    sender_id: UserId::from_uuid(sender),
                    content: None,
                    deleted: false,
                })),
                (None, None, None) => None,
                _ => return Err(corrupt("reply_to", "partly set")),
            },
            reply_count: 0,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub(crate) id: Uuid,
    pub(crate) at: DateTime<Utc>,
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) action: String,
    pub(crate) target_user_id: Option<Uuid>,
    pub(crate) detail: Option<String>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            id: row.id,
            at: row.at,
            actor: row.actor_id.map(UserId::from_uuid),
            action: row.action.parse().map_err(|e| corrupt("audit action", e))?,
            target_user: row.target_user_id.map(UserId::from_uuid),
            detail: row.detail,
        })
    }
}

pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor_id, action, target_user_id, detail";

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    /// Space-separated.
    pub(crate) scopes: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) created_by: Option<Uuid>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            id: ApiKeyId::from_uuid(row.id),
            name: ApiKeyName::parse(&row.name).map_err(|e| corrupt("API key name", e))?,
            scopes: Scope::parse_list(row.scopes.split(' ')).map_err(|e| corrupt("API key scopes", e))?,
            created_at: row.created_at,
            created_by: row.created_by.map(UserId::from_uuid),
            revoked_at: row.revoked_at,
        })
    }
}

pub(crate) const API_KEY_COLUMNS: &str = "id, name, scopes, created_at, created_by, revoked_at";

/// How `api_keys.scopes` holds a key's scopes.
pub(crate) fn scopes_to_db(scopes: &[Scope]) -> String {
    scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(" ")
}

#[derive(sqlx::FromRow)]
pub(crate) struct WebhookRow {
    pub(crate) id: Uuid,
    pub(crate) url: String,
    /// Space-separated.
    pub(crate) events: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) created_by: Option<Uuid>,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;

    fn try_from(row: WebhookRow) -> Result<Self, StoreError> {
        Ok(Webhook {
            id: WebhookId::from_uuid(row.id),
            url: WebhookUrl::parse(&row.url).map_err(|e| corrupt("webhook URL", e))?,
            events: EventType::parse_list(row.events.split(' ')).map_err(|e| corrupt("webhook events", e))?,
            created_at: row.created_at,
            created_by: row.created_by.map(UserId::from_uuid),
        })
    }
}

pub(crate) const WEBHOOK_COLUMNS: &str = "id, url, events, created_at, created_by";

/// How `webhooks.events` holds a webhook's event types.
pub(crate) fn events_to_db(events: &[EventType]) -> String {
    events.iter().map(|event| event.as_str()).collect::<Vec<_>>().join(" ")
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub(crate) id: Uuid,
    pub(crate) webhook_id: Uuid,
    pub(crate) event_id: Uuid,
    pub(crate) event_type: String,
    pub(crate) status: String,
    pub(crate) attempts: i32,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) next_attempt_at: Option<DateTime<Utc>>,
    pub(crate) last_attempt_at: Option<DateTime<Utc>>,
    pub(crate) last_status: Option<i32>,
    pub(crate) last_error: Option<String>,
    pub(crate) delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        let status = DeliveryStatus::parse(&row.status).map_err(|e| corrupt("delivery status", e))?;
        Ok(Delivery {
            id: DeliveryId::from_uuid(row.id),
            webhook_id: WebhookId::from_uuid(row.webhook_id),
            event_id: row.event_id,
            event_type: EventType::parse(&row.event_type).map_err(|e| corrupt("delivery event type", e))?,
            status,
            attempts: u32::try_from(row.attempts).unwrap_or_default(),
            created_at: row.created_at,
            // A claimed delivery's due time is its lease's end: still when it is next due.
            next_attempt_at: row.next_attempt_at.filter(|_| status == DeliveryStatus::Pending),
            last_attempt_at: row.last_attempt_at,
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error,
            delivered_at: row.delivered_at,
        })
    }
}

pub(crate) const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, event_type, status, attempts, created_at, \
     next_attempt_at, last_attempt_at, last_status, last_error, delivered_at";

/// A claimed delivery with its webhook's URL and secret, before its attempt count goes up.
#[derive(sqlx::FromRow)]
pub(crate) struct DueRow {
    pub(crate) id: Uuid,
    pub(crate) webhook_id: Uuid,
    pub(crate) event_id: Uuid,
    pub(crate) event_type: String,
    pub(crate) body: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) attempts: i32,
    pub(crate) url: String,
    pub(crate) secret: String,
}

impl TryFrom<DueRow> for DueDelivery {
    type Error = StoreError;

    fn try_from(row: DueRow) -> Result<Self, StoreError> {
        Ok(DueDelivery {
            id: DeliveryId::from_uuid(row.id),
            webhook_id: WebhookId::from_uuid(row.webhook_id),
            event_id: row.event_id,
            event_type: EventType::parse(&row.event_type).map_err(|e| corrupt("delivery event type", e))?,
            url: WebhookUrl::parse(&row.url).map_err(|e| corrupt("webhook URL", e))?,
            secret: WebhookSecret::from_stored(&row.secret),
            body: row.body,
            created_at: row.created_at,
            attempt: u32::try_from(row.attempts).unwrap_or_default() + 1,
        })
    }
}

/// The columns of a claim, `d` the deliveries and `w` the webhooks.
pub(crate) const DUE_COLUMNS: &str =
    "d.id, d.webhook_id, d.event_id, d.event_type, d.body, d.created_at, d.attempts, w.url, w.secret";

/// The columns `record` writes of an attempt's outcome, besides its time and HTTP status.
pub(crate) struct OutcomeColumns<'a> {
    pub(crate) status: &'static str,
    pub(crate) next_attempt_at: Option<DateTime<Utc>>,
    pub(crate) last_error: Option<&'a str>,
    pub(crate) delivered_at: Option<DateTime<Utc>>,
}

pub(crate) fn outcome_to_db(outcome: &AttemptOutcome) -> OutcomeColumns<'_> {
    let (status, next_attempt_at, last_error, delivered_at) = match &outcome.result {
        AttemptResult::Delivered => ("delivered", None, None, Some(outcome.at)),
        AttemptResult::Retry { error, next_attempt_at } => {
            ("pending", Some(*next_attempt_at), Some(error.as_str()), None)
        }
        AttemptResult::GaveUp { error } => ("failed", None, Some(error.as_str()), None),
    };
    OutcomeColumns { status, next_attempt_at, last_error, delivered_at }
}
