use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chat_shared::domain::{Change, ClientMsgId, Message, RoomId};
use chat_shared::ports::{MessageRef, MessageStore, PageQuery, Redacted, StoreError};
use sqlx::PgPool;
use sqlx::postgres::PgPoolCopyExt;

use super::client_ids::ClientIdLookup;
use super::errors::store_error;
use super::message_copy::{self, COPY_MESSAGES};
use crate::rows::seq_to_db;
use crate::rows::{MESSAGE_COLUMNS as COLUMNS, MessageRow};

#[derive(Clone)]
pub struct PgMessageStore {
    pool: PgPool,
    /// Started on the first lookup, so a store that never looks up (the persister's) runs no task.
    client_ids: Arc<OnceLock<ClientIdLookup>>,
}

impl PgMessageStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool, client_ids: Arc::default() }
    }

    /// Writes a batch none of whose messages is stored yet, in one statement.
    async fn copy_batch(&self, messages: &[Message]) -> Result<u64, sqlx::Error> {
        let mut copy = self.pool.copy_in_raw(COPY_MESSAGES).await?;
        copy.send(message_copy::encode(messages)).await?;
        copy.finish().await
    }

    /// Writes a batch in one statement, skipping each message whose (room, seq) is stored
    /// already.
    async fn insert_skipping_stored(&self, messages: &[Message]) -> Result<u64, StoreError> {
        let mut ids = Vec::with_capacity(messages.len());
        let mut rooms = Vec::with_capacity(messages.len());
        let mut seqs = Vec::with_capacity(messages.len());
        let mut senders = Vec::with_capacity(messages.len());
        let mut contents = Vec::with_capacity(messages.len());
        let mut kinds = Vec::with_capacity(messages.len());
        let mut metadata = Vec::with_capacity(messages.len());
        let mut client_ids = Vec::with_capacity(messages.len());
        let mut times = Vec::with_capacity(messages.len());
        for m in messages {
            ids.push(m.id.as_uuid());
            rooms.push(m.room_id.as_uuid());
            seqs.push(seq_to_db(m.seq));
            senders.push(m.sender_id.as_uuid());
            contents.push(m.content.as_str());
            kinds.push(m.kind.as_str());
            metadata.push(m.metadata.as_object().map(|o| serde_json::Value::Object(o.clone()).to_string()));
            client_ids.push(m.client_msg_id.as_ref().map(ClientMsgId::as_str));
            times.push(m.created_at);
        }
        let done = sqlx::query(
            "insert into messages
                 (id, room_id, seq, sender_id, content, kind, metadata, client_msg_id, created_at)
             select i, r, s, se, c, k, m::jsonb, cm, t
             from unnest($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::timestamptz[])
                  as u (i, r, s, se, c, k, m, cm, t)
             on conflict (room_id, seq) do nothing",
        )
        .bind(ids)
        .bind(rooms)
        .bind(seqs)
        .bind(senders)
        .bind(contents)
        .bind(kinds)
        .bind(metadata)
        .bind(client_ids)
        .bind(times)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl MessageStore for PgMessageStore {
    async fn insert_batch(&self, messages: &[Message]) -> Result<u64, StoreError> {
        if messages.is_empty() {
            return Ok(0);
        }
        // COPY is the cheap path but fails whole on a key already taken; that happens only on
        // redelivery (a batch committed but not acknowledged), which the slower insert that
        // skips stored messages then absorbs.
        match self.copy_batch(messages).await {
            Ok(copied) => Ok(copied),
            Err(err) if err.as_database_error().is_some_and(|db| db.is_unique_violation()) => {
                self.insert_skipping_stored(messages).await
            }
            Err(err) => Err(store_error(err)),
        }
    }

    async fn page(&self, room: RoomId, query: PageQuery) -> Result<Vec<Message>, StoreError> {
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let before = query.before.map(seq_to_db);
        let rows = match query.after {
            Some(after) => {
                sqlx::query_as::<_, MessageRow<serde_json::Value>>(&format!(
                    "select {COLUMNS} from messages
                     where room_id = $1 and seq > $2 and ($3::int8 is null or seq < $3)
                     order by seq asc limit $4"
                ))
                .bind(room.as_uuid())
                .bind(seq_to_db(after))
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as::<_, MessageRow<serde_json::Value>>(&format!(
                    "select {COLUMNS} from messages
                     where room_id = $1 and ($2::int8 is null or seq < $2)
                     order by seq desc limit $3"
                ))
                .bind(room.as_uuid())
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(store_error)?;
        let mut messages = rows.into_iter().map(Message::try_from).collect::<Result<Vec<_>, _>>()?;
        messages.sort_by_key(|m| m.seq);
        Ok(messages)
    }

    async fn by_client_msg_id(&self, room: RoomId, id: &ClientMsgId) -> Result<Option<Message>, StoreError> {
        let lookup = self.client_ids.get_or_init(|| ClientIdLookup::start(&self.pool));
        lookup.find(room, id).await
    }

    async fn find(&self, _room: RoomId, _message: MessageRef) -> Result<Option<Message>, StoreError> {
        Err(StoreError::other("PENDING: finding a message is not written yet"))
    }

    async fn apply_changes(&self, _changes: &[Change]) -> Result<Redacted, StoreError> {
        Err(StoreError::other("PENDING: changes are not applied here yet"))
    }
}
