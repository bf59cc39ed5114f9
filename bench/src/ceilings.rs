//! The `ceilings` scenario: what this machine allows on our path without our code in it:
//! JetStream publishes with many acknowledgements in flight, core NATS fan-out to many
//! subscribers, and batched inserts and copies of message-sized rows into PostgreSQL. A run of ours is
//! then quoted as a percentage of these.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_nats::jetstream;
use bytes::Bytes;
use futures::{StreamExt, stream};
use serde::Serialize;
use serde_json::json;
use sqlx::postgres::PgPoolCopyExt;

use crate::cli::CeilingsArgs;
use crate::report::Machine;
use crate::setup::run_prefix;
use crate::{target, versions};

#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    pub name: &'static str,
    pub count: u64,
    pub secs: f64,
    pub per_sec: f64,
}

impl Ceiling {
    fn new(name: &'static str, count: u64, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        Ceiling { name, count, secs, per_sec: count as f64 / secs.max(f64::EPSILON) }
    }
}

pub async fn main(args: CeilingsArgs) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let prefix = format!("bench_ceiling_{}", run_prefix());
    let payload = Bytes::from(vec![b'x'; args.message_bytes]);
    let nats = async_nats::connect(&args.nats_url).await.context("connecting to NATS")?;

    let mut ceilings = vec![jetstream_publish(&nats, &prefix, &payload, &args).await?];
    ceilings.push(core_fanout(&nats, &prefix, &payload, &args).await?);
    if let Some(url) = &args.database_url {
        ceilings.extend(pg_writes(url, &prefix, &args).await?);
    }

    for c in &ceilings {
        println!("{:<34} {:>10} in {:>7.2} s = {:>12.0}/s", c.name, c.count, c.secs, c.per_sec);
    }
    let mut versions = versions::bench();
    versions::add_nats(&mut versions, &args.nats_url).await;
    if let Some(url) = &args.database_url {
        versions::add_postgres(&mut versions, url).await;
    }
    let line = json!({
        "bench": "chat-bench",
        "version": env!("CARGO_PKG_VERSION"),
        "scenario": "ceilings",
        "label": args.label,
        "ok": true,
        "params": {
            "messages": args.messages, "in_flight": args.in_flight, "replicas": args.replicas,
            "subscribers": args.subscribers,
            "message_bytes": args.message_bytes, "batch": args.batch,
        },
        "machine": Machine::detect(),
        "versions": versions,
        "results": ceilings,
    });
    println!("RESULT {line}");
    Ok(ExitCode::SUCCESS)
}

/// Publishes to a file-backed stream of `--replicas` copies, like ours, with `in_flight` PubAcks
/// awaited at once; the stream is deleted afterwards.
async fn jetstream_publish(
    nats: &async_nats::Client,
    prefix: &str,
    payload: &Bytes,
    args: &CeilingsArgs,
) -> anyhow::Result<Ceiling> {
    let js = jetstream::new(nats.clone());
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: prefix.to_owned(),
            subjects: vec![format!("{prefix}.>")],
            storage: jetstream::stream::StorageType::File,
            num_replicas: args.replicas,
            ..Default::default()
        })
        .await
        .context("creating the ceiling's stream")?;
    let started = Instant::now();
    let result = stream::iter(0..args.messages)
        .map(|i| {
            let js = js.clone();
            let payload = payload.clone();
            // Spread over rooms as the cluster does: one subject per room.
            let subject = format!("{prefix}.msg.{}", i % 1000);
            async move { js.publish(subject, payload).await?.await.map(|_| ()).map_err(anyhow::Error::from) }
        })
        .buffer_unordered(args.in_flight)
        .fold(Ok(()), |acc: anyhow::Result<()>, r| async move { acc.and(r) })
        .await;
    let elapsed = started.elapsed();
    js.delete_stream(stream.cached_info().config.name.as_str()).await.ok();
    result.context("publishing to JetStream")?;
    Ok(Ceiling::new("jetstream publish (acked msgs)", args.messages, elapsed))
}

/// One publisher, `subscribers` subscriptions on its own connections: deliveries per second.
async fn core_fanout(
    nats: &async_nats::Client,
    prefix: &str,
    payload: &Bytes,
    args: &CeilingsArgs,
) -> anyhow::Result<Ceiling> {
    let subject = format!("{prefix}.fanout");
    let expected = args.messages;
    let mut receivers = Vec::new();
    for _ in 0..args.subscribers {
        let client = async_nats::connect(&args.nats_url).await?;
        let mut subscriber = client.subscribe(subject.clone()).await?;
        client.flush().await?;
        receivers.push(tokio::spawn(async move {
            // Core NATS drops what a slow subscriber cannot take: count what came, and end
            // the clock at the last arrival, not at the wait for ones that never will.
            let (mut got, mut last) = (0u64, Instant::now());
            while got < expected {
                match tokio::time::timeout(Duration::from_secs(2), subscriber.next()).await {
                    Ok(Some(_)) => {
                        got += 1;
                        last = Instant::now();
                    }
                    _ => break,
                }
            }
            (got, last, client)
        }));
    }
    let started = Instant::now();
    for _ in 0..args.messages {
        nats.publish(subject.clone(), payload.clone()).await?;
    }
    nats.flush().await?;
    let mut delivered = 0;
    let mut last = started;
    for receiver in receivers {
        let (got, done, _client) = receiver.await?;
        delivered += got;
        last = last.max(done);
    }
    Ok(Ceiling::new("nats core fan-out (deliveries)", delivered, last - started))
}

/// How a batch goes into PostgreSQL: `insert ... select from unnest(...) on conflict do
/// nothing`, the persister's way when a batch may hold stored messages, or binary `COPY`, its
/// way otherwise.
#[derive(Clone, Copy)]
enum PgWrite {
    Insert,
    Copy,
}

/// Writes rows shaped like our messages in batches, both ways, each into a table of its own
/// that is dropped afterwards.
async fn pg_writes(url: &str, prefix: &str, args: &CeilingsArgs) -> anyhow::Result<Vec<Ceiling>> {
    target::check_database_url(url)?;
    let pool = sqlx::PgPool::connect(url).await.context("connecting to PostgreSQL")?;
    let insert = pg_write(&pool, &format!("{prefix}_insert"), PgWrite::Insert, args).await?;
    let copy = pg_write(&pool, &format!("{prefix}_copy"), PgWrite::Copy, args).await?;
    Ok(vec![insert, copy])
}

async fn pg_write(
    pool: &sqlx::PgPool,
    table: &str,
    how: PgWrite,
    args: &CeilingsArgs,
) -> anyhow::Result<Ceiling> {
    // The keys and indexes of `messages` as the migrations leave them.
    sqlx::query(&format!(
        "create table {table} (
             id uuid not null, room_id uuid not null, seq bigint not null, sender_id uuid not null,
             content text not null, kind text not null, metadata jsonb, client_msg_id text,
             created_at timestamptz not null, updated_at timestamptz not null default now(),
             primary key (room_id, seq))"
    ))
    .execute(pool)
    .await?;
    sqlx::query(&format!(
        "create index {table}_client_id_idx on {table} using hash ((room_id::text || client_msg_id))"
    ))
    .execute(pool)
    .await?;
    let content = "x".repeat(args.message_bytes);
    let rooms: Vec<uuid::Uuid> = (0..1000).map(|_| uuid::Uuid::new_v4()).collect();
    let started = Instant::now();
    let mut seq = 0i64;
    let mut written = 0u64;
    while written < args.messages {
        let n = args.batch.min((args.messages - written) as usize);
        let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
        let room_ids: Vec<uuid::Uuid> = (0..n).map(|i| rooms[i % rooms.len()]).collect();
        let seqs: Vec<i64> = (0..n as i64).map(|i| seq + i + 1).collect();
        let client_ids: Vec<String> = seqs.iter().map(|s| format!("c-{s}")).collect();
        seq += n as i64;
        match how {
            PgWrite::Insert => {
                sqlx::query(&format!(
                    "insert into {table} (id, room_id, seq, sender_id, content, kind, client_msg_id, created_at)
                     select i, r, s, r, $4, 'text', c, now()
                     from unnest($1::uuid[], $2::uuid[], $3::int8[], $5::text[]) as u (i, r, s, c)
                     on conflict do nothing"
                ))
                .bind(&ids)
                .bind(&room_ids)
                .bind(&seqs)
                .bind(&content)
                .bind(&client_ids)
                .execute(pool)
                .await?;
            }
            PgWrite::Copy => {
                let mut data = CopyRows::default();
                for i in 0..n {
                    let now = postgres_micros_now();
                    data.row(&[
                        ids[i].as_bytes(),
                        room_ids[i].as_bytes(),
                        &seqs[i].to_be_bytes(),
                        room_ids[i].as_bytes(),
                        content.as_bytes(),
                        b"text",
                        client_ids[i].as_bytes(),
                        &now.to_be_bytes(),
                    ]);
                }
                let statement = format!(
                    "copy {table} (id, room_id, seq, sender_id, content, kind, client_msg_id, created_at)
                     from stdin (format binary)"
                );
                let mut copy = pool.copy_in_raw(&statement).await?;
                copy.send(data.finish()).await?;
                copy.finish().await?;
            }
        }
        written += n as u64;
    }
    let elapsed = started.elapsed();
    sqlx::query(&format!("drop table {table}")).execute(pool).await?;
    let name = match how {
        PgWrite::Insert => "postgres batch insert (rows)",
        PgWrite::Copy => "postgres batch copy (rows)",
    };
    Ok(Ceiling::new(name, written, elapsed))
}

/// Binary `COPY` data (PostgreSQL's format: signature, flags, header extension, then per row a
/// field count and length-prefixed fields, then a trailer), for rows with no null field.
struct CopyRows(Vec<u8>);

impl Default for CopyRows {
    fn default() -> Self {
        let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
        data.extend_from_slice(&[0; 8]);
        CopyRows(data)
    }
}

impl CopyRows {
    fn row(&mut self, fields: &[&[u8]]) {
        let count = i16::try_from(fields.len()).expect("a row has few fields");
        self.0.extend_from_slice(&count.to_be_bytes());
        for field in fields {
            let len = i32::try_from(field.len()).expect("a field is far below 2 GiB");
            self.0.extend_from_slice(&len.to_be_bytes());
            self.0.extend_from_slice(field);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&(-1i16).to_be_bytes());
        self.0
    }
}

/// Now as a binary timestamptz: microseconds since 2000-01-01 00:00:00 UTC.
fn postgres_micros_now() -> i64 {
    const POSTGRES_EPOCH_UNIX_SECS: u64 = 946_684_800;
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is past 1970");
    let micros = since.as_micros() - u128::from(POSTGRES_EPOCH_UNIX_SECS) * 1_000_000;
    i64::try_from(micros).expect("now fits in a timestamptz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_are_a_field_count_then_length_prefixed_fields_between_header_and_trailer() {
        let mut rows = CopyRows::default();
        rows.row(&[b"ab", b""]);
        let expected: Vec<u8> = [
            &b"PGCOPY\n\xff\r\n\0"[..],
            &[0; 8],
            &[0, 2],
            &[0, 0, 0, 2],
            b"ab",
            &[0, 0, 0, 0],
            &[0xff, 0xff],
        ]
        .concat();
        assert_eq!(rows.finish(), expected);
    }
}
