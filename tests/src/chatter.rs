//! Room members who keep chatting while nodes come and go: each reconnects to a live node and
//! resumes with `since`, retries an unacknowledged send with the same client id, and records
//! every message it sees, so a test can check that nothing acknowledged was lost, doubled or
//! reordered for anyone.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Account;
use crate::ws::{Codec, WsClient};

/// The nodes clients may connect to, as a load balancer would list them; tests change it as
/// they scale. A node is taken out before it is stopped.
#[derive(Clone, Default)]
pub struct Entrypoints(Arc<RwLock<Vec<SocketAddr>>>);

impl Entrypoints {
    pub fn new(nodes: &[SocketAddr]) -> Self {
        Self(Arc::new(RwLock::new(nodes.to_vec())))
    }

    pub fn add(&self, node: SocketAddr) {
        self.0.write().unwrap().push(node);
    }

    pub fn remove(&self, node: SocketAddr) {
        self.0.write().unwrap().retain(|n| *n != node);
    }

    fn pick(&self, turn: usize) -> Option<SocketAddr> {
        let nodes = self.0.read().unwrap();
        (!nodes.is_empty()).then(|| nodes[turn % nodes.len()])
    }
}

/// What to do next; chatters watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Chat,
    /// Senders stop starting sends; everyone reads until the room is quiet.
    Finish,
}

/// What one member did and saw.
#[derive(Debug, Default)]
pub struct Report {
    pub user: String,
    pub room: String,
    /// Seqs of this member's own acknowledged sends, in order.
    pub acked: Vec<u64>,
    /// Seqs of every message of the room that reached this member, in arrival order.
    pub seen: Vec<u64>,
    pub connections: u32,
    /// Sends answered `unavailable` and retried.
    pub retried_sends: u32,
    /// Resumes the server answered with `recovered: false`.
    pub unrecovered: u32,
    /// Anything unexpected (a refused send, a broken frame), for the assertion message.
    pub problems: Vec<String>,
}

/// How one member behaves.
#[derive(Clone)]
pub struct Chatter {
    pub account: Account,
    pub room: String,
    /// Sends carry client ids `{tag}-{n}`; two chatters of one account need distinct tags.
    pub tag: String,
    pub sends: bool,
    pub interval: Duration,
    /// Where the first connection goes; later ones go round-robin over the entrypoints,
    /// starting at `turn`.
    pub first: Option<SocketAddr>,
    pub turn: usize,
    /// Counts acknowledged sends, shared by the chatters of one conversation, so that a test
    /// can wait for traffic rather than for time.
    pub acks: Arc<watch::Sender<u64>>,
}

/// How long a member waits with nothing arriving before it considers the room drained.
const QUIET: Duration = Duration::from_millis(1500);
/// The pause before reconnecting or retrying an unavailable send.
const BACKOFF: Duration = Duration::from_millis(100);

impl Chatter {
    pub fn spawn(self, nodes: Entrypoints, phase: watch::Receiver<Phase>) -> JoinHandle<Report> {
        tokio::spawn(self.run(nodes, phase))
    }

    async fn run(self, nodes: Entrypoints, phase: watch::Receiver<Phase>) -> Report {
        let mut report = Report { user: self.tag.clone(), room: self.room.clone(), ..Report::default() };
        let mut turn = self.turn;
        let mut outgoing = Outgoing::default();
        let mut first = self.first;
        loop {
            let Some(node) = first.take().or_else(|| nodes.pick(turn)) else {
                tokio::time::sleep(BACKOFF).await;
                continue;
            };
            turn += 1;
            let Some(mut ws) = self.join(node, &mut report).await else {
                tokio::time::sleep(BACKOFF).await;
                continue;
            };
            match self.converse(&mut ws, &mut report, &mut outgoing, &phase).await {
                Ended::Drained => return report,
                Ended::Disconnected => tokio::time::sleep(BACKOFF).await,
            }
        }
    }

    /// Connects and joins the room, resuming after the last message seen.
    async fn join(&self, node: SocketAddr, report: &mut Report) -> Option<WsClient> {
        let mut ws = WsClient::connect(node, Some(&self.account.access), Codec::Json).await.ok()?;
        report.connections += 1;
        let since = report.seen.last().copied().unwrap_or(0);
        let reply = ws.request(json!({"type": "join", "room": self.room, "since": since})).await.ok()?;
        if reply["ok"] != true {
            // As a real client does: try again later when the server says it may work then.
            if reply["error"]["code"] != "unavailable" {
                report.problems.push(format!("join refused: {reply}"));
            }
            return None;
        }
        if reply["recovered"] != true {
            report.unrecovered += 1;
        }
        for message in reply["messages"].as_array().into_iter().flatten() {
            see(report, message);
        }
        Some(ws)
    }

    async fn converse(
        &self,
        ws: &mut WsClient,
        report: &mut Report,
        outgoing: &mut Outgoing,
        phase: &watch::Receiver<Phase>,
    ) -> Ended {
        let mut send_at = tokio::time::Instant::now();
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let finishing = *phase.borrow() == Phase::Finish;
            // A send without an answer is retried until it has one, even once the others stop:
            // it may have been stored, and only its retry tells the sender its seq.
            let may_send = !finishing || outgoing.unanswered;
            if self.sends && may_send && tokio::time::Instant::now() >= send_at {
                let client_msg_id = format!("{}-{}", self.tag, outgoing.next);
                outgoing.unanswered = true;
                let send = json!({"type": "send", "room": self.room, "content": client_msg_id, "client_msg_id": client_msg_id});
                let Ok(reply) = ws.request(send).await else { return Ended::Disconnected };
                if reply["ok"] == true {
                    report.acked.push(reply["message"]["seq"].as_u64().unwrap_or(0));
                    self.acks.send_modify(|acks| *acks += 1);
                    outgoing.answered();
                    send_at += self.interval;
                } else if reply["error"]["code"] == "unavailable" {
                    report.retried_sends += 1;
                    send_at = tokio::time::Instant::now() + BACKOFF;
                } else {
                    report.problems.push(format!("send refused: {reply}"));
                    outgoing.answered();
                }
                continue;
            }
            let wait = if finishing || !self.sends {
                Duration::from_millis(100)
            } else {
                send_at.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(1))
            };
            match ws.next_frame(wait).await {
                Some(frame)
                    if frame["type"] == "message" && frame["message"]["room_id"] == self.room.as_str() =>
                {
                    see(report, &frame["message"]);
                    quiet_since = tokio::time::Instant::now();
                }
                Some(_) => {}
                None if ws.closed.is_some() => return Ended::Disconnected,
                None if finishing && !outgoing.unanswered && quiet_since.elapsed() >= QUIET => {
                    return Ended::Drained;
                }
                None => {}
            }
        }
    }
}

/// A sender's progress: the number of its next send, and whether that one was made and not
/// answered yet (refused as unavailable, or the connection dropped while it waited).
#[derive(Default)]
struct Outgoing {
    next: u64,
    unanswered: bool,
}

impl Outgoing {
    fn answered(&mut self) {
        self.next += 1;
        self.unanswered = false;
    }
}

enum Ended {
    Drained,
    Disconnected,
}

fn see(report: &mut Report, message: &Value) {
    match message["seq"].as_u64() {
        Some(seq) => report.seen.push(seq),
        None => report.problems.push(format!("a message without seq: {message}")),
    }
}

/// Checks one room's reports: every member saw exactly the acknowledged messages of the room,
/// each once, in seq order. Returns the room's acknowledged seqs.
pub fn assert_complete(reports: &[&Report]) -> Vec<u64> {
    let mut acked: Vec<u64> = reports.iter().flat_map(|r| r.acked.iter().copied()).collect();
    acked.sort_unstable();
    let distinct = {
        let mut d = acked.clone();
        d.dedup();
        d
    };
    assert_eq!(acked.len(), distinct.len(), "two sends acknowledged with one seq");
    for report in reports {
        assert!(report.problems.is_empty(), "{}: {:?}", report.user, report.problems);
        assert_eq!(report.unrecovered, 0, "{}: a resume could not recover", report.user);
        if report.seen != acked {
            let missing: Vec<_> = acked.iter().filter(|s| !report.seen.contains(s)).collect();
            let extra: Vec<_> = report.seen.iter().filter(|s| !acked.contains(s)).collect();
            panic!(
                "{} in {} saw {} messages, {} acknowledged; missing {missing:?}, not acknowledged {extra:?}, \
                 in order: {}; seen {:?} over {} connections",
                report.user,
                report.room,
                report.seen.len(),
                acked.len(),
                report.seen.is_sorted(),
                report.seen,
                report.connections,
            );
        }
    }
    acked
}
