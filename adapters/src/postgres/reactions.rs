//! Reactions in PostgreSQL (`message_reactions`): applying the stream's reaction entries and
//! counting a page's reactions.

use std::collections::BTreeMap;

use chat_shared::domain::{Emoji, Reaction, ReactionKey, RoomId, Seq, UserId};
use chat_shared::ports::{ReactionTally, StoreError, StoredReactions};
use sqlx::PgPool;
use uuid::Uuid;

use super::errors::store_error;
use crate::rows::{corrupt, seq_from_db, seq_to_db};

/// Writes each key's newest entry of the batch, over a row with a lower version only. One
/// statement cannot update a row twice, so each key comes once; rows go in key order, so
/// writers of overlapping batches lock them in one order and never deadlock.
const UPSERT: &str =
    "insert into message_reactions as held (room_id, message_seq, user_id, emoji, version, seq)
     select * from unnest($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::int4[], $6::int8[])
         as entry (room_id, message_seq, user_id, emoji, version, seq)
     order by room_id, message_seq, user_id, emoji
     on conflict (room_id, message_seq, user_id, emoji) do update
     set version = excluded.version, seq = excluded.seq
     where held.version < excluded.version";

pub(super) async fn apply(pool: &PgPool, reactions: &[Reaction]) -> Result<(), StoreError> {
    let mut newest: BTreeMap<(RoomId, ReactionKey), &Reaction> = BTreeMap::new();
    for reaction in reactions {
        let held = newest.entry((reaction.room_id, reaction.key())).or_insert(reaction);
        if reaction.version > held.version {
            *held = reaction;
        }
    }
    let rows = newest.values();
    let rooms: Vec<Uuid> = rows.clone().map(|r| r.room_id.as_uuid()).collect();
    let message_seqs: Vec<i64> = rows.clone().map(|r| seq_to_db(r.message_seq)).collect();
    let users: Vec<Uuid> = rows.clone().map(|r| r.user.as_uuid()).collect();
    let emojis: Vec<&str> = rows.clone().map(|r| r.emoji.as_str()).collect();
    let versions: Vec<i32> = rows.clone().map(|r| i32::try_from(r.version).unwrap_or(i32::MAX)).collect();
    let seqs: Vec<i64> = rows.map(|r| seq_to_db(r.seq)).collect();
    sqlx::query(UPSERT)
        .bind(rooms)
        .bind(message_seqs)
        .bind(users)
        .bind(emojis)
        .bind(versions)
        .bind(seqs)
        .execute(pool)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// The tallies of the messages `$2` of room `$1` as reader `$3` sees them, and the rows of the
/// watched keys (`$4` message seqs, `$5` users, `$6` emojis): one statement, so one snapshot.
/// A tally row has no `user_id`; a watched row has one.
const READ: &str = "select message_seq, emoji,
            count(*) filter (where version % 2 = 1) as count,
            coalesce(bool_or(user_id = $3 and version % 2 = 1), false) as me,
            min(seq) filter (where version % 2 = 1) as first_seq,
            max(seq) as latest_seq,
            null::uuid as user_id, null::int4 as version
     from message_reactions
     where room_id = $1 and message_seq = any($2)
     group by message_seq, emoji
     union all
     select held.message_seq, held.emoji, null, null, null, null, held.user_id, held.version
     from message_reactions held
     join unnest($4::int8[], $5::uuid[], $6::text[]) as watched (message_seq, user_id, emoji)
         on held.message_seq = watched.message_seq and held.user_id = watched.user_id
            and held.emoji = watched.emoji
     where held.room_id = $1";

type ReadRow = (i64, String, Option<i64>, Option<bool>, Option<i64>, Option<i64>, Option<Uuid>, Option<i32>);

pub(super) async fn read(
    pool: &PgPool,
    room: RoomId,
    message_seqs: &[Seq],
    reader: UserId,
    watched: &[ReactionKey],
) -> Result<StoredReactions, StoreError> {
    let seqs: Vec<i64> = message_seqs.iter().map(|&seq| seq_to_db(seq)).collect();
    let watched_seqs: Vec<i64> = watched.iter().map(|key| seq_to_db(key.message_seq)).collect();
    let watched_users: Vec<Uuid> = watched.iter().map(|key| key.user.as_uuid()).collect();
    let watched_emojis: Vec<&str> = watched.iter().map(|key| key.emoji.as_str()).collect();
    let rows: Vec<ReadRow> = sqlx::query_as(READ)
        .bind(room.as_uuid())
        .bind(seqs)
        .bind(reader.as_uuid())
        .bind(watched_seqs)
        .bind(watched_users)
        .bind(watched_emojis)
        .fetch_all(pool)
        .await
        .map_err(store_error)?;
    let mut stored = StoredReactions::default();
    for (message_seq, emoji, count, me, first_seq, latest_seq, user, version) in rows {
        let message_seq = seq_from_db(message_seq);
        let emoji = Emoji::parse(&emoji).map_err(|e| corrupt("emoji", e))?;
        match (user, version) {
            (Some(user), Some(version)) => {
                let key = ReactionKey { message_seq, user: UserId::from_uuid(user), emoji };
                stored.versions.push((key, u32::try_from(version).unwrap_or(0)));
            }
            _ => stored.tallies.push(ReactionTally {
                message_seq,
                emoji,
                count: count.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
                me: me.unwrap_or(false),
                first_seq: first_seq.map_or(Seq::MAX, seq_from_db),
                latest_seq: latest_seq.map_or(0, seq_from_db),
            }),
        }
    }
    Ok(stored)
}
