//! The reads of replies and threads on the `messages` table, each one statement whatever the
//! number of messages it is about: lists of seqs travel as one JSON array.

use chat_shared::domain::{Message, RoomId, Seq};
use chat_shared::ports::StoreError;
use sqlx::SqlitePool;

use super::errors::store_error;
use crate::rows::{MESSAGE_COLUMNS as COLUMNS, MessageRow, seq_from_db, seq_to_db};

fn json_array(seqs: &[Seq]) -> String {
    serde_json::to_string(seqs).expect("numbers always serialize")
}

pub(super) async fn find_seqs(
    pool: &SqlitePool,
    room: RoomId,
    seqs: &[Seq],
) -> Result<Vec<Message>, StoreError> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as::<_, MessageRow<String>>(&format!(
        "select {COLUMNS} from messages where room_id = ?1 and seq in (select value from json_each(?2))"
    ))
    .bind(room.as_uuid())
    .bind(json_array(seqs))
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    rows.into_iter().map(Message::try_from).collect()
}

pub(super) async fn replies(
    pool: &SqlitePool,
    room: RoomId,
    parent: Seq,
    after: Seq,
    limit: usize,
) -> Result<Vec<Message>, StoreError> {
    let rows = sqlx::query_as::<_, MessageRow<String>>(&format!(
        "select {COLUMNS} from messages
         where room_id = ?1 and reply_to_seq = ?2 and seq > ?3
         order by seq limit ?4"
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
    pool: &SqlitePool,
    room: RoomId,
    parents: &[Seq],
    through: Seq,
) -> Result<Vec<(Seq, u64)>, StoreError> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let counts: Vec<(i64, i64)> = sqlx::query_as(
        "select reply_to_seq, count(*) from messages
         where room_id = ?1 and reply_to_seq in (select value from json_each(?2)) and seq <= ?3
         group by reply_to_seq",
    )
    .bind(room.as_uuid())
    .bind(json_array(parents))
    .bind(seq_to_db(through))
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    Ok(counts.into_iter().map(|(parent, count)| (seq_from_db(parent), count.max(0) as u64)).collect())
}
