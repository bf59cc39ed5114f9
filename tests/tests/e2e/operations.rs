//! What operators do to a running cluster while users chat: scale nodes out and in, restart
//! every node in turn, lose a NATS server, scale persisters. Clients behave as real ones do
//! (reconnect to a live node, resume with `since`, retry a send with its client id); after
//! each scenario every member must have seen exactly the acknowledged messages of the room,
//! once and in order, and PostgreSQL must hold each of them once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chat_tests::chatter::{Chatter, Entrypoints, Phase, Report, assert_complete};
use chat_tests::nats_cluster::NatsCluster;
use chat_tests::process::Process;
use chat_tests::{Account, TestApp, TestDatabase, TestStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const NODE: &str = env!("CARGO_BIN_EXE_chat-node-under-test");
const PERSISTER: &str = env!("CARGO_BIN_EXE_chat-persister-under-test");
const ROOMS: usize = 3;
const MEMBERS: usize = 4;
const SENDERS: usize = 2;
const SEND_INTERVAL: Duration = Duration::from_millis(40);
const DRAIN: Duration = Duration::from_secs(10);
/// Sends acknowledged in each phase of a scenario: about 0.6 s of the senders' pace.
const PHASE_SENDS: u64 = 90;
/// The longest a phase may take to see them.
const PHASE_LIMIT: Duration = Duration::from_secs(60);
const PERSIST_WAIT: Duration = Duration::from_secs(20);

/// Rooms of members, every member a chatter; the first `SENDERS` of each room send.
struct Conversation {
    rooms: Vec<String>,
    members: Vec<Vec<Account>>,
    phase: watch::Sender<Phase>,
    chatters: Vec<JoinHandle<Report>>,
    acks: Arc<watch::Sender<u64>>,
}

impl Conversation {
    async fn create(app: &TestApp) -> Self {
        let mut rooms = Vec::new();
        let mut members = Vec::new();
        for r in 0..ROOMS {
            let mut accounts = Vec::new();
            for m in 0..MEMBERS {
                accounts.push(app.register(&format!("r{r}m{m}")).await);
            }
            let others: Vec<&Account> = accounts[1..].iter().collect();
            rooms.push(app.create_room(&accounts[0], "group", &others).await);
            members.push(accounts);
        }
        let acks = Arc::new(watch::channel(0).0);
        Self { rooms, members, phase: watch::channel(Phase::Chat).0, chatters: Vec::new(), acks }
    }

    /// Connects every member once more (another device), spread over the entrypoints, or all
    /// first to `first` when given; `tag` tells this set's client ids apart.
    fn connect_all(&mut self, nodes: &Entrypoints, first: Option<SocketAddr>, tag: &str) {
        for (r, accounts) in self.members.iter().enumerate() {
            for (m, account) in accounts.iter().enumerate() {
                let chatter = Chatter {
                    account: account.clone(),
                    room: self.rooms[r].clone(),
                    tag: format!("{tag}-r{r}m{m}"),
                    sends: m < SENDERS,
                    interval: SEND_INTERVAL,
                    first,
                    turn: r * MEMBERS + m,
                    acks: self.acks.clone(),
                };
                self.chatters.push(chatter.spawn(nodes.clone(), self.phase.subscribe()));
            }
        }
    }

    /// Lets the members chat until `PHASE_SENDS` more sends are acknowledged: every phase of a
    /// scenario then runs on real traffic, however slow the machine is.
    async fn chat_on(&self) {
        let mut acks = self.acks.subscribe();
        let target = *acks.borrow() + PHASE_SENDS;
        let reached = tokio::time::timeout(PHASE_LIMIT, acks.wait_for(|n| *n >= target)).await;
        assert!(reached.is_ok(), "{PHASE_SENDS} sends were not acknowledged within {PHASE_LIMIT:?}");
    }

    /// Stops the sends, lets everyone drain, and checks every room; returns the acknowledged
    /// seqs of each room and the reports.
    async fn finish(self) -> (Vec<Vec<u64>>, Vec<Report>) {
        self.phase.send(Phase::Finish).unwrap();
        let mut reports = Vec::new();
        for chatter in self.chatters {
            reports.push(tokio::time::timeout(DRAIN, chatter).await.expect("chatters drain").unwrap());
        }
        let acked = self
            .rooms
            .iter()
            .map(|room| assert_complete(&reports.iter().filter(|r| &r.room == room).collect::<Vec<_>>()))
            .collect();
        (acked, reports)
    }
}

/// PostgreSQL holds each acknowledged message of the rooms exactly once, and nothing else.
async fn assert_persisted_once(db: &TestDatabase, rooms: &[String], acked: &[Vec<u64>]) {
    for (room, acked) in rooms.iter().zip(acked) {
        let room_id: uuid::Uuid = room.parse().unwrap();
        let deadline = tokio::time::Instant::now() + PERSIST_WAIT;
        let stored: Vec<i64> = loop {
            let stored: Vec<i64> =
                sqlx::query_scalar("select seq from messages where room_id = $1 order by seq")
                    .bind(room_id)
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
            if stored.len() >= acked.len() || tokio::time::Instant::now() > deadline {
                break stored;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let stored: Vec<u64> = stored.into_iter().map(|s| s as u64).collect();
        assert_eq!(&stored, acked, "room {room}: stored seqs differ from the acknowledged ones");
    }
}

fn summary(scenario: &str, acked: &[Vec<u64>], reports: &[Report]) {
    let sent: usize = acked.iter().map(Vec::len).sum();
    let delivered: usize = reports.iter().map(|r| r.seen.len()).sum();
    let connections: u32 = reports.iter().map(|r| r.connections).sum();
    let retried: u32 = reports.iter().map(|r| r.retried_sends).sum();
    // Shown with --nocapture; the figures of a run, for the operator's notes.
    println!(
        "{scenario}: {sent} acknowledged, {delivered} delivered to {} members, {connections} connections, \
         {retried} sends retried after `unavailable`, 0 lost, 0 duplicated",
        reports.len()
    );
}

async fn node(app_db: &TestDatabase, stream: &TestStream, extra: &[&str]) -> Process {
    let mut args = vec!["--send-rate", "0"];
    args.extend_from_slice(extra);
    Process::node(NODE, app_db, stream, &args).await.expect("a node process")
}

/// Takes a node out of the entrypoints, then stops it as an orchestrator would (SIGTERM).
async fn drain(nodes: &Entrypoints, node: Process) {
    let addr: SocketAddr = node.addr;
    nodes.remove(addr);
    let code = node.terminate(Duration::from_secs(15)).await.expect("the node exits");
    assert_eq!(code, Some(0), "a drained node exits 0");
}

#[tokio::test]
async fn scaling_nodes_out_and_in_while_clients_chat_loses_nothing() {
    let app = TestApp::spawn().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let (a, b) = (node(&app.db, &app.stream, &[]).await, node(&app.db, &app.stream, &[]).await);
    let nodes = Entrypoints::new(&[a.addr, b.addr]);
    let mut talk = Conversation::create(&app).await;
    talk.connect_all(&nodes, None, "first");
    talk.chat_on().await;

    // Out to three: every member opens a second connection, on the new node.
    let c = node(&app.db, &app.stream, &[]).await;
    nodes.add(c.addr);
    talk.connect_all(&nodes, Some(c.addr), "second");
    talk.chat_on().await;

    // Back to two: the clients of the removed node resume on the others.
    drain(&nodes, c).await;
    talk.chat_on().await;

    let rooms = talk.rooms.clone();
    let (acked, reports) = talk.finish().await;
    assert!(
        reports.iter().filter(|r| r.user.starts_with("second")).all(|r| r.connections > 1),
        "every client of the removed node moved"
    );
    assert_persisted_once(&app.db, &rooms, &acked).await;
    summary("scale 2 -> 3 -> 2 nodes", &acked, &reports);
    drop((a, b));
}

#[tokio::test]
async fn a_rolling_restart_of_every_node_loses_nothing() {
    let app = TestApp::spawn().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let mut running = vec![node(&app.db, &app.stream, &[]).await, node(&app.db, &app.stream, &[]).await];
    let nodes = Entrypoints::new(&running.iter().map(|n| n.addr).collect::<Vec<_>>());
    let mut talk = Conversation::create(&app).await;
    talk.connect_all(&nodes, None, "c");
    talk.chat_on().await;

    for _ in 0..running.len() {
        // The oldest goes; its replacement comes up before the next one is touched.
        let old = running.remove(0);
        drain(&nodes, old).await;
        let new = node(&app.db, &app.stream, &[]).await;
        nodes.add(new.addr);
        running.push(new);
        talk.chat_on().await;
    }

    let rooms = talk.rooms.clone();
    let (acked, reports) = talk.finish().await;
    assert!(reports.iter().all(|r| r.connections >= 2), "every client moved at least once");
    assert_persisted_once(&app.db, &rooms, &acked).await;
    summary("rolling restart of 2 nodes", &acked, &reports);
}

#[tokio::test]
async fn a_nats_server_killed_and_restarted_loses_nothing() {
    let mut nats = NatsCluster::start(3).await.unwrap();
    let urls = nats.urls();
    let stream = ["--nats-url", urls.as_str(), "--stream-replicas", "3"];
    let overrides = [&stream[..], &["--send-rate", "0"]].concat();
    let app = TestApp::spawn_with(&overrides).await.unwrap();
    let _persister = Process::persister_with(PERSISTER, &app.db, &app.stream, &stream).await.unwrap();
    let other = node(&app.db, &app.stream, &overrides).await;
    let nodes = Entrypoints::new(&[app.node.addr, other.addr]);
    let mut talk = Conversation::create(&app).await;
    talk.connect_all(&nodes, None, "c");
    talk.chat_on().await;

    // The stream's leader dies: sends wait for a new leader (clients retry `unavailable`).
    let stream_name = format!("{}_messages", app.stream.prefix);
    let leader = nats.stream_leader(&stream_name).await.unwrap();
    nats.kill(leader).await;
    // The outage itself: three seconds down, while the clients retry.
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.restart(leader).await.unwrap();
    // Sends resume once the stream has a leader again; the members chat on for a while then.
    nats.wait_for_stream_leader(&stream_name, Duration::from_secs(60)).await.unwrap();
    talk.chat_on().await;

    let rooms = talk.rooms.clone();
    let (acked, reports) = talk.finish().await;
    assert_persisted_once(&app.db, &rooms, &acked).await;
    summary("NATS stream leader killed and restarted", &acked, &reports);
}

#[tokio::test]
async fn scaling_persisters_from_one_to_three_and_back_stores_everything_once() {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let other = node(&app.db, &app.stream, &[]).await;
    let nodes = Entrypoints::new(&[app.node.addr, other.addr]);
    let first = Process::persister(PERSISTER, &app.db, &app.stream).await.unwrap();
    let mut talk = Conversation::create(&app).await;
    talk.connect_all(&nodes, None, "c");
    talk.chat_on().await;

    let more = [
        Process::persister(PERSISTER, &app.db, &app.stream).await.unwrap(),
        Process::persister(PERSISTER, &app.db, &app.stream).await.unwrap(),
    ];
    talk.chat_on().await;
    for persister in more {
        assert_eq!(persister.terminate(Duration::from_secs(10)).await.unwrap(), Some(0));
    }
    talk.chat_on().await;

    let rooms = talk.rooms.clone();
    let (acked, reports) = talk.finish().await;
    assert_persisted_once(&app.db, &rooms, &acked).await;
    summary("persisters 1 -> 3 -> 1", &acked, &reports);
    drop(first);
}
