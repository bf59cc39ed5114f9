//! The `history` scenario's data: a reader with one room of many messages, and a lister in many
//! rooms with unread messages. Accounts and rooms are made by the node over REST; messages are
//! written into its database with `COPY`, as if the persister had stored them long ago and the
//! stream's retention had dropped them since. The stream holds none of them, so the node
//! answers every read of these rooms from PostgreSQL, and its reads of the stream find the
//! rooms empty there.

use std::time::Instant;

use anyhow::Context;
use chrono::DateTime;
use futures::{StreamExt, TryStreamExt, stream};
use sqlx::PgPool;
use sqlx::postgres::PgPoolCopyExt;
use uuid::{NoContext, Timestamp, Uuid};

use crate::setup::{self, Account};
use crate::target::Node;

/// The user who reads the big room.
pub const READER: &str = "bhistory_reader";
/// The user in many rooms, whose room list is read.
pub const LISTER: &str = "bhistory_lister";
/// The big room's name, by which a later run finds it.
pub const BIG_ROOM: &str = "history big";

/// Rows per `COPY` statement: a progress line after each.
const ROWS_PER_COPY: u64 = 1_000_000;
/// Rows per chunk of COPY data handed to the connection.
const ROWS_PER_CHUNK: u64 = 50_000;
/// Bytes of each message's content.
const CONTENT_BYTES: usize = 100;
/// The first message's time; each later one is `SECONDS_APART` after the one before.
const FIRST_MESSAGE_UNIX: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z
const SECONDS_APART: i64 = 3;
/// REST calls in flight while creating the lister's rooms.
const SETUP_CONCURRENCY: usize = 16;

/// What a load writes.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Messages of the big room, seqs 1 to this.
    pub messages: u64,
    /// Rooms of the lister.
    pub rooms: u32,
    /// Messages of each of the lister's rooms, seqs 1 to this.
    pub room_messages: u64,
    /// Of those, how many lie above the lister's read marker.
    pub unread: u64,
}

/// What a run measures with, found in the database.
pub struct Fixture {
    pub reader: Account,
    pub lister: Account,
    pub big_room: String,
    /// The big room's newest seq.
    pub newest: u64,
    pub lister_rooms: u64,
}

/// Creates the accounts and rooms through `node`, copies the messages in and refreshes the
/// planner's statistics. Fails if an earlier load left the accounts.
pub async fn load(http: &reqwest::Client, node: &Node, pool: &PgPool, shape: Shape) -> anyhow::Result<()> {
    let started = Instant::now();
    let reader = setup::register(http, node, READER.into()).await?;
    let lister = setup::register(http, node, LISTER.into()).await?;
    let big_room = setup::create_room(http, node, &reader, &[], BIG_ROOM.into()).await?;
    let rooms: Vec<String> = stream::iter(0..shape.rooms)
        .map(|i| setup::create_room(http, node, &lister, &[], format!("history list {i}")))
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    eprintln!(
        "history: accounts and {} rooms made in {:.1} s",
        rooms.len() + 1,
        started.elapsed().as_secs_f64()
    );

    let big_room = Uuid::parse_str(&big_room)?;
    let mut from = 1;
    while from <= shape.messages {
        let to = (from + ROWS_PER_COPY - 1).min(shape.messages);
        copy(pool, &[big_room], uuid(&reader.id)?, from, to).await?;
        eprintln!("history: big room through seq {to} after {:.1} s", started.elapsed().as_secs_f64());
        from = to + 1;
    }
    let rooms: Vec<Uuid> = rooms.iter().map(|r| Uuid::parse_str(r)).collect::<Result<_, _>>()?;
    copy(pool, &rooms, uuid(&lister.id)?, 1, shape.room_messages).await?;
    sqlx::query("update participants set last_read_seq = $1 where user_id = $2")
        .bind(i64::try_from(shape.room_messages - shape.unread)?)
        .bind(uuid(&lister.id)?)
        .execute(pool)
        .await?;
    // As autovacuum would have left an old table: statistics for the planner, and the
    // visibility map and hint bits set, so that reads do not pay for the load's writes.
    sqlx::raw_sql("vacuum (analyze) messages, participants, rooms").execute(pool).await?;
    eprintln!("history: loaded and vacuumed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Logs in as the fixture's users and finds the big room and its newest seq.
pub async fn find(http: &reqwest::Client, node: &Node, pool: &PgPool) -> anyhow::Result<Fixture> {
    let reader = setup::login(http, node, READER).await.context("no fixture: run with --load first")?;
    let lister = setup::login(http, node, LISTER).await?;
    let big_room: Uuid =
        sqlx::query_scalar("select room_id from participants p join rooms r on r.id = p.room_id where p.user_id = $1 and r.name = $2")
            .bind(uuid(&reader.id)?)
            .bind(BIG_ROOM)
            .fetch_one(pool)
            .await
            .context("the big room")?;
    let newest: i64 = sqlx::query_scalar("select coalesce(max(seq), 0) from messages where room_id = $1")
        .bind(big_room)
        .fetch_one(pool)
        .await?;
    let lister_rooms: i64 =
        sqlx::query_scalar("select count(*) from participants where user_id = $1 and is_active")
            .bind(uuid(&lister.id)?)
            .fetch_one(pool)
            .await?;
    Ok(Fixture {
        reader,
        lister,
        big_room: big_room.to_string(),
        newest: u64::try_from(newest)?,
        lister_rooms: u64::try_from(lister_rooms)?,
    })
}

fn uuid(id: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(id).with_context(|| format!("{id:?} is not a UUID"))
}

/// Copies the messages of seqs `from..=to` of every room in `rooms`, sent by `sender`, in one
/// statement.
async fn copy(pool: &PgPool, rooms: &[Uuid], sender: Uuid, from: u64, to: u64) -> anyhow::Result<()> {
    let mut copy = pool
        .copy_in_raw("copy messages (id, room_id, seq, sender_id, content, kind, created_at) from stdin")
        .await?;
    for room in rooms {
        let mut seq = from;
        while seq <= to {
            let last = (seq + ROWS_PER_CHUNK - 1).min(to);
            copy.send(rows(*room, sender, seq, last)).await?;
            seq = last + 1;
        }
    }
    copy.finish().await?;
    Ok(())
}

/// COPY text rows of seqs `from..=to` of `room`: ids are UUIDv7 of the message's time, as the
/// node makes them, so they rise with seq.
fn rows(room: Uuid, sender: Uuid, from: u64, to: u64) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity((to - from + 1) as usize * (CONTENT_BYTES + 140));
    for seq in from..=to {
        let unix = FIRST_MESSAGE_UNIX + seq as i64 * SECONDS_APART;
        let id = Uuid::new_v7(Timestamp::from_unix(NoContext, unix as u64, 0));
        let at = DateTime::from_timestamp(unix, 0).expect("a time within range");
        let _ = writeln!(
            out,
            "{id}\t{room}\t{seq}\t{sender}\t{}\ttext\t{}",
            content(seq),
            at.format("%Y-%m-%d %H:%M:%S+00")
        );
    }
    out
}

fn content(seq: u64) -> String {
    let mut text = format!("history message {seq} ");
    let pad = CONTENT_BYTES.saturating_sub(text.len());
    text.extend(std::iter::repeat_n('x', pad));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_row_has_the_seven_columns_in_order() {
        let (room, sender) = (Uuid::now_v7(), Uuid::now_v7());
        let data = String::from_utf8(rows(room, sender, 7, 8)).unwrap();
        let lines: Vec<&str> = data.lines().collect();
        assert_eq!(lines.len(), 2);
        let fields: Vec<&str> = lines[0].split('\t').collect();
        assert_eq!(fields.len(), 7);
        assert_eq!(
            (fields[1], fields[2], fields[3]),
            (room.to_string().as_str(), "7", sender.to_string().as_str())
        );
        assert_eq!((fields[4].len(), fields[5]), (CONTENT_BYTES, "text"));
        assert_eq!(fields[6], "2025-01-01 00:00:21+00");
    }

    #[test]
    fn message_ids_rise_with_seq() {
        let data = String::from_utf8(rows(Uuid::nil(), Uuid::nil(), 1, 3)).unwrap();
        let ids: Vec<&str> = data.lines().map(|l| l.split('\t').next().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}
