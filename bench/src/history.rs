//! The `history` scenario: reads of a room with millions of stored messages and of the room
//! list of a user in many rooms, through a real node, one request at a time. Each case runs
//! `--requests` times after `--warmup` unmeasured ones; a request counts from its sending until
//! its whole body has arrived.

use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::cli::Codec;
use crate::client;
use crate::history_fixture::{self, Fixture, Shape};
use crate::latency::{Latencies, Summary};
use crate::report::Machine;
use crate::target::{self, Node};

/// How many messages a resume reads.
const RESUME: u64 = 1000;
/// The page size of a history page.
const PAGE: u64 = 50;
/// The most a history page may hold (`GET /rooms/{id}/messages`), so a REST resume takes
/// `RESUME / MAX_PAGE` requests.
const MAX_PAGE: u64 = 200;

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The node to read through (loopback only); the first is used.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub nodes: Vec<String>,
    /// The node's PostgreSQL (loopback only): the fixture is copied into it, and found there.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Load the fixture first (refused if the database holds one already); without it, the
    /// run reads a fixture loaded before.
    #[arg(long)]
    pub load: bool,
    /// Messages of the big room.
    #[arg(long, default_value_t = 10_000_000)]
    pub messages: u64,
    /// Rooms of the user whose room list is read.
    #[arg(long, default_value_t = 1000)]
    pub rooms: u32,
    /// Messages of each of those rooms.
    #[arg(long, default_value_t = 200)]
    pub room_messages: u64,
    /// Of those, how many the user has not read.
    #[arg(long, default_value_t = 100)]
    pub unread: u64,
    /// Measured requests per case.
    #[arg(long, default_value_t = 1000)]
    pub requests: u32,
    /// Unmeasured requests per case before them.
    #[arg(long, default_value_t = 50)]
    pub warmup: u32,
    /// Free text copied into the RESULT line.
    #[arg(long)]
    pub label: Option<String>,
}

impl HistoryArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        target::check_database_url(&self.database_url)?;
        ensure!(self.messages >= 2 * RESUME, "--messages must be at least {}", 2 * RESUME);
        ensure!(self.rooms >= 1, "--rooms must be at least 1");
        ensure!(self.unread <= self.room_messages, "--unread must be at most --room-messages");
        ensure!(self.requests >= 1, "--requests must be at least 1");
        Ok(())
    }

    fn shape(&self) -> Shape {
        Shape {
            messages: self.messages,
            rooms: self.rooms,
            room_messages: self.room_messages,
            unread: self.unread,
        }
    }
}

/// One case's figures.
#[derive(Debug, Serialize)]
struct CaseResult {
    case: &'static str,
    /// HTTP requests (or WebSocket requests) each measured operation takes.
    requests_each: u64,
    latency: Summary,
}

/// The seqs of a page, all the bench checks of it.
#[derive(Deserialize)]
struct PageBody {
    messages: Vec<SeqOnly>,
    has_more: bool,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

#[derive(Deserialize)]
struct RoomsBody {
    rooms: Vec<serde_json::Value>,
}

pub async fn main(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let node = target::parse_nodes(&args.nodes)?.remove(0);
    let pool = PgPoolOptions::new().max_connections(2).connect(&args.database_url).await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    if args.load {
        history_fixture::load(&http, &node, &pool, args.shape()).await?;
    }
    let fixture = history_fixture::find(&http, &node, &pool).await?;
    pool.close().await;
    eprintln!(
        "history: room of {} messages, list of {} rooms; {} requests per case",
        fixture.newest, fixture.lister_rooms, args.requests
    );

    let newest = fixture.newest;
    let middle = newest / 2;
    let resume_from = newest - RESUME;
    let reader = Reader { http: &http, node: &node, fixture: &fixture };
    let mut results = Vec::new();

    let newest_page = format!("/rooms/{}/messages?limit={PAGE}", fixture.big_room);
    let case = time_case(&args, |_| reader.page(&newest_page, newest - PAGE + 1, newest)).await?;
    results.push(CaseResult { case: "newest page (limit 50)", requests_each: 1, latency: case });

    let middle_page = format!("/rooms/{}/messages?before={middle}&limit={PAGE}", fixture.big_room);
    let case = time_case(&args, |_| reader.page(&middle_page, middle - PAGE, middle - 1)).await?;
    results.push(CaseResult { case: "page before the middle", requests_each: 1, latency: case });

    let case = time_case(&args, |_| reader.rest_resume(resume_from)).await?;
    results.push(CaseResult {
        case: "REST resume of 1,000 (after)",
        requests_each: RESUME.div_ceil(MAX_PAGE),
        latency: case,
    });

    // One socket for every resume, as a client's own; the operations run one at a time.
    let socket = Mutex::new(client::connect(&node, &fixture.reader.token, Codec::Json, None).await?);
    let request_ids = AtomicU64::new(1);
    let case = time_case(&args, |_| async {
        let id = request_ids.fetch_add(1, Ordering::Relaxed);
        ws_resume(&mut *socket.lock().await, &fixture.big_room, resume_from, id).await
    })
    .await?;
    results.push(CaseResult { case: "WS join since, 1,000", requests_each: 1, latency: case });
    let _ = socket.lock().await.close(None).await;

    let expected_rooms = fixture.lister_rooms;
    let case = time_case(&args, |_| reader.room_list(expected_rooms)).await?;
    results.push(CaseResult { case: "GET /rooms (unread counts)", requests_each: 1, latency: case });

    print_table(&fixture, &results);
    let line = json!({
        "bench": "chat-bench",
        "version": env!("CARGO_PKG_VERSION"),
        "scenario": "history",
        "label": args.label,
        "ok": true,
        "params": {"messages": fixture.newest, "rooms": fixture.lister_rooms, "requests": args.requests,
                   "warmup": args.warmup},
        "machine": Machine::detect(),
        "results": results,
    });
    println!("RESULT {line}");
    Ok(ExitCode::SUCCESS)
}

/// Runs `--warmup` then `--requests` operations one after another; each returns its own time.
async fn time_case<F, Fut>(args: &HistoryArgs, mut operation: F) -> anyhow::Result<Summary>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    for i in 0..args.warmup {
        operation(i).await?;
    }
    let mut latencies = Latencies::new();
    for i in 0..args.requests {
        let took = operation(i).await?;
        latencies.record(0, u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }
    Ok(latencies.summary())
}

/// Requests of the fixture's users to one node.
struct Reader<'a> {
    http: &'a reqwest::Client,
    node: &'a Node,
    fixture: &'a Fixture,
}

impl Reader<'_> {
    /// GETs `path` as `token` and returns the body and the time until it had all arrived.
    async fn get(&self, path: &str, token: &str) -> anyhow::Result<(bytes::Bytes, Duration)> {
        let started = Instant::now();
        let response = self.http.get(self.node.url(path)).bearer_auth(token).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok((body, took))
    }

    /// A page of the big room, checked to hold exactly seqs `first..=last`.
    async fn page(&self, path: &str, first: u64, last: u64) -> anyhow::Result<Duration> {
        let (body, took) = self.get(path, &self.fixture.reader.token).await?;
        let page: PageBody = serde_json::from_slice(&body).context("a page")?;
        check_seqs(&page.messages, first, last)?;
        Ok(took)
    }

    /// Every message after `since` by pages of the most a page may hold.
    async fn rest_resume(&self, since: u64) -> anyhow::Result<Duration> {
        let (mut after, mut took, mut read) = (since, Duration::ZERO, 0);
        while read < RESUME {
            let path = format!("/rooms/{}/messages?after={after}&limit={MAX_PAGE}", self.fixture.big_room);
            let (body, one) = self.get(&path, &self.fixture.reader.token).await?;
            took += one;
            let page: PageBody = serde_json::from_slice(&body).context("a page")?;
            check_seqs(&page.messages, after + 1, after + MAX_PAGE.min(RESUME - read))?;
            read += page.messages.len() as u64;
            after += page.messages.len() as u64;
            ensure!(page.has_more == (read < RESUME), "has_more is {} after {read}", page.has_more);
        }
        Ok(took)
    }

    async fn room_list(&self, expected: u64) -> anyhow::Result<Duration> {
        let (body, took) = self.get("/rooms", &self.fixture.lister.token).await?;
        let list: RoomsBody = serde_json::from_slice(&body).context("a room list")?;
        ensure!(list.rooms.len() as u64 == expected, "{} rooms listed, not {expected}", list.rooms.len());
        Ok(took)
    }
}

fn check_seqs(messages: &[SeqOnly], first: u64, last: u64) -> anyhow::Result<()> {
    let seqs = messages.iter().map(|m| m.seq);
    ensure!(seqs.eq(first..=last), "the page is not seqs {first} to {last}");
    Ok(())
}

/// A resume as a client makes it: `join` with `since` on an open socket, answered with every
/// message after it; timed from the frame's sending to the reply's arrival.
async fn ws_resume(socket: &mut client::Socket, room: &str, since: u64, id: u64) -> anyhow::Result<Duration> {
    let frame = json!({"type": "join", "id": id, "room": room, "since": since});
    let started = Instant::now();
    socket.send(WsMessage::Text(frame.to_string().into())).await?;
    while let Some(message) = socket.next().await {
        let message = message?;
        let Some(bytes) = client::payload(&message) else { continue };
        let took = started.elapsed();
        let reply: serde_json::Value = serde_json::from_slice(bytes)?;
        if reply["type"] != "reply" || reply["id"] != id {
            continue;
        }
        ensure!(reply["ok"] == true, "join refused: {}", reply["error"]);
        let got = reply["messages"].as_array().map_or(0, Vec::len) as u64;
        ensure!(got == RESUME && reply["recovered"] == true, "the resume gave {got} messages");
        return Ok(took);
    }
    bail!("the socket closed during a resume")
}

fn print_table(fixture: &Fixture, results: &[CaseResult]) {
    println!(
        "history: room of {} messages; room list of {} rooms; times in ms",
        fixture.newest, fixture.lister_rooms
    );
    println!("  {:<30} {:>4} {:>8} {:>8} {:>8} {:>8} {:>7}", "case", "reqs", "p50", "p95", "p99", "max", "n");
    for r in results {
        let s = &r.latency;
        println!(
            "  {:<30} {:>4} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7}",
            r.case, r.requests_each, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.count
        );
    }
}
