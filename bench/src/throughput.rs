//! The throughput scenario: members of group rooms on WebSockets spread over the nodes, some
//! of them sending (paced or flat out, and under `--mix` also reacting, editing and deleting)
//! with a timing tag in each message, every connection recording what it receives; then the
//! rates, latency percentiles and the completeness check.
//!
//! Each connection runs one reader task ([`crate::receive`]) and, if it sends, one writer task
//! ([`crate::send`]). The writer takes a permit per send from a semaphore of `--in-flight`
//! permits; the reader gives it back when the reply arrives. Both systems (the chat cluster and
//! the Socket.IO peer) go through the same tasks, pacing, latency accounting and report; they
//! differ in setup, framing and which order the completeness check holds them to.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt, TryStreamExt, stream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cli::{System, ThroughputArgs};
use crate::client::{self, Socket};
use crate::completeness::{self, Acked, Completeness, RoomAcks};
use crate::latency::{Clock, Latencies, Window};
use crate::logins::LoginLoad;
use crate::mix::{OpKind, PerKind};
use crate::ops::{OpBook, Planner};
use crate::pace;
use crate::receive::{ConnStats, Log, Reader, Replies};
use crate::renew::{Renewals, Renewer};
use crate::report::{self, LostMessage, MissingExample, MixResults, OpResults, ThroughputResults};
use crate::send::Writer;
use crate::sender_order::{self, RoomSends, SendId};
use crate::setup::{self, Fixture};
use crate::socketio_client;
use crate::target::{self, Node};
use crate::versions;

/// The writing half of a connection: the writer's, and the reader's for heartbeat pongs.
pub type Outbox = Arc<tokio::sync::Mutex<SplitSink<Socket, Message>>>;
/// Clock readings of a connection's sends by request id, until their acks arrive.
pub type SentTimes = Arc<std::sync::Mutex<HashMap<u64, u64>>>;

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
    // Asked after the run, so that asking takes nothing from it.
    let versions = versions::detect(&args, &target::parse_nodes(&args.nodes)?).await;
    print!("{}", report::table(&args, &outcome.results));
    warn(&outcome.results);
    println!("{}", report::result_line("throughput", &args, &outcome.results, None, &versions, ok));
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

/// When a run sends: from `start_at`, measured from `measure_from` on, until `end_at`.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    pub start_at: Instant,
    pub measure_from: Instant,
    pub end_at: Instant,
}

impl Phases {
    /// The phases of a run whose tasks are spawned now: sending starts a moment later.
    pub fn starting_soon(args: &ThroughputArgs) -> Phases {
        let start_at = Instant::now() + START_DELAY;
        let measure_from = start_at + args.warmup();
        Phases { start_at, measure_from, end_at: measure_from + args.duration() }
    }
}

/// A run with its accounts, rooms and joined sockets, ready to send.
pub struct Prepared {
    args: ThroughputArgs,
    nodes: Vec<Node>,
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
    /// Their stream seqs (the chat cluster's; the peer has none).
    pub acked_seqs: Vec<u64>,
}

/// Registers the users, creates the rooms, connects one socket per user (round-robin over the
/// nodes) and joins each to its room.
pub async fn prepare(args: &ThroughputArgs) -> anyhow::Result<Prepared> {
    let nodes = target::parse_nodes(&args.nodes)?;
    let users = (args.rooms * args.members) as usize;
    let fixture = match args.system {
        System::Chat | System::ChatSocketio => {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
            eprintln!("setup: registering {users} users and creating {} rooms ...", args.rooms);
            setup::create(&http, &nodes, args.rooms, args.members, args.setup_concurrency).await?
        }
        System::Socketio => setup::named_rooms(args.rooms),
    };
    let clock = Clock::start();

    eprintln!("setup: connecting and joining {users} sockets ...");
    let started = Instant::now();
    let members = args.members as usize;
    let senders = args.senders_per_room() as usize;
    let fixture_ref = &fixture;
    let conns: Vec<Conn> = stream::iter(0..users)
        .map(|i| {
            let node: &Node = &nodes[i % nodes.len()];
            let local = (!args.bind.is_empty()).then(|| args.bind[i % args.bind.len()]);
            let room = i / members;
            async move {
                let ws = connect_and_join(args, fixture_ref, node, local, i, room)
                    .await
                    .with_context(|| format!("socket {i}"))?;
                anyhow::Ok(Conn { ws, room: room as u32, sender: i % members < senders })
            }
        })
        .buffered(args.setup_concurrency)
        .try_collect()
        .await?;
    let connect_secs = started.elapsed().as_secs_f64();
    Ok(Prepared { args: args.clone(), nodes, fixture, conns, clock, connect_secs })
}

/// Opens member `i`'s socket on `node` and joins it to its room, the system's way.
async fn connect_and_join(
    args: &ThroughputArgs,
    fixture: &Fixture,
    node: &Node,
    local: Option<std::net::IpAddr>,
    i: usize,
    room: usize,
) -> anyhow::Result<Socket> {
    let room_id = &fixture.rooms[room];
    match args.system {
        System::Chat => {
            let mut ws = client::connect(node, &fixture.accounts[i].token, args.codec, local).await?;
            client::join(&mut ws, args.codec, room_id).await?;
            Ok(ws)
        }
        System::ChatSocketio => {
            let token = Some(fixture.accounts[i].token.as_str());
            let mut ws = socketio_client::connect(node, local, token).await?;
            socketio_client::join(&mut ws, room_id).await?;
            Ok(ws)
        }
        System::Socketio => {
            let mut ws = socketio_client::connect(node, local, None).await?;
            socketio_client::join(&mut ws, room_id).await?;
            Ok(ws)
        }
    }
}

/// Counters every task of the run shares.
#[derive(Default)]
pub(crate) struct Shared {
    /// Frames received on any connection, for the drain.
    pub frames: AtomicU64,
    /// Send frames written.
    pub sent: AtomicU64,
    /// Replies to sends received (ok or not).
    pub replied: AtomicU64,
    /// Clock reading of the latest reply to a send.
    pub last_reply_at: AtomicU64,
    /// Connections that ended before the bench stopped them.
    pub early_ends: AtomicU64,
}

impl Prepared {
    pub fn room_ids(&self) -> anyhow::Result<Vec<uuid::Uuid>> {
        self.fixture.rooms.iter().map(|r| Ok(r.parse()?)).collect()
    }

    pub async fn run(self) -> anyhow::Result<Outcome> {
        let phases = Phases::starting_soon(&self.args);
        self.run_in(phases).await
    }

    /// Runs in `phases`, which a caller that times its own work by the run's (the soak's
    /// sampler) has from [`Phases::starting_soon`].
    pub async fn run_in(self, phases: Phases) -> anyhow::Result<Outcome> {
        let Prepared { args, nodes, fixture, conns, clock, connect_secs } = self;
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let total_senders = conns.iter().filter(|c| c.sender).count();

        let Phases { start_at, measure_from, end_at } = phases;
        let window = Window { from: clock.at(measure_from.into_std()), to: clock.at(end_at.into_std()) };
        // The run prefix is fresh for each run, and so are the per-socket phases drawn from it.
        let seed = u64::from_str_radix(&fixture.prefix, 16).unwrap_or_default();
        let pacing = pace::Schedule::new(args.pace, args.rate, total_senders, seed);
        let client_msg_prefix = (!args.no_client_msg_id).then(|| fixture.prefix.clone());

        let mut readers = Vec::with_capacity(conns.len());
        let mut writers = Vec::new();
        let mut outboxes = Vec::with_capacity(conns.len());
        let mut sender_index = 0usize;
        for (index, conn) in conns.into_iter().enumerate() {
            let (sink, stream) = conn.ws.split();
            let outbox: Outbox = Arc::new(tokio::sync::Mutex::new(sink));
            outboxes.push(outbox.clone());
            let room_id: Arc<str> = fixture.rooms[conn.room as usize].as_str().into();
            let permits = conn.sender.then(|| Arc::new(Semaphore::new(args.in_flight as usize)));
            let sent_times = (conn.sender && args.system == System::Socketio).then(SentTimes::default);
            let book = args.mix.filter(|_| conn.sender).map(|mix| (mix, Arc::new(OpBook::default())));
            let reader = Reader {
                system: args.system,
                codec: args.codec,
                clock,
                window,
                conn: index as u32,
                room_id: room_id.clone(),
                permits: permits.clone(),
                book: book.as_ref().map(|(_, book)| book.clone()),
                sent_times: sent_times.clone(),
                outbox: outbox.clone(),
                shared: shared.clone(),
                stats: ConnStats::new(args.system, conn.room, conn.sender, args.mix.as_ref()),
            };
            readers.push(tokio::spawn(reader.run(stream, stop.clone())));
            if let Some(permits) = permits {
                let writer = Writer {
                    system: args.system,
                    codec: args.codec,
                    clock,
                    window,
                    conn: index as u32,
                    room_id,
                    content_bytes: args.content_bytes,
                    client_msg_prefix: client_msg_prefix.clone(),
                    first_attempt: args.first_attempt,
                    start_at,
                    end_at,
                    pace: pacing.map(|pacing| pacing.sender(sender_index)),
                    permits,
                    // Each sender starts its schedule elsewhere, so kinds spread over time.
                    mix: book.map(|(mix, book)| (Planner::new(mix.schedule(sender_index as u64)), book)),
                    sent_times,
                    outbox,
                    shared: shared.clone(),
                };
                sender_index += 1;
                writers.push(tokio::spawn(writer.run()));
            }
        }
        // Only `/ws` sockets renew their login; a Socket.IO session keeps its handshake's token.
        let renewals = (args.system == System::Chat).then(|| {
            let renewer = Renewer {
                codec: args.codec,
                nodes: nodes.clone(),
                accounts: fixture.accounts.clone(),
                outboxes: outboxes.clone(),
            };
            tokio::spawn(renewer.run(stop.clone()))
        });
        let logins = (args.login_rate > 0.0).then(|| {
            let load = LoginLoad {
                rate: args.login_rate,
                nodes,
                prefix: fixture.prefix.clone(),
                users: fixture.accounts.len(),
            };
            tokio::spawn(load.run(clock, measure_from, end_at))
        });
        eprintln!(
            "run: {} sockets, {} senders, {:.1} s warm-up + {:.1} s measured ...",
            readers.len(),
            total_senders,
            args.warmup_secs(),
            args.duration
        );

        let cpu_before = report::process_cpu_secs();
        let machine_before = report::machine_busy_secs();
        let servers_before = report::servers_cpu_secs(&args.server_pids, &args.server_commands);
        tokio::time::sleep_until(end_at).await;
        let mut skipped_sends = 0;
        let mut written = PerKind::<u64>::default();
        let mut written_in_window = PerKind::<u64>::default();
        let mut write_errors: BTreeMap<String, u64> = BTreeMap::new();
        for writer in writers {
            let stats = writer.await?;
            skipped_sends += stats.skipped;
            for kind in OpKind::ALL {
                written[kind] += stats.written[kind];
                written_in_window[kind] += stats.in_window[kind];
            }
            if let Some(err) = stats.error {
                *write_errors.entry(format!("write error: {err}")).or_default() += 1;
            }
        }
        let send_ended = Instant::now();
        let logins = match logins {
            Some(task) => Some(task.await??),
            None => None,
        };

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
        let servers_after = report::servers_cpu_secs(&args.server_pids, &args.server_commands);
        let servers_secs = report::cpu_secs_between(&servers_before, &servers_after);
        let cpu_span = (Instant::now() - start_at).as_secs_f64();

        stop.cancel();
        if let Some(task) = renewals {
            let Renewals { ok, failed } = task.await??;
            if ok + failed > 0 {
                eprintln!("logins renewed: {ok}, not renewed: {failed}");
            }
        }
        let mut stats = Vec::with_capacity(readers.len());
        for reader in readers {
            stats.push(reader.await?);
        }
        close_all(outboxes).await;

        let sent = shared.sent.load(Ordering::Relaxed);
        let replied = shared.replied.load(Ordering::Relaxed);
        let (mut results, Acknowledged { unique: acked_unique, seqs: acked_seqs, .. }) =
            summarize(&args, &fixture, &stats, window, sent, replied);
        for (k, v) in write_errors {
            *results.early_closes.entry(k).or_default() += v;
        }
        results.connect_secs = connect_secs;
        results.logins = logins;
        results.skipped_sends = skipped_sends;
        results.sends = written[OpKind::Send];
        results.sends_per_sec = window.rate(written_in_window[OpKind::Send]);
        if let Some(mix) = &mut results.mix {
            for kind in OpKind::ALL {
                if let Some(op) = mix.ops.get_mut(kind.name()) {
                    op.written = written[kind];
                    op.written_per_sec = window.rate(written_in_window[kind]);
                }
            }
        }
        results.drain_secs = drain_secs;
        if cpu_span > 0.0 {
            results.bench_cpu_cores = cpu_secs / cpu_span;
            results.machine_cpu_cores = machine_secs / cpu_span;
            results.servers_cpu_cores = servers_secs / cpu_span;
            results.other_cpu_cores = ((machine_secs - cpu_secs - servers_secs) / cpu_span).max(0.0);
        }
        let last_reply = Instant::from_std(clock.instant(shared.last_reply_at.load(Ordering::Relaxed)));
        Ok(Outcome {
            results,
            send_started: start_at,
            send_ended,
            last_reply: last_reply.max(start_at),
            acked_unique,
            acked_seqs,
        })
    }
}

/// Closes every socket politely, all at once, without waiting long for slow ones.
async fn close_all(outboxes: Vec<Outbox>) {
    let closing = futures::future::join_all(outboxes.into_iter().map(|outbox| async move {
        let mut sink = outbox.lock().await;
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    }));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
}

/// The completeness of a run over all its connections, with examples of lost deliveries.
#[derive(Default)]
struct Checked {
    completeness: Completeness,
    missing_examples: Vec<MissingExample>,
    acknowledged: Acknowledged,
}

/// The distinct acknowledged messages over all rooms.
#[derive(Default)]
struct Acknowledged {
    unique: u64,
    /// Their stream seqs, where the system has them.
    seqs: Vec<u64>,
    /// Distinct acknowledged edits, deletions and reactions, checked beside the messages.
    changes: u64,
}

impl Checked {
    /// Names a lost delivery to connection `index`, while there is room for more examples.
    fn name_lost(&mut self, args: &ThroughputArgs, fixture: &Fixture, index: usize, room: u32, lost: Lost) {
        self.missing_examples.push(MissingExample {
            connection: index as u32,
            node: args.nodes[index % args.nodes.len()].clone(),
            room: fixture.rooms[room as usize].clone(),
            message: lost.message,
            last_in_room: lost.last,
        });
    }

    fn room_for_examples(&self) -> usize {
        MISSING_EXAMPLES.saturating_sub(self.missing_examples.len())
    }
}

/// A lost message, and whether it was the last acknowledged one of its room (chat) or of its
/// sender (peer): nothing after it could reveal the gap to a receiver that detects gaps by
/// the next message.
struct Lost {
    message: LostMessage,
    last: bool,
}

fn check(args: &ThroughputArgs, fixture: &Fixture, stats: &[ConnStats]) -> Checked {
    match args.system {
        System::Chat | System::ChatSocketio => check_by_seq(args, fixture, stats),
        System::Socketio => check_by_sender(args, fixture, stats),
    }
}

/// Chat: every acknowledged message once per member, in room seq order, with its id.
fn check_by_seq(args: &ThroughputArgs, fixture: &Fixture, stats: &[ConnStats]) -> Checked {
    let mut by_room: Vec<Vec<Acked>> = vec![Vec::new(); args.rooms as usize];
    for s in stats {
        if let Log::Seq { acked, .. } = &s.log {
            by_room[s.room as usize].extend_from_slice(acked);
        }
    }
    let rooms: Vec<RoomAcks> = by_room.into_iter().map(RoomAcks::new).collect();
    let mut checked = Checked::default();
    for room in &rooms {
        checked.completeness.conflicting_acks += room.conflicts();
        let before = checked.acknowledged.seqs.len();
        checked.acknowledged.seqs.extend(room.message_seqs());
        let messages = checked.acknowledged.seqs.len() - before;
        checked.acknowledged.unique += messages as u64;
        checked.acknowledged.changes += (room.len() - messages) as u64;
    }
    for (index, s) in stats.iter().enumerate() {
        let Log::Seq { delivered, .. } = &s.log else { continue };
        let room = &rooms[s.room as usize];
        let result = completeness::check_connection(room, delivered);
        if result.missing > 0 {
            let last = completeness::last_seq(room);
            for lost in completeness::missing(room, delivered, checked.room_for_examples()) {
                let message = LostMessage::Seq {
                    seq: lost.seq,
                    message_id: uuid::Uuid::from_u128(lost.id).to_string(),
                };
                checked.name_lost(
                    args,
                    fixture,
                    index,
                    s.room,
                    Lost { message, last: Some(lost.seq) == last },
                );
            }
        }
        checked.completeness += result;
    }
    checked
}

/// Socket.IO peer: every acknowledged send once per member, each sender's in its order.
fn check_by_sender(args: &ThroughputArgs, fixture: &Fixture, stats: &[ConnStats]) -> Checked {
    let mut by_room: Vec<Vec<SendId>> = vec![Vec::new(); args.rooms as usize];
    for s in stats {
        if let Log::Sender { acked, .. } = &s.log {
            by_room[s.room as usize].extend_from_slice(acked);
        }
    }
    let rooms: Vec<RoomSends> = by_room.into_iter().map(RoomSends::new).collect();
    let unique = rooms.iter().map(|r| r.len() as u64).sum();
    let mut checked =
        Checked { acknowledged: Acknowledged { unique, ..Acknowledged::default() }, ..Checked::default() };
    for (index, s) in stats.iter().enumerate() {
        let Log::Sender { delivered, .. } = &s.log else { continue };
        let room = &rooms[s.room as usize];
        let result = sender_order::check_connection(room, delivered);
        if result.missing > 0 {
            for lost in sender_order::missing(room, delivered, checked.room_for_examples()) {
                let message = LostMessage::Send { sender: lost.conn, request: lost.request };
                let last = room.last_of(lost.conn) == Some(lost.request);
                checked.name_lost(args, fixture, index, s.room, Lost { message, last });
            }
        }
        checked.completeness += result;
    }
    checked
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
) -> (ThroughputResults, Acknowledged) {
    let Checked { completeness, missing_examples, acknowledged } = check(args, fixture, stats);
    let mut replies = PerKind::<Replies>::default();
    let mut delivery_latency = Latencies::new();
    let mut edit_delivery_latency = Latencies::new();
    let mut error_frames = BTreeMap::new();
    let mut early_closes = BTreeMap::new();
    let (mut deliveries, mut own, mut changes) = (0, 0, 0);
    let (mut undecodable, mut foreign) = (0, 0);
    for s in stats {
        for kind in OpKind::ALL {
            if let Some(r) = s.replies.as_ref().and_then(|r| r[kind].as_ref()) {
                replies[kind].merge(r);
            }
        }
        delivery_latency.merge(&s.delivery_latency);
        if let Some(latencies) = &s.edit_delivery_latency {
            edit_delivery_latency.merge(latencies);
        }
        deliveries += s.deliveries_in_window;
        own += s.own_in_window;
        changes += s.changes_in_window;
        undecodable += s.undecodable;
        foreign += s.foreign;
        for (code, n) in &s.error_frames {
            *error_frames.entry(code.clone()).or_default() += n;
        }
        if let Some(end) = &s.ended {
            *early_closes.entry(end.clone()).or_default() += 1;
        }
    }
    let mix = args.mix.map(|mix| MixResults {
        ops: mix
            .kinds()
            .map(|kind| {
                let r = &replies[kind];
                let op = OpResults {
                    acked: r.acked,
                    acks_per_sec: window.rate(r.in_window),
                    ack_latency: r.latency.summary(),
                    refused: r.refused.clone(),
                    // The writers' figures, filled in by the caller.
                    written: 0,
                    written_per_sec: 0.0,
                };
                (kind.name(), op)
            })
            .collect(),
        changes_checked: acknowledged.changes,
        change_deliveries_per_sec: window.rate(changes),
        edit_delivery_latency: edit_delivery_latency.summary(),
        not_found: [OpKind::Reaction, OpKind::Edit, OpKind::Delete]
            .into_iter()
            .filter_map(|kind| replies[kind].refused.get("not_found"))
            .sum(),
    });
    let sends = &replies[OpKind::Send];
    let results = ThroughputResults {
        system: args.system.name(),
        run_prefix: fixture.prefix.clone(),
        users: stats.len() as u64,
        senders: stats.iter().filter(|s| s.replies.is_some()).count() as u64,
        register_secs: fixture.register_secs,
        rooms_secs: fixture.rooms_secs,
        connect_secs: 0.0,
        window_secs: window.seconds(),
        sends: 0,
        acked: sends.acked,
        refused: sends.refused.clone(),
        unanswered: sent.saturating_sub(replied),
        skipped_sends: 0,
        sends_per_sec: 0.0,
        acks_per_sec: window.rate(sends.in_window),
        deliveries_per_sec: window.rate(deliveries),
        deliveries_to_others_per_sec: window.rate(deliveries - own),
        ack_latency: sends.latency.summary(),
        delivery_latency: delivery_latency.summary(),
        logins: None,
        mix,
        completeness,
        missing_examples,
        error_frames,
        undecodable_frames: undecodable,
        foreign_messages: foreign,
        early_closes,
        drain_secs: 0.0,
        bench_cpu_cores: 0.0,
        machine_cpu_cores: 0.0,
        servers_cpu_cores: 0.0,
        other_cpu_cores: 0.0,
    };
    (results, acknowledged)
}
