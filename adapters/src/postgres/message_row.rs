//! A `messages` row as PostgreSQL returns it, and the message it holds: shared by the store's
//! reads and the batched lookup of client ids.

use chat_shared::domain::{ClientMsgId, Content, Message, MessageId, MessageKind, Metadata, RoomId, UserId};
use chat_shared::ports::StoreError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{corrupt, seq_from_db};

pub(super) const COLUMNS: &str =
    "id, room_id, seq, sender_id, content, kind, metadata, client_msg_id, created_at";

#[derive(sqlx::FromRow, Clone)]
pub(super) struct MessageRow {
    id: Uuid,
    pub(super) room_id: Uuid,
    pub(super) seq: i64,
    sender_id: Uuid,
    content: String,
    kind: String,
    metadata: Option<serde_json::Value>,
    pub(super) client_msg_id: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            id: MessageId::from_uuid(row.id),
            room_id: RoomId::from_uuid(row.room_id),
            seq: seq_from_db(row.seq),
            sender_id: UserId::from_uuid(row.sender_id),
            content: Content::parse(&row.content).map_err(|e| corrupt("content", e))?,
            kind: MessageKind::parse(&row.kind).map_err(|e| corrupt("kind", e))?,
            metadata: Metadata::parse(row.metadata).map_err(|e| corrupt("metadata", e))?,
            client_msg_id: row
                .client_msg_id
                .map(|c| ClientMsgId::parse(&c))
                .transpose()
                .map_err(|e| corrupt("client_msg_id", e))?,
            created_at: row.created_at,
        })
    }
}
