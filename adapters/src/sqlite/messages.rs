//! Messages at rest: the `messages` table, which is also the embedded mode's message log
//! (see [`super::SqliteMessageLog`] for why they are one table).

use async_trait::async_trait;
use chat_shared::domain::{
    Change, ChangeKind, ClientMsgId, Message, Reaction, ReactionKey, RoomId, SentCursor, Seq, UserId,
};
use chat_shared::ports::{MessageRef, MessageStore, PageQuery, Redacted, StoreError, StoredReactions};
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::changes::{edit_seqs, erase_edit_entries, remember_edit};
use super::db::SqliteDb;
use super::errors::store_error;
use super::replies;
use crate::rows::{MESSAGE_COLUMNS as COLUMNS, MessageRow};
use crate::rows::{seq_from_db, seq_to_db};

#[derive(Clone)]
pub struct SqliteMessageStore {
    db: SqliteDb,
}

impl SqliteMessageStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// Inserts `message` under `seq`, in the state it is in; `false`, storing nothing, when one of
/// its unique keys (id, room and seq, room and client id, dedup key) is taken.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    message: &Message,
    seq: Seq,
    dedup_key: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into messages
             (id, room_id, seq, sender_id, content, kind, metadata, client_msg_id, created_at, dedup_key,
              edited_at, deleted_by, deleted_at, changed_seq, reply_to_id, reply_to_seq, reply_to_sender_id)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         on conflict do nothing",
    )
    .bind(message.id.as_uuid())
    .bind(message.room_id.as_uuid())
    .bind(seq_to_db(seq))
    .bind(message.sender_id.as_uuid())
    .bind(message.content.as_str())
    .bind(message.kind.as_str())
    .bind(metadata_to_db(message))
    .bind(message.client_msg_id.as_ref().map(ClientMsgId::as_str))
    .bind(message.created_at)
    .bind(dedup_key)
    .bind(message.edited_at)
    .bind(message.deleted_by.map(|id| id.as_uuid()))
    .bind(message.deleted_at)
    .bind(seq_to_db(message.changed_seq))
    .bind(message.reply_to.as_ref().map(|r| r.id.as_uuid()))
    .bind(message.reply_to.as_ref().map(|r| seq_to_db(r.seq)))
    .bind(message.reply_to.as_ref().map(|r| r.sender_id.as_uuid()))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn metadata_to_db(message: &Message) -> Option<String> {
    message.metadata.as_object().map(|o| serde_json::Value::Object(o.clone()).to_string())
}

/// Folds `change` into its message's row as [`apply_change`](chat_shared::domain::apply_change)
/// does, creating the row from the change's message when it is missing, and remembers an
/// edit's seq. Once the message is deleted, the log's entries of its edits go too: their
/// payload holds their text. Returns whether the message is deleted.
pub(super) async fn apply(conn: &mut SqliteConnection, change: &Change) -> Result<bool, sqlx::Error> {
    let target = &change.message;
    insert(conn, target, target.seq, None).await?;
    replace_state(conn, change).await?;
    if change.kind == ChangeKind::Edited {
        remember_edit(conn, change).await?;
    }
    let deleted = is_deleted(conn, target.room_id, target.seq).await?;
    if deleted {
        erase_edit_entries(conn, target.room_id, target.seq).await?;
    }
    Ok(deleted)
}

/// Gives the row the change's state, unless the row is a tombstone or holds a newer state
/// than an edit's. The first change keeps the content and metadata the message was appended
/// with, the log's entry of it, until a deletion clears them.
async fn replace_state(conn: &mut SqliteConnection, change: &Change) -> Result<(), sqlx::Error> {
    let state = &change.message;
    sqlx::query(
        "update messages
         set content = ?3, metadata = ?4, edited_at = ?5, deleted_by = ?6, deleted_at = ?7, changed_seq = ?8,
             appended_content = case when ?9 then null when changed_seq = 0 then content
                                     else appended_content end,
             appended_metadata = case when ?9 then null when changed_seq = 0 then metadata
                                      else appended_metadata end
         where room_id = ?1 and seq = ?2 and deleted_at is null and (changed_seq < ?8 or ?9)",
    )
    .bind(state.room_id.as_uuid())
    .bind(seq_to_db(state.seq))
    .bind(state.content.as_str())
    .bind(metadata_to_db(state))
    .bind(state.edited_at)
    .bind(state.deleted_by.map(|id| id.as_uuid()))
    .bind(state.deleted_at)
    .bind(seq_to_db(change.seq))
    .bind(change.kind == ChangeKind::Deleted)
    .execute(conn)
    .await?;
    Ok(())
}

/// When the room's message under `seq` is deleted: who deleted it and when.
pub(super) async fn deletion_of(
    conn: &mut SqliteConnection,
    room: RoomId,
    seq: Seq,
) -> Result<Option<(UserId, DateTime<Utc>)>, sqlx::Error> {
    let deletion: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "select deleted_by, deleted_at from messages
         where room_id = ?1 and seq = ?2 and deleted_at is not null",
    )
    .bind(room.as_uuid())
    .bind(seq_to_db(seq))
    .fetch_optional(conn)
    .await?;
    Ok(deletion.map(|(by, at)| (UserId::from_uuid(by), at)))
}

async fn is_deleted(conn: &mut SqliteConnection, room: RoomId, seq: Seq) -> Result<bool, sqlx::Error> {
    Ok(deletion_of(conn, room, seq).await?.is_some())
}

/// What applying `change` redacted: nothing while its message stands; once it is deleted, the
/// message's seq and those of all its edits.
async fn redacted_by(
    conn: &mut SqliteConnection,
    change: &Change,
    deleted: bool,
) -> Result<Vec<Seq>, sqlx::Error> {
    if !deleted {
        return Ok(Vec::new());
    }
    let target = &change.message;
    let mut seqs = edit_seqs(conn, target.room_id, target.seq).await?;
    seqs.push(target.seq);
    Ok(seqs)
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

    async fn find(&self, room: RoomId, message: MessageRef) -> Result<Option<Message>, StoreError> {
        let sql =
            |condition: &str| format!("select {COLUMNS} from messages where room_id = ?1 and {condition}");
        match message {
            MessageRef::Id(id) => {
                sqlx::query_as::<_, MessageRow<String>>(&sql("id = ?2"))
                    .bind(room.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.db.readers)
                    .await
            }
            MessageRef::Seq(seq) => {
                sqlx::query_as::<_, MessageRow<String>>(&sql("seq = ?2"))
                    .bind(room.as_uuid())
                    .bind(seq_to_db(seq))
                    .fetch_optional(&self.db.readers)
                    .await
            }
        }
        .map_err(store_error)?
        .map(Message::try_from)
        .transpose()
    }

    async fn apply_changes(&self, changes: &[Change]) -> Result<Redacted, StoreError> {
        let mut tx = self.db.write().await.map_err(store_error)?;
        let mut log_seqs = Vec::new();
        for change in changes {
            let deleted = apply(&mut tx, change).await.map_err(store_error)?;
            log_seqs.extend(redacted_by(&mut tx, change, deleted).await.map_err(store_error)?);
        }
        tx.commit().await.map_err(store_error)?;
        log_seqs.sort_unstable();
        log_seqs.dedup();
        Ok(Redacted { log_seqs })
    }

    /// Only tests call this: the log applies each reaction as it appends it.
    async fn apply_reactions(&self, reactions: &[Reaction]) -> Result<(), StoreError> {
        let mut tx = self.db.write().await.map_err(store_error)?;
        for reaction in reactions {
            super::reactions::apply(&mut tx, reaction).await.map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }

    async fn reactions(
        &self,
        room: RoomId,
        message_seqs: &[Seq],
        reader: UserId,
        watched: &[ReactionKey],
    ) -> Result<StoredReactions, StoreError> {
        let mut tx = self.db.readers.begin().await.map_err(store_error)?;
        super::reactions::read(&mut tx, room, message_seqs, reader, watched).await
    }

    /// Served by `messages_sender_idx`.
    async fn sent_by(
        &self,
        sender: UserId,
        after: Option<SentCursor>,
        limit: usize,
    ) -> Result<Vec<SentCursor>, StoreError> {
        // The lowest room id with seq 0 is before every message.
        let after = after.unwrap_or(SentCursor { room: RoomId::from_uuid(Uuid::nil()), seq: 0 });
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "select room_id, seq from messages
                 where sender_id = ?1 and deleted_at is null and (room_id, seq) > (?2, ?3)
                 order by room_id, seq limit ?4",
        )
        .bind(sender.as_uuid())
        .bind(after.room.as_uuid())
        .bind(seq_to_db(after.seq))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.db.readers)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(room, seq)| SentCursor { room: RoomId::from_uuid(room), seq: seq_from_db(seq) })
            .collect())
    }

    async fn find_seqs(&self, room: RoomId, seqs: &[Seq]) -> Result<Vec<Message>, StoreError> {
        replies::find_seqs(&self.db.readers, room, seqs).await
    }

    async fn replies(
        &self,
        room: RoomId,
        parent: Seq,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        replies::replies(&self.db.readers, room, parent, after, limit).await
    }

    async fn reply_counts(
        &self,
        room: RoomId,
        parents: &[Seq],
        through: Seq,
    ) -> Result<Vec<(Seq, u64)>, StoreError> {
        replies::reply_counts(&self.db.readers, room, parents, through).await
    }
}
