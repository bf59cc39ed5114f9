//! The reader task of a connection: it decodes what the server sends in the system's framing,
//! records deliveries and replies with their latencies, gives a sender its in-flight permits
//! back, and answers the peer's heartbeat.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cli::{Codec, System};
use crate::client::{self, Socket};
use crate::completeness::{Acked, Delivered};
use crate::latency::{Clock, Latencies, Window};
use crate::sender_order::SendId;
use crate::socketio_client::{self, Incoming};
use crate::tag::Tag;
use crate::throughput::{Outbox, SentTimes, Shared};

/// What a connection received and had acknowledged, as its system's check needs it.
pub(crate) enum Log {
    /// Chat: room messages by the server's (seq, id), and the connection's acknowledged sends.
    Seq { delivered: Vec<Delivered>, acked: Vec<Acked> },
    /// Socket.IO peer: messages named by their tag's sender and request counter.
    Sender { delivered: Vec<SendId>, acked: Vec<SendId> },
}

impl Log {
    fn new(system: System) -> Log {
        match system {
            System::Chat => Log::Seq { delivered: Vec::new(), acked: Vec::new() },
            System::Socketio => Log::Sender { delivered: Vec::new(), acked: Vec::new() },
        }
    }

    pub fn acked_len(&self) -> usize {
        match self {
            Log::Seq { acked, .. } => acked.len(),
            Log::Sender { acked, .. } => acked.len(),
        }
    }
}

/// What one connection saw.
pub(crate) struct ConnStats {
    pub room: u32,
    /// In arrival order.
    pub log: Log,
    /// Send → reply, for sends stamped in the window; `None` for a connection that only reads.
    pub ack_latency: Option<Latencies>,
    /// Send → receipt, for messages stamped in the window, the sender's own copy included.
    pub delivery_latency: Latencies,
    pub acks_in_window: u64,
    pub deliveries_in_window: u64,
    /// Of those, copies of this connection's own sends.
    pub own_in_window: u64,
    pub refused: BTreeMap<String, u64>,
    pub error_frames: BTreeMap<String, u64>,
    pub undecodable: u64,
    pub foreign: u64,
    /// Why the connection ended before the bench stopped it.
    pub ended: Option<String>,
}

impl ConnStats {
    pub fn new(system: System, room: u32, sender: bool) -> ConnStats {
        ConnStats {
            room,
            log: Log::new(system),
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

pub(crate) struct Reader {
    pub system: System,
    pub codec: Codec,
    pub clock: Clock,
    pub window: Window,
    pub conn: u32,
    pub room_id: Arc<str>,
    pub permits: Option<Arc<Semaphore>>,
    /// The stamps of the peer's sends, taken back when their acks arrive (the acks carry no
    /// content to read the tag from).
    pub sent_times: Option<SentTimes>,
    /// For the pongs the peer's heartbeat asks for.
    pub outbox: Outbox,
    pub shared: Arc<Shared>,
    pub stats: ConnStats,
}

impl Reader {
    pub async fn run(mut self, mut stream: SplitStream<Socket>, stop: CancellationToken) -> ConnStats {
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
            if self.stats.ended.is_some() {
                break;
            }
        }
        // Sends still in flight are released so a writer never waits on a dead reader.
        if let Some(permits) = &self.permits {
            permits.close();
        }
        self.stats
    }

    fn frame(&mut self, bytes: &[u8], now: u64) {
        match self.system {
            System::Chat => self.chat_frame(bytes, now),
            System::Socketio => self.socketio_frame(bytes, now),
        }
    }

    /// Counts a frame for the drain, which waits until frames stop coming.
    fn count_frame(&self) {
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
    }

    fn chat_frame(&mut self, bytes: &[u8], now: u64) {
        self.count_frame();
        let Ok(frame) = client::decode(self.codec, bytes) else {
            self.stats.undecodable += 1;
            return;
        };
        match frame.kind.as_ref() {
            "message" => {
                let Some(message) = frame.message else {
                    self.stats.undecodable += 1;
                    return;
                };
                let Some(tag) = self.tag_of_own_room(&message.room_id, &message.content) else { return };
                if let Log::Seq { delivered, .. } = &mut self.stats.log {
                    delivered.push(Delivered { seq: message.seq, id: id_bits(&message.id) });
                }
                self.count_delivery(tag, now);
            }
            // Request id 0 was the join, answered during setup.
            "reply" if frame.id.is_some_and(|id| id > 0) => {
                self.reply_arrived(now);
                if frame.ok != Some(true) {
                    let code = frame.error.map_or_else(|| "unknown".into(), |e| e.code.into_owned());
                    *self.stats.refused.entry(code).or_default() += 1;
                    return;
                }
                let Some(message) = frame.message else {
                    *self.stats.refused.entry("ok without a message".into()).or_default() += 1;
                    return;
                };
                if let Log::Seq { acked, .. } = &mut self.stats.log {
                    acked.push(Acked { seq: message.seq, id: id_bits(&message.id) });
                }
                self.count_ack(Tag::parse(&message.content).map(|t| t.sent_at), now);
            }
            "error" => {
                let code = frame.error.map_or_else(|| "unknown".into(), |e| e.code.into_owned());
                *self.stats.error_frames.entry(code).or_default() += 1;
            }
            _ => {}
        }
    }

    fn socketio_frame(&mut self, bytes: &[u8], now: u64) {
        let Some(incoming) = std::str::from_utf8(bytes).ok().and_then(|t| socketio_client::decode(t).ok())
        else {
            self.count_frame();
            self.stats.undecodable += 1;
            return;
        };
        // Heartbeats are no traffic, as WebSocket pings are not on the chat path.
        if incoming != Incoming::Ping {
            self.count_frame();
        }
        match incoming {
            Incoming::Message { room, content } => {
                let Some(tag) = self.tag_of_own_room(&room, &content) else { return };
                if let Log::Sender { delivered, .. } = &mut self.stats.log {
                    delivered.push(SendId { conn: tag.conn, request: tag.request });
                }
                self.count_delivery(tag, now);
            }
            // Ack id 0 was the join, answered during setup.
            Incoming::Ack { id, outcome } if id > 0 => {
                self.reply_arrived(now);
                let sent_at = self
                    .sent_times
                    .as_ref()
                    .and_then(|times| times.lock().unwrap_or_else(|e| e.into_inner()).remove(&id));
                if let Err(code) = outcome {
                    *self.stats.refused.entry(code).or_default() += 1;
                    return;
                }
                if let Log::Sender { acked, .. } = &mut self.stats.log {
                    acked.push(SendId { conn: self.conn, request: id });
                }
                self.count_ack(sent_at, now);
            }
            Incoming::Ping => {
                // Off the read path: the writer may hold the outbox while the socket is full.
                let outbox = self.outbox.clone();
                tokio::spawn(async move {
                    let _ = outbox.lock().await.send(socketio_client::pong()).await;
                });
            }
            Incoming::Disconnected => self.stats.ended = Some("disconnected by the server".into()),
            Incoming::Ack { .. } | Incoming::Other => {}
        }
    }

    /// The tag of a message of this connection's room written by the bench; anything else
    /// counts as foreign.
    fn tag_of_own_room(&mut self, room: &str, content: &str) -> Option<Tag> {
        let tag = Tag::parse(content).filter(|_| room == &*self.room_id);
        if tag.is_none() {
            self.stats.foreign += 1;
        }
        tag
    }

    fn count_delivery(&mut self, tag: Tag, now: u64) {
        let s = &mut self.stats;
        if self.window.contains(now) {
            s.deliveries_in_window += 1;
            s.own_in_window += u64::from(tag.conn == self.conn);
        }
        if tag.sent_at >= self.window.from {
            s.delivery_latency.record(tag.sent_at, now);
        }
    }

    /// Any answer to a send, accepted or refused: it frees an in-flight permit.
    fn reply_arrived(&self, now: u64) {
        self.shared.replied.fetch_add(1, Ordering::Relaxed);
        self.shared.last_reply_at.fetch_max(now, Ordering::Relaxed);
        if let Some(permits) = &self.permits {
            permits.add_permits(1);
        }
    }

    fn count_ack(&mut self, sent_at: Option<u64>, now: u64) {
        let s = &mut self.stats;
        if self.window.contains(now) {
            s.acks_in_window += 1;
        }
        if let (Some(sent_at), Some(latencies)) = (sent_at, &mut s.ack_latency)
            && sent_at >= self.window.from
        {
            latencies.record(sent_at, now);
        }
    }
}

/// A message id as a number; 0 for one that is not a UUID (then it shows as a mismatch).
fn id_bits(id: &str) -> u128 {
    uuid::Uuid::parse_str(id).map(|u| u.as_u128()).unwrap_or(0)
}
