//! Reactions in SQLite (`message_reactions`, each key's latest entry; the entries themselves are
//! rows of `message_changes`): applying an entry and counting a page's reactions.

use chat_shared::domain::{Emoji, Reaction, ReactionKey, RoomId, Seq, UserId};
use chat_shared::ports::{ReactionTally, StoreError, StoredReactions};
use sqlx::SqliteConnection;

use super::errors::store_error;
use crate::rows::{corrupt, seq_from_db, seq_to_db};

/// Keeps `reaction` as its key's latest entry unless a higher version is held.
pub(super) async fn apply(conn: &mut SqliteConnection, reaction: &Reaction) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into message_reactions (room_id, message_seq, user_id, emoji, version, seq)
         values (?1, ?2, ?3, ?4, ?5, ?6)
         on conflict (room_id, message_seq, user_id, emoji) do update
         set version = excluded.version, seq = excluded.seq
         where message_reactions.version < excluded.version",
    )
    .bind(reaction.room_id.as_uuid())
    .bind(seq_to_db(reaction.message_seq))
    .bind(reaction.user.as_uuid())
    .bind(reaction.emoji.as_str())
    .bind(i64::from(reaction.version))
    .bind(seq_to_db(reaction.seq))
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads within the caller's transaction, so the tallies and the versions are one snapshot.
pub(super) async fn read(
    conn: &mut SqliteConnection,
    room: RoomId,
    message_seqs: &[Seq],
    reader: UserId,
    watched: &[ReactionKey],
) -> Result<StoredReactions, StoreError> {
    let seqs = serde_json::to_string(message_seqs).map_err(|e| corrupt("message seqs", e))?;
    let rows: Vec<(i64, String, i64, bool, Option<i64>, i64)> = sqlx::query_as(
        "select message_seq, emoji,
                sum(version % 2),
                max(user_id = ?2 and version % 2 = 1),
                min(case when version % 2 = 1 then seq end),
                max(seq)
         from message_reactions
         where room_id = ?1 and message_seq in (select value from json_each(?3))
         group by message_seq, emoji",
    )
    .bind(room.as_uuid())
    .bind(reader.as_uuid())
    .bind(seqs)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let mut stored = StoredReactions::default();
    for (message_seq, emoji, count, me, first_seq, latest_seq) in rows {
        stored.tallies.push(ReactionTally {
            message_seq: seq_from_db(message_seq),
            emoji: Emoji::parse(&emoji).map_err(|e| corrupt("emoji", e))?,
            count: u32::try_from(count).unwrap_or(0),
            me,
            first_seq: first_seq.map_or(Seq::MAX, seq_from_db),
            latest_seq: seq_from_db(latest_seq),
        });
    }
    for key in watched {
        let version: Option<i64> = sqlx::query_scalar(
            "select version from message_reactions
             where room_id = ?1 and message_seq = ?2 and user_id = ?3 and emoji = ?4",
        )
        .bind(room.as_uuid())
        .bind(seq_to_db(key.message_seq))
        .bind(key.user.as_uuid())
        .bind(key.emoji.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
        if let Some(version) = version {
            stored.versions.push((key.clone(), u32::try_from(version).unwrap_or(0)));
        }
    }
    Ok(stored)
}
