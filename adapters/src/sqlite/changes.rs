//! Changes to messages: the log's change and reaction entries (`message_changes`) and the seqs
//! of each message's edits (`message_edits`), which outlive the entries a deletion removes.

use chat_shared::domain::{Change, ChangeKind, Entry, Reaction, RoomId, Seq};
use chat_shared::ports::StoreError;
use sqlx::SqliteConnection;

use crate::rows::{corrupt, seq_from_db, seq_to_db};

/// A `message_changes` row: the JSON of the change or reaction, and the seq it is stored under.
#[derive(sqlx::FromRow)]
pub(super) struct ChangeRow {
    seq: i64,
    kind: String,
    change: String,
}

impl TryFrom<ChangeRow> for Entry {
    type Error = StoreError;

    fn try_from(row: ChangeRow) -> Result<Self, StoreError> {
        let seq = seq_from_db(row.seq);
        if row.kind == REACTION {
            let reaction: Reaction = serde_json::from_str(&row.change).map_err(|e| corrupt("reaction", e))?;
            return Ok(Entry::Reaction(reaction.at_seq(seq)));
        }
        let change: Change = serde_json::from_str(&row.change).map_err(|e| corrupt("change", e))?;
        Ok(Entry::Change(change.at_seq(seq)))
    }
}

pub(super) const CHANGE_COLUMNS: &str = "seq, kind, change";

/// The `kind` of a reaction entry.
const REACTION: &str = "reaction";

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

/// Stores `reaction` as the log's entry under its seq.
pub(super) async fn insert_reaction_entry(
    conn: &mut SqliteConnection,
    reaction: &Reaction,
    dedup_key: &str,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(reaction).map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
    sqlx::query(
        "insert into message_changes (seq, room_id, message_seq, kind, dedup_key, change)
         values (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(seq_to_db(reaction.seq))
    .bind(reaction.room_id.as_uuid())
    .bind(seq_to_db(reaction.message_seq))
    .bind(REACTION)
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
