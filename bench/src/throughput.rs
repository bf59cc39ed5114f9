//! The throughput scenario: members of group rooms on WebSockets spread over the nodes, some
//! of them sending (paced or flat out) with a timing tag in each message, every connection
//! recording what it receives; then the rates, latency percentiles and the completeness check.
//!
//! Each connection runs one reader task and, if it sends, one writer task. The writer takes a
//! permit per send from a semaphore of `--in-flight` permits; the reader gives it back when
//! the reply arrives.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt, TryStreamExt, stream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cli::{Codec, ThroughputArgs};
use crate::client::{self, SendFrame, Socket};
use crate::completeness::{self, Acked, Completeness, Delivered, RoomAcks, check_connection};
use crate::latency::{Clock, Latencies, Window};
use crate::report::{self, MissingExample, ThroughputResults};
use crate::setup::{self, Fixture};
use crate::tag::Tag;
use crate::target::{self, Node};

/// Time between the last task starting and the first send, so every writer starts on time.
const START_DELAY: Duration = Duration::from_millis(500);
/// How often the drain looks whether frames still arrive.
const DRAIN_POLL: Duration = Duration::from_millis(50);
/// Lost deliveries named in the report, at most.
const MISSING_EXAMPLES: usize = 20;
/// How long closing the sockets at the end may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn main(args: ThroughputArgs) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let prepared = prepare(&args).await?;
    let outcome = prepared.run().await?;
    let ok = outcome.results.is_clean();
    print!("{}", report::table(&args, &outcome.results));
    warn(&outcome.results);
    println!("{}", report::result_line("throughput", &args, &outcome.results, None, ok));
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Tells on stderr what makes a run's numbers meaningless or its check fail.
pub fn warn(r: &ThroughputResults) {
    if r.refused.contains_key("rate_limited") || r.early_closes.keys().any(|k| k.starts_with("4008")) {
        eprintln!(
            "WARNING: the server rate-limited sends; start the nodes with --send-rate 0 \
             (or lower --rate below 20 per sending connection)"
        );
    }
    if !r.is_clean() {
        eprintln!(
            "FAILED: messages were lost, duplicated or reordered, sends went unanswered, or sockets closed early"
        );
    }
}

/// A run with its accounts, rooms and joined sockets, ready to send.
pub struct Prepared {
    args: ThroughputArgs,
    fixture: Fixture,
    conns: Vec<Conn>,
    clock: Clock,
    connect_secs: f64,
}

struct Conn {
    ws: Socket,
    room: u32,
    sender: bool,
}

/// What a run produced, with when its send phase ran (for the persist scenario).
pub struct Outcome {
    pub results: ThroughputResults,
    pub send_started: Instant,
    pub send_ended: Instant,
    /// When the last reply to a send arrived: in-flight sends are still answered after
    /// sending stops.
    pub last_reply: Instant,
    /// Distinct acknowledged messages over all rooms.
    pub acked_unique: u64,
}

/// Registers the users, creates the rooms, connects one socket per user (round-robin over the
/// nodes) and joins each to its room.
pub async fn prepare(args: &ThroughputArgs) -> anyhow::Result<Prepared> {
    let nodes = target::parse_nodes(&args.nodes)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    eprintln!("setup: registering {} users and creating {} rooms ...", args.rooms * args.members, args.rooms);
    let fixture = setup::create(&http, &nodes, args.rooms, args.members, args.setup_concurrency).await?;
    let clock = Clock::start();

    eprintln!("setup: connecting and joining {} sockets ...", fixture.accounts.len());
    let started = Instant::now();
    let members = args.members as usize;
    let senders = args.senders_per_room() as usize;
    let conns: Vec<Conn> = stream::iter(fixture.accounts.iter().enumerate())
        .map(|(i, account)| {
            let node: &Node = &nodes[i % nodes.len()];
            let local = (!args.bind.is_empty()).then(|| args.bind[i % args.bind.len()]);
            let room = i / members;
            let room_id = &fixture.rooms[room];
            async move {
                let mut ws = client::connect(node, &account.token, args.codec, local)
                    .await
                    .with_context(|| format!("socket {i}"))?;
                client::join(&mut ws, args.codec, room_id).await.with_context(|| format!("socket {i}"))?;
                anyhow::Ok(Conn { ws, room: room as u32, sender: i % members < senders })
            }
        })
        .buffered(args.setup_concurrency)
        .try_collect()
        .await?;
    let connect_secs = started.elapsed().as_secs_f64();
    Ok(Prepared { args: args.clone(), fixture, conns, clock, connect_secs })
}

/// Counters every task of the run shares.
#[derive(Default)]
struct Shared {
    /// Frames received on any connection, for the drain.
    frames: AtomicU64,
    /// Send frames written.
    sent: AtomicU64,
    /// Replies to sends received (ok or not).
    replied: AtomicU64,
    /// Clock reading of the latest reply to a send.
    last_reply_at: AtomicU64,
}

impl Prepared {
    pub fn room_ids(&self) -> anyhow::Result<Vec<uuid::Uuid>> {
        self.fixture.rooms.iter().map(|r| Ok(r.parse()?)).collect()
    }

    pub async fn run(self) -> anyhow::Result<Outcome> {
        let Prepared { args, fixture, conns, clock, connect_secs } = self;
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let total_senders = conns.iter().filter(|c| c.sender).count();

        let start_at = Instant::now() + START_DELAY;
        let measure_from = start_at + args.warmup();
        let end_at = measure_from + args.duration();
        let window = Window { from: clock.at(measure_from.into_std()), to: clock.at(end_at.into_std()) };
        let interval = (args.rate > 0.0).then(|| Duration::from_secs_f64(total_senders as f64 / args.rate));
        let client_msg_prefix = (!args.no_client_msg_id).then(|| fixture.prefix.clone());

        let mut readers = Vec::with_capacity(conns.len());
        let mut writers = Vec::new();
        let mut idle_sinks = Vec::new();
        let mut sender_index = 0usize;
        for (index, conn) in conns.into_iter().enumerate() {
            let (sink, stream) = conn.ws.split();
            let room_id: Arc<str> = fixture.rooms[conn.room as usize].as_str().into();
            let permits = conn.sender.then(|| Arc::new(Semaphore::new(args.in_flight as usize)));
            let reader = Reader {
                codec: args.codec,
                clock,
                window,
                conn: index as u32,
                room_id: room_id.clone(),
                permits: permits.clone(),
                shared: shared.clone(),
                stats: ConnStats::new(conn.room, conn.sender),
            };
            readers.push(tokio::spawn(reader.run(stream, stop.clone())));
            match permits {
                Some(permits) => {
                    let writer = Writer {
                        codec: args.codec,
                        clock,
                        window,
                        conn: index as u32,
                        room_id,
                        content_bytes: args.content_bytes,
                        client_msg_prefix: client_msg_prefix.clone(),
                        start_at,
                        end_at,
                        pace: interval
                            .map(|every| (every, every.mul_f64(sender_index as f64 / total_senders as f64))),
                        permits,
                        shared: shared.clone(),
                    };
                    sender_index += 1;
                    writers.push(tokio::spawn(writer.run(sink)));
                }
                None => idle_sinks.push(sink),
            }
        }
        eprintln!(
            "run: {} sockets, {} senders, {:.1} s warm-up + {:.1} s measured ...",
            readers.len(),
            total_senders,
            args.warmup,
            args.duration
        );

        let cpu_before = report::process_cpu_secs();
        let machine_before = report::machine_busy_secs();
        tokio::time::sleep_until(end_at).await;
        let mut sinks = idle_sinks;
        let mut skipped_sends = 0;
        let mut sent_in_window = 0;
        let mut write_errors: BTreeMap<String, u64> = BTreeMap::new();
        for writer in writers {
            let (sink, stats) = writer.await?;
            sinks.push(sink);
            skipped_sends += stats.skipped;
            sent_in_window += stats.in_window;
            if let Some(err) = stats.error {
                *write_errors.entry(format!("write error: {err}")).or_default() += 1;
            }
        }
        let send_ended = Instant::now();

        // Drain: replies first, then until no frame has arrived for the idle time.
        let drain_deadline = send_ended + Duration::from_secs_f64(args.drain_max);
        let drain_idle = Duration::from_secs_f64(args.drain_idle);
        let mut last_count = shared.frames.load(Ordering::Relaxed);
        let mut last_change = Instant::now();
        let mut last_frame_at = send_ended;
        loop {
            tokio::time::sleep(DRAIN_POLL).await;
            let now = Instant::now();
            let count = shared.frames.load(Ordering::Relaxed);
            if count != last_count {
                last_count = count;
                last_change = now;
                last_frame_at = now;
            }
            let replies_done = shared.replied.load(Ordering::Relaxed) >= shared.sent.load(Ordering::Relaxed);
            if now >= drain_deadline || (replies_done && now - last_change >= drain_idle) {
                break;
            }
        }
        let drain_secs = (last_frame_at - send_ended).as_secs_f64();
        let cpu_secs = report::process_cpu_secs() - cpu_before;
        let machine_secs = report::machine_busy_secs() - machine_before;
        let cpu_span = (Instant::now() - start_at).as_secs_f64();

        stop.cancel();
        let mut stats = Vec::with_capacity(readers.len());
        for reader in readers {
            stats.push(reader.await?);
        }
        close_all(sinks).await;

        let sent = shared.sent.load(Ordering::Relaxed);
        let replied = shared.replied.load(Ordering::Relaxed);
        let mut results = summarize(&args, &fixture, &stats, window, sent, replied);
        for (k, v) in write_errors {
            *results.early_closes.entry(k).or_default() += v;
        }
        results.connect_secs = connect_secs;
        results.skipped_sends = skipped_sends;
        results.sends_per_sec = window.rate(sent_in_window);
        results.drain_secs = drain_secs;
        if cpu_span > 0.0 {
            results.bench_cpu_cores = cpu_secs / cpu_span;
            results.machine_cpu_cores = machine_secs / cpu_span;
        }
        let acked_unique = acked_unique(&args, &stats);
        let last_reply = Instant::from_std(clock.instant(shared.last_reply_at.load(Ordering::Relaxed)));
        Ok(Outcome {
            results,
            send_started: start_at,
            send_ended,
            last_reply: last_reply.max(start_at),
            acked_unique,
        })
    }
}

/// Closes every socket politely, all at once, without waiting long for slow ones.
async fn close_all(sinks: Vec<SplitSink<Socket, Message>>) {
    let closing = futures::future::join_all(sinks.into_iter().map(|mut sink| async move {
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    }));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
}

fn room_acks(args: &ThroughputArgs, stats: &[ConnStats]) -> Vec<RoomAcks> {
    let mut by_room: Vec<Vec<Acked>> = vec![Vec::new(); args.rooms as usize];
    for s in stats {
        by_room[s.room as usize].extend_from_slice(&s.acked);
    }
    by_room.into_iter().map(RoomAcks::new).collect()
}

fn acked_unique(args: &ThroughputArgs, stats: &[ConnStats]) -> u64 {
    room_acks(args, stats).iter().map(|r| r.len() as u64).sum()
}

/// Folds every connection's record into the run's results (the writer-side fields are filled
/// by the caller).
fn summarize(
    args: &ThroughputArgs,
    fixture: &Fixture,
    stats: &[ConnStats],
    window: Window,
    sent: u64,
    replied: u64,
) -> ThroughputResults {
    let rooms = room_acks(args, stats);
    let mut completeness = Completeness::default();
    for room in &rooms {
        completeness.conflicting_acks += room.conflicts();
    }
    let mut ack_latency = Latencies::new();
    let mut delivery_latency = Latencies::new();
    let mut refused = BTreeMap::new();
    let mut error_frames = BTreeMap::new();
    let mut early_closes = BTreeMap::new();
    let (mut acked, mut acks_in_window, mut deliveries, mut own) = (0, 0, 0, 0);
    let (mut undecodable, mut foreign) = (0, 0);
    let mut missing_examples = Vec::new();
    for (index, s) in stats.iter().enumerate() {
        let room = &rooms[s.room as usize];
        let checked = check_connection(room, &s.delivered);
        if checked.missing > 0 && missing_examples.len() < MISSING_EXAMPLES {
            let last = completeness::last_seq(room);
            for lost in completeness::missing(room, &s.delivered, MISSING_EXAMPLES - missing_examples.len()) {
                missing_examples.push(MissingExample {
                    connection: index as u32,
                    node: args.nodes[index % args.nodes.len()].clone(),
                    room: fixture.rooms[s.room as usize].clone(),
                    seq: lost.seq,
                    message_id: uuid::Uuid::from_u128(lost.id).to_string(),
                    last_in_room: Some(lost.seq) == last,
                });
            }
        }
        completeness += checked;
        if let Some(latencies) = &s.ack_latency {
            ack_latency.merge(latencies);
        }
        delivery_latency.merge(&s.delivery_latency);
        acked += s.acked.len() as u64;
        acks_in_window += s.acks_in_window;
        deliveries += s.deliveries_in_window;
        own += s.own_in_window;
        undecodable += s.undecodable;
        foreign += s.foreign;
        for (code, n) in &s.refused {
            *refused.entry(code.clone()).or_default() += n;
        }
        for (code, n) in &s.error_frames {
            *error_frames.entry(code.clone()).or_default() += n;
        }
        if let Some(end) = &s.ended {
            *early_closes.entry(end.clone()).or_default() += 1;
        }
    }
    ThroughputResults {
        run_prefix: fixture.prefix.clone(),
        users: fixture.accounts.len() as u64,
        senders: stats.iter().filter(|s| s.ack_latency.is_some()).count() as u64,
        register_secs: fixture.register_secs,
        rooms_secs: fixture.rooms_secs,
        connect_secs: 0.0,
        window_secs: window.seconds(),
        sends: sent,
        acked,
        refused,
        unanswered: sent.saturating_sub(replied),
        skipped_sends: 0,
        sends_per_sec: 0.0,
        acks_per_sec: window.rate(acks_in_window),
        deliveries_per_sec: window.rate(deliveries),
        deliveries_to_others_per_sec: window.rate(deliveries - own),
        ack_latency: ack_latency.summary(),
        delivery_latency: delivery_latency.summary(),
        completeness,
        missing_examples,
        error_frames,
        undecodable_frames: undecodable,
        foreign_messages: foreign,
        early_closes,
        drain_secs: 0.0,
        bench_cpu_cores: 0.0,
        machine_cpu_cores: 0.0,
    }
}

/// What one connection saw.
struct ConnStats {
    room: u32,
    /// `message` frames of its room, in arrival order.
    delivered: Vec<Delivered>,
    /// Its own sends the server acknowledged.
    acked: Vec<Acked>,
    /// Send → reply, for sends stamped in the window; `None` for a connection that only reads.
    ack_latency: Option<Latencies>,
    /// Send → receipt, for messages stamped in the window, the sender's own copy included.
    delivery_latency: Latencies,
    acks_in_window: u64,
    deliveries_in_window: u64,
    /// Of those, copies of this connection's own sends.
    own_in_window: u64,
    refused: BTreeMap<String, u64>,
    error_frames: BTreeMap<String, u64>,
    undecodable: u64,
    foreign: u64,
    /// Why the connection ended before the bench stopped it.
    ended: Option<String>,
}

impl ConnStats {
    fn new(room: u32, sender: bool) -> ConnStats {
        ConnStats {
            room,
            delivered: Vec::new(),
            acked: Vec::new(),
            ack_latency: sender.then(Latencies::new),
            delivery_latency: Latencies::new(),
            acks_in_window: 0,
            deliveries_in_window: 0,
            own_in_window: 0,
            refused: BTreeMap::new(),
            error_frames: BTreeMap::new(),
            undecodable: 0,
            foreign: 0,
            ended: None,
        }
    }
}

struct Reader {
    codec: Codec,
    clock: Clock,
    window: Window,
    conn: u32,
    room_id: Arc<str>,
    permits: Option<Arc<Semaphore>>,
    shared: Arc<Shared>,
    stats: ConnStats,
}

impl Reader {
    async fn run(mut self, mut stream: SplitStream<Socket>, stop: CancellationToken) -> ConnStats {
        loop {
            let next = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                next = stream.next() => next,
            };
            let now = self.clock.now();
            match next {
                Some(Ok(Message::Text(text))) => self.frame(text.as_bytes(), now),
                Some(Ok(Message::Binary(bytes))) => self.frame(&bytes, now),
                Some(Ok(Message::Close(close))) => {
                    self.stats.ended = Some(match close {
                        Some(c) => format!("{} {}", u16::from(c.code), c.reason),
                        None => "closed without a code".into(),
                    });
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    self.stats.ended = Some(format!("read error: {err}"));
                    break;
                }
                None => {
                    self.stats.ended = Some("connection ended".into());
                    break;
                }
            }
        }
        // Sends still in flight are released so a writer never waits on a dead reader.
        if let Some(permits) = &self.permits {
            permits.close();
        }
        self.stats
    }

    fn frame(&mut self, bytes: &[u8], now: u64) {
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
        let Ok(frame) = client::decode(self.codec, bytes) else {
            self.stats.undecodable += 1;
            return;
        };
        let s = &mut self.stats;
        match frame.kind.as_ref() {
            "message" => {
                let Some(message) = frame.message else {
                    s.undecodable += 1;
                    return;
                };
                let tag = Tag::parse(&message.content);
                if *message.room_id != *self.room_id || tag.is_none() {
                    s.foreign += 1;
                    return;
                }
                s.delivered.push(Delivered { seq: message.seq, id: id_bits(&message.id) });
                if let Some(tag) = tag {
                    if self.window.contains(now) {
                        s.deliveries_in_window += 1;
                        s.own_in_window += u64::from(tag.conn == self.conn);
                    }
                    if tag.sent_at >= self.window.from {
                        s.delivery_latency.record(tag.sent_at, now);
                    }
                }
            }
            // Request id 0 was the join, answered during setup.
            "reply" if frame.id.is_some_and(|id| id > 0) => {
                self.shared.replied.fetch_add(1, Ordering::Relaxed);
                self.shared.last_reply_at.fetch_max(now, Ordering::Relaxed);
                if let Some(permits) = &self.permits {
                    permits.add_permits(1);
                }
                if frame.ok != Some(true) {
                    let code = frame.error.map_or_else(|| "unknown".into(), |e| e.code.into_owned());
                    *s.refused.entry(code).or_default() += 1;
                    return;
                }
                let Some(message) = frame.message else {
                    *s.refused.entry("ok without a message".into()).or_default() += 1;
                    return;
                };
                s.acked.push(Acked { seq: message.seq, id: id_bits(&message.id) });
                if self.window.contains(now) {
                    s.acks_in_window += 1;
                }
                if let (Some(tag), Some(latencies)) = (Tag::parse(&message.content), &mut s.ack_latency)
                    && tag.sent_at >= self.window.from
                {
                    latencies.record(tag.sent_at, now);
                }
            }
            "error" => {
                let code = frame.error.map_or_else(|| "unknown".into(), |e| e.code.into_owned());
                *s.error_frames.entry(code).or_default() += 1;
            }
            _ => {}
        }
    }
}

/// A message id as a number; 0 for one that is not a UUID (then it shows as a mismatch).
fn id_bits(id: &str) -> u128 {
    uuid::Uuid::parse_str(id).map(|u| u.as_u128()).unwrap_or(0)
}

struct Writer {
    codec: Codec,
    clock: Clock,
    window: Window,
    conn: u32,
    room_id: Arc<str>,
    content_bytes: usize,
    client_msg_prefix: Option<String>,
    start_at: Instant,
    end_at: Instant,
    /// Paced: the interval between this sender's sends and its offset from the start.
    pace: Option<(Duration, Duration)>,
    permits: Arc<Semaphore>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct WriterStats {
    /// Sends stamped inside the window.
    in_window: u64,
    skipped: u64,
    error: Option<String>,
}

impl Writer {
    async fn run(self, mut sink: SplitSink<Socket, Message>) -> (SplitSink<Socket, Message>, WriterStats) {
        let mut stats = WriterStats::default();
        let mut content = String::with_capacity(self.content_bytes + 32);
        let mut client_msg_id = String::new();
        let mut ticker = self.pace.map(|(every, offset)| {
            let mut ticker = tokio::time::interval_at(self.start_at + offset, every);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
            ticker
        });
        if ticker.is_none() {
            tokio::time::sleep_until(self.start_at).await;
        }
        let mut request = 0u64;
        loop {
            match &mut ticker {
                Some(ticker) => {
                    if tokio::time::timeout_at(self.end_at, ticker.tick()).await.is_err() {
                        break;
                    }
                    match self.permits.try_acquire() {
                        Ok(permit) => permit.forget(),
                        Err(tokio::sync::TryAcquireError::NoPermits) => {
                            stats.skipped += 1;
                            continue;
                        }
                        Err(tokio::sync::TryAcquireError::Closed) => break,
                    }
                }
                None => match tokio::time::timeout_at(self.end_at, self.permits.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    _ => break,
                },
            }
            if Instant::now() >= self.end_at {
                break;
            }
            request += 1;
            let sent_at = self.clock.now();
            Tag { sent_at, conn: self.conn, request }.write_content(&mut content, self.content_bytes);
            let client_msg_id = self.client_msg_prefix.as_ref().map(|prefix| {
                client_msg_id.clear();
                let _ = write!(client_msg_id, "{prefix}-{}-{request}", self.conn);
                client_msg_id.as_str()
            });
            let frame = SendFrame {
                kind: "send",
                id: request,
                room: &self.room_id,
                content: &content,
                client_msg_id,
            };
            let message = match client::encode(self.codec, &frame) {
                Ok(message) => message,
                Err(err) => {
                    stats.error = Some(err.to_string());
                    break;
                }
            };
            self.shared.sent.fetch_add(1, Ordering::Relaxed);
            stats.in_window += u64::from(self.window.contains(sent_at));
            if let Err(err) = sink.send(message).await {
                self.shared.sent.fetch_sub(1, Ordering::Relaxed);
                stats.error = Some(err.to_string());
                break;
            }
        }
        (sink, stats)
    }
}
