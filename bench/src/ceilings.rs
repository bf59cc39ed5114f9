//! The `ceilings` scenario: what this machine allows on our path without our code in it:
//! JetStream publishes with many acknowledgements in flight, core NATS fan-out to many
//! subscribers, and batched inserts of message-sized rows into PostgreSQL. A run of ours is
//! then quoted as a percentage of these.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use bytes::Bytes;
use futures::{StreamExt, stream};
use serde::Serialize;
use serde_json::json;

use crate::cli::CeilingsArgs;
use crate::report::Machine;
use crate::setup::run_prefix;
use crate::target;

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
        ceilings.push(pg_insert(url, &prefix, &args).await?);
    }

    for c in &ceilings {
        println!("{:<34} {:>10} in {:>7.2} s = {:>12.0}/s", c.name, c.count, c.secs, c.per_sec);
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

/// Inserts rows shaped like our messages in batches, through `unnest` as the persister does,
/// into a table of its own that is dropped afterwards.
async fn pg_insert(url: &str, prefix: &str, args: &CeilingsArgs) -> anyhow::Result<Ceiling> {
    target::check_database_url(url)?;
    let pool = sqlx::PgPool::connect(url).await.context("connecting to PostgreSQL")?;
    let table = prefix.to_owned();
    sqlx::query(&format!(
        "create table {table} (
             id uuid primary key, room_id uuid not null, seq bigint not null, sender_id uuid not null,
             content text not null, kind text not null, metadata jsonb, client_msg_id text,
             created_at timestamptz not null, updated_at timestamptz not null default now(),
             unique (room_id, seq), unique (room_id, client_msg_id))"
    ))
    .execute(&pool)
    .await?;
    let content = "x".repeat(args.message_bytes);
    let rooms: Vec<uuid::Uuid> = (0..1000).map(|_| uuid::Uuid::new_v4()).collect();
    let started = Instant::now();
    let mut seq = 0i64;
    let mut inserted = 0u64;
    while inserted < args.messages {
        let n = args.batch.min((args.messages - inserted) as usize);
        let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
        let room_ids: Vec<uuid::Uuid> = (0..n).map(|i| rooms[i % rooms.len()]).collect();
        let seqs: Vec<i64> = (0..n as i64).map(|i| seq + i + 1).collect();
        let client_ids: Vec<String> = seqs.iter().map(|s| format!("c-{s}")).collect();
        seq += n as i64;
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
        .execute(&pool)
        .await?;
        inserted += n as u64;
    }
    let elapsed = started.elapsed();
    sqlx::query(&format!("drop table {table}")).execute(&pool).await?;
    Ok(Ceiling::new("postgres batch insert (rows)", inserted, elapsed))
}
