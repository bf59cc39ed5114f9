//! Changes to messages: the log's change entries (`message_changes`) and the seqs of each
//! message's edits (`message_edits`), which outlive the entries a deletion removes.

use chat_shared::domain::{Change, ChangeKind, RoomId, Seq};
use chat_shared::ports::StoreError;
use sqlx::SqliteConnection;

use crate::rows::{corrupt, seq_from_db, seq_to_db};

/// A `message_changes` row: the change's JSON and the seq it is stored under.
#[derive(sqlx::FromRow)]
pub(super) struct ChangeRow {
    seq: i64,
    change: String,
}

impl TryFrom<ChangeRow> for Change {
    type Error = StoreError;

    fn try_from(row: ChangeRow) -> Result<Self, StoreError> {
        let change: Change = serde_json::from_str(&row.change).map_err(|e| corrupt("change", e))?;
        Ok(change.at_seq(seq_from_db(row.seq)))
    }
}

pub(super) const CHANGE_COLUMNS: &str = "seq, change";

fn kind_to_db(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Edited => "edited",
        ChangeKind::Deleted => "deleted",
    }
}

/// Stores `change` as the log's entry under its seq.
pub(super) async fn insert_entry(
    conn: &mut SqliteConnection,
    change: &Change,
    dedup_key: &str,
) -> Result<(), sqlx::Error> {
    let payload =
        serde_json::to_string(&*change.stored_form()).map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
    sqlx::query(
        "insert into message_changes (seq, room_id, message_seq, kind, dedup_key, change)
         values (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(seq_to_db(change.seq))
    .bind(change.message.room_id.as_uuid())
    .bind(seq_to_db(change.message.seq))
    .bind(kind_to_db(change.kind))
    .bind(dedup_key)
    .bind(payload)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the log's entries of the message's edits, whose payload holds their text.
pub(super) async fn erase_edit_entries(
    conn: &mut SqliteConnection,
    room: RoomId,
    message_seq: Seq,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from message_changes where room_id = ?1 and message_seq = ?2 and kind = 'edited'")
        .bind(room.as_uuid())
        .bind(seq_to_db(message_seq))
        .execute(conn)
        .await?;
    Ok(())
}

/// Remembers the seq of an edit of its message, what a deletion of the message redacts.
pub(super) async fn remember_edit(conn: &mut SqliteConnection, edit: &Change) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into message_edits (room_id, message_seq, seq) values (?1, ?2, ?3) on conflict do nothing",
    )
    .bind(edit.message.room_id.as_uuid())
    .bind(seq_to_db(edit.message.seq))
    .bind(seq_to_db(edit.seq))
    .execute(conn)
    .await?;
    Ok(())
}

/// The seqs of every edit of the message remembered, ascending.
pub(super) async fn edit_seqs(
    conn: &mut SqliteConnection,
    room: RoomId,
    message_seq: Seq,
) -> Result<Vec<Seq>, sqlx::Error> {
    let seqs: Vec<i64> = sqlx::query_scalar(
        "select seq from message_edits where room_id = ?1 and message_seq = ?2 order by seq",
    )
    .bind(room.as_uuid())
    .bind(seq_to_db(message_seq))
    .fetch_all(conn)
    .await?;
    Ok(seqs.into_iter().map(seq_from_db).collect())
}
