//! The reads of replies and threads on the `messages` table, each one statement whatever the
//! number of messages it is about (lists of seqs are bound as arrays), served by
//! `messages_replies_idx` (migration 0008).

use chat_shared::domain::{Message, RoomId, Seq};
use chat_shared::ports::StoreError;
use sqlx::PgPool;

use super::errors::store_error;
use crate::rows::{MESSAGE_COLUMNS as COLUMNS, MessageRow, seq_from_db, seq_to_db};

fn seqs_to_db(seqs: &[Seq]) -> Vec<i64> {
    seqs.iter().copied().map(seq_to_db).collect()
}

pub(super) async fn find_seqs(pool: &PgPool, room: RoomId, seqs: &[Seq]) -> Result<Vec<Message>, StoreError> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as::<_, MessageRow<serde_json::Value>>(&format!(
        "select {COLUMNS} from messages where room_id = $1 and seq = any($2)"
    ))
    .bind(room.as_uuid())
    .bind(seqs_to_db(seqs))
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    rows.into_iter().map(Message::try_from).collect()
}

pub(super) async fn replies(
    pool: &PgPool,
    room: RoomId,
    parent: Seq,
    after: Seq,
    limit: usize,
) -> Result<Vec<Message>, StoreError> {
    let rows = sqlx::query_as::<_, MessageRow<serde_json::Value>>(&format!(
        "select {COLUMNS} from messages
         where room_id = $1 and reply_to_seq = $2 and seq > $3
         order by seq limit $4"
    ))
    .bind(room.as_uuid())
    .bind(seq_to_db(parent))
    .bind(seq_to_db(after))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    rows.into_iter().map(Message::try_from).collect()
}

pub(super) async fn reply_counts(
    pool: &PgPool,
    room: RoomId,
    parents: &[Seq],
    through: Seq,
) -> Result<Vec<(Seq, u64)>, StoreError> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let counts: Vec<(i64, i64)> = sqlx::query_as(
        "select reply_to_seq, count(*) from messages
         where room_id = $1 and reply_to_seq = any($2) and seq <= $3
         group by reply_to_seq",
    )
    .bind(room.as_uuid())
    .bind(seqs_to_db(parents))
    .bind(seq_to_db(through))
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    Ok(counts.into_iter().map(|(parent, count)| (seq_from_db(parent), count.max(0) as u64)).collect())
}
