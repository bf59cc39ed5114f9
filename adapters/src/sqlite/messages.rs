//! Messages at rest: the `messages` table, which is also the embedded mode's message log
//! (see [`super::SqliteMessageLog`] for why they are one table).

use async_trait::async_trait;
use chat_shared::domain::{Change, ClientMsgId, Message, RoomId, Seq};
use chat_shared::ports::{MessageRef, MessageStore, PageQuery, Redacted, StoreError};

use super::db::SqliteDb;
use super::errors::store_error;
use crate::rows::seq_to_db;
use crate::rows::{MESSAGE_COLUMNS as COLUMNS, MessageRow};

#[derive(Clone)]
pub struct SqliteMessageStore {
    db: SqliteDb,
}

impl SqliteMessageStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// Inserts `message` under `seq`; `false`, storing nothing, when one of its unique keys (id,
/// room and seq, room and client id, dedup key) is taken.
pub(super) async fn insert(
    conn: &mut sqlx::SqliteConnection,
    message: &Message,
    seq: Seq,
    dedup_key: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let metadata = message.metadata.as_object().map(|o| serde_json::Value::Object(o.clone()).to_string());
    let done = sqlx::query(
        "insert into messages
             (id, room_id, seq, sender_id, content, kind, metadata, client_msg_id, created_at, dedup_key)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         on conflict do nothing",
    )
    .bind(message.id.as_uuid())
    .bind(message.room_id.as_uuid())
    .bind(seq_to_db(seq))
    .bind(message.sender_id.as_uuid())
    .bind(message.content.as_str())
    .bind(message.kind.as_str())
    .bind(metadata)
    .bind(message.client_msg_id.as_ref().map(ClientMsgId::as_str))
    .bind(message.created_at)
    .bind(dedup_key)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl MessageStore for SqliteMessageStore {
    async fn insert_batch(&self, messages: &[Message]) -> Result<u64, StoreError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.write().await.map_err(store_error)?;
        let mut inserted = 0;
        for message in messages {
            // Any unique key already taken means the message is stored already.
            if insert(&mut tx, message, message.seq, None).await.map_err(store_error)? {
                inserted += 1;
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(inserted)
    }

    async fn page(&self, room: RoomId, query: PageQuery) -> Result<Vec<Message>, StoreError> {
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let before = query.before.map(seq_to_db);
        let rows = match query.after {
            Some(after) => {
                sqlx::query_as::<_, MessageRow<String>>(&format!(
                    "select {COLUMNS} from messages
                     where room_id = ?1 and seq > ?2 and (?3 is null or seq < ?3)
                     order by seq asc limit ?4"
                ))
                .bind(room.as_uuid())
                .bind(seq_to_db(after))
                .bind(before)
                .bind(limit)
                .fetch_all(&self.db.readers)
                .await
            }
            None => {
                sqlx::query_as::<_, MessageRow<String>>(&format!(
                    "select {COLUMNS} from messages
                     where room_id = ?1 and (?2 is null or seq < ?2)
                     order by seq desc limit ?3"
                ))
                .bind(room.as_uuid())
                .bind(before)
                .bind(limit)
                .fetch_all(&self.db.readers)
                .await
            }
        }
        .map_err(store_error)?;
        let mut messages = rows.into_iter().map(Message::try_from).collect::<Result<Vec<_>, _>>()?;
        messages.sort_by_key(|m| m.seq);
        Ok(messages)
    }

    async fn by_client_msg_id(&self, room: RoomId, id: &ClientMsgId) -> Result<Option<Message>, StoreError> {
        sqlx::query_as::<_, MessageRow<String>>(&format!(
            "select {COLUMNS} from messages where room_id = ?1 and client_msg_id = ?2"
        ))
        .bind(room.as_uuid())
        .bind(id.as_str())
        .fetch_optional(&self.db.readers)
        .await
        .map_err(store_error)?
        .map(Message::try_from)
        .transpose()
    }

    async fn find(&self, _room: RoomId, _message: MessageRef) -> Result<Option<Message>, StoreError> {
        Err(StoreError::other("PENDING: finding a message is not written yet"))
    }

    async fn apply_changes(&self, _changes: &[Change]) -> Result<Redacted, StoreError> {
        Err(StoreError::other("PENDING: changes are not applied here yet"))
    }
}
