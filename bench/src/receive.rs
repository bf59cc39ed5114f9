//! The reader task of a connection: it decodes what the server sends in the system's framing,
//! records deliveries (messages, and under a mix the changes and reactions) and replies with
//! their latencies, gives a sender its in-flight permits back, and answers the peer's heartbeat.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cli::{Codec, System};
use crate::client::{self, RoomField, ServerFrame, Socket};
use crate::completeness::{Acked, Delivered, Entry};
use crate::latency::{Clock, Latencies, Window};
use crate::mix::{Mix, OpKind, PerKind};
use crate::ops::OpBook;
use crate::sender_order::SendId;
use crate::socketio_client::{self, ChatIncoming, Incoming};
use crate::tag::Tag;
use crate::throughput::{Outbox, SentTimes, Shared};

/// What a connection received and had acknowledged, as its system's check needs it.
pub(crate) enum Log {
    /// Chat: the room's entries by the server's (seq, message id), and the connection's
    /// acknowledged entries.
    Seq { delivered: Vec<Delivered>, acked: Vec<Acked> },
    /// Socket.IO peer: messages named by their tag's sender and request counter.
    Sender { delivered: Vec<SendId>, acked: Vec<SendId> },
}

impl Log {
    fn new(system: System) -> Log {
        match system {
            System::Chat | System::ChatSocketio => Log::Seq { delivered: Vec::new(), acked: Vec::new() },
            System::Socketio => Log::Sender { delivered: Vec::new(), acked: Vec::new() },
        }
    }
}

/// The replies to one kind of operation of one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Replies {
    /// Answered `ok: true`, warm-up included.
    pub acked: u64,
    /// Of those, the ones that arrived inside the window.
    pub in_window: u64,
    /// Write → reply, for operations written in the window.
    pub latency: Latencies,
    /// Answered `ok: false`, by error code.
    pub refused: BTreeMap<String, u64>,
}

impl Replies {
    pub fn merge(&mut self, other: &Replies) {
        self.acked += other.acked;
        self.in_window += other.in_window;
        self.latency.merge(&other.latency);
        for (code, n) in &other.refused {
            *self.refused.entry(code.clone()).or_default() += n;
        }
    }
}

/// What one connection saw.
pub(crate) struct ConnStats {
    pub room: u32,
    /// In arrival order.
    pub log: Log,
    /// Replies by the kind of operation they answer, for the kinds the connection performs
    /// (sends only without a mix); `None` for a connection that only reads.
    pub replies: Option<PerKind<Option<Replies>>>,
    /// Send → receipt, for messages stamped in the window, the sender's own copy included.
    pub delivery_latency: Latencies,
    pub deliveries_in_window: u64,
    /// Of those, copies of this connection's own sends.
    pub own_in_window: u64,
    /// `message_edited`, `message_deleted` and `reaction` frames received in the window.
    pub changes_in_window: u64,
    /// Edit → receipt of `message_edited`, for edits stamped in the window; `None` unless the
    /// mix has edits.
    pub edit_delivery_latency: Option<Latencies>,
    pub error_frames: BTreeMap<String, u64>,
    pub undecodable: u64,
    pub foreign: u64,
    /// Why the connection ended before the bench stopped it.
    pub ended: Option<String>,
}

impl ConnStats {
    pub fn new(system: System, room: u32, sender: bool, mix: Option<&Mix>) -> ConnStats {
        let replies = sender.then(|| {
            let mut replies = PerKind::<Option<Replies>>::default();
            replies[OpKind::Send] = Some(Replies::default());
            for kind in mix.into_iter().flat_map(Mix::kinds) {
                replies[kind] = Some(Replies::default());
            }
            replies
        });
        ConnStats {
            room,
            log: Log::new(system),
            replies,
            delivery_latency: Latencies::new(),
            deliveries_in_window: 0,
            own_in_window: 0,
            changes_in_window: 0,
            edit_delivery_latency: mix.filter(|m| m.weight(OpKind::Edit) > 0).map(|_| Latencies::new()),
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
    /// Under a mix, a sender's operations in flight, and where it leaves what the writer's
    /// next operations may act on.
    pub book: Option<Arc<OpBook>>,
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
        // Told at once, not only in the report: a long run is failed from here on.
        if let Some(why) = &self.stats.ended
            && self.shared.early_ends.fetch_add(1, Ordering::Relaxed) == 0
        {
            eprintln!("WARNING: connection {} closed early ({why}); the run will fail", self.conn);
        }
        self.stats
    }

    fn frame(&mut self, bytes: &[u8], now: u64) {
        match self.system {
            System::Chat => self.chat_frame(bytes, now),
            System::ChatSocketio => self.chat_socketio_frame(bytes, now),
            System::Socketio => self.socketio_frame(bytes, now),
        }
    }

    /// Counts a frame for the drain, which waits until frames stop coming.
    fn count_frame(&self) {
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
    }

    fn chat_frame(&mut self, bytes: &[u8], now: u64) {
        self.count_frame();
        let Ok(mut frame) = client::decode(self.codec, bytes) else {
            self.stats.undecodable += 1;
            return;
        };
        let kind = std::mem::take(&mut frame.kind);
        match kind.as_ref() {
            "message" => {
                let Some(message) = frame.message else {
                    self.stats.undecodable += 1;
                    return;
                };
                let Some(tag) = self.tag_of_own_room(&message.room_id, &message.content) else { return };
                if let Some(book) = &self.book {
                    book.message_received(message.seq);
                }
                self.delivered(message.seq, &message.id);
                self.count_delivery(tag, now);
            }
            "message_edited" | "message_deleted" => {
                let (Some(seq), Some(message)) = (frame.seq, frame.message) else {
                    self.stats.undecodable += 1;
                    return;
                };
                if message.room_id != *self.room_id {
                    self.stats.foreign += 1;
                    return;
                }
                self.delivered(seq, &message.id);
                self.count_change(now);
                if let (Some(tag), Some(latencies)) =
                    (Tag::parse(&message.content), &mut self.stats.edit_delivery_latency)
                    && tag.sent_at >= self.window.from
                {
                    latencies.record(tag.sent_at, now);
                }
            }
            "reaction" => {
                let (Some(seq), Some(RoomField::Id(room)), Some(message_id)) =
                    (frame.seq, &frame.room, &frame.message_id)
                else {
                    self.stats.undecodable += 1;
                    return;
                };
                if *room != *self.room_id {
                    self.stats.foreign += 1;
                    return;
                }
                self.delivered(seq, message_id);
                self.count_change(now);
            }
            // Request id 0 was the join, answered during setup.
            "reply" if frame.id.is_some_and(|id| id > 0) => self.chat_reply(frame, now),
            "error" => {
                let code = frame.error.map_or_else(|| "unknown".into(), |e| e.code.into_owned());
                *self.stats.error_frames.entry(code).or_default() += 1;
            }
            _ => {}
        }
    }

    /// A reply to one of the connection's operations.
    fn chat_reply(&mut self, frame: ServerFrame<'_>, now: u64) {
        self.reply_arrived(now);
        // Without a mix every request is a send, whose stamp its message's tag carries.
        let op = frame.id.zip(self.book.as_ref()).and_then(|(id, book)| book.answered(id));
        let kind = op.map_or(OpKind::Send, |op| op.kind);
        if frame.ok != Some(true) {
            let code = frame.error.map_or_else(|| "unknown".into(), |e| e.code.into_owned());
            self.refused(kind, code);
            return;
        }
        let Some(message) = frame.message else {
            self.refused(kind, "ok without a message".into());
            return;
        };
        let id = id_bits(&message.id);
        // A change's or reaction's reply is its message as it left it, which names the
        // entry's own seq.
        let acked = match kind {
            OpKind::Send => {
                if let Some(book) = &self.book {
                    book.own_acknowledged(message.seq);
                }
                Some(Acked { seq: message.seq, id, entry: Entry::Message })
            }
            OpKind::Edit | OpKind::Delete => (message.changed_seq > 0).then_some(Acked {
                seq: message.changed_seq,
                id,
                entry: Entry::Change,
            }),
            OpKind::Reaction => (message.reactions_seq > 0).then_some(Acked {
                seq: message.reactions_seq,
                id,
                entry: Entry::Change,
            }),
        };
        if let (Some(entry), Log::Seq { acked, .. }) = (acked, &mut self.stats.log) {
            acked.push(entry);
        }
        let sent_at = op.map(|op| op.sent_at).or_else(|| Tag::parse(&message.content).map(|t| t.sent_at));
        self.count_ack(kind, sent_at, now);
    }

    /// A packet of the chat cluster's Socket.IO endpoint: its events carry the frames of `/ws`
    /// and its acknowledgements the replies, read as on the chat path.
    fn chat_socketio_frame(&mut self, bytes: &[u8], now: u64) {
        let Some(incoming) =
            std::str::from_utf8(bytes).ok().and_then(|t| socketio_client::decode_chat(t).ok())
        else {
            self.count_frame();
            self.stats.undecodable += 1;
            return;
        };
        match incoming {
            ChatIncoming::Frame(frame) => self.chat_frame(frame.as_bytes(), now),
            ChatIncoming::Reply(frame) => {
                self.count_frame();
                // Ack id 0 was the join, answered during setup.
                if frame.id.is_some_and(|id| id > 0) {
                    self.chat_reply(frame, now);
                }
            }
            ChatIncoming::Ping => self.pong(),
            ChatIncoming::Disconnected => self.stats.ended = Some("disconnected by the server".into()),
            ChatIncoming::Other => self.count_frame(),
        }
    }

    /// Answers a Socket.IO heartbeat off the read path: the writer may hold the outbox while
    /// the socket is full.
    fn pong(&self) {
        let outbox = self.outbox.clone();
        tokio::spawn(async move {
            let _ = outbox.lock().await.send(socketio_client::pong()).await;
        });
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
                    self.refused(OpKind::Send, code);
                    return;
                }
                if let Log::Sender { acked, .. } = &mut self.stats.log {
                    acked.push(SendId { conn: self.conn, request: id });
                }
                self.count_ack(OpKind::Send, sent_at, now);
            }
            Incoming::Ping => self.pong(),
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

    /// Records an entry of the room received, for the completeness check.
    fn delivered(&mut self, seq: u64, message_id: &str) {
        if let Log::Seq { delivered, .. } = &mut self.stats.log {
            delivered.push(Delivered { seq, id: id_bits(message_id) });
        }
    }

    fn count_change(&mut self, now: u64) {
        self.stats.changes_in_window += u64::from(self.window.contains(now));
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

    /// The replies to `kind`, if this connection performs it.
    fn replies(&mut self, kind: OpKind) -> Option<&mut Replies> {
        self.stats.replies.as_mut().and_then(|replies| replies[kind].as_mut())
    }

    fn refused(&mut self, kind: OpKind, code: String) {
        if let Some(replies) = self.replies(kind) {
            *replies.refused.entry(code).or_default() += 1;
        }
    }

    fn count_ack(&mut self, kind: OpKind, sent_at: Option<u64>, now: u64) {
        let window = self.window;
        let Some(replies) = self.replies(kind) else { return };
        replies.acked += 1;
        replies.in_window += u64::from(window.contains(now));
        if let Some(sent_at) = sent_at
            && sent_at >= window.from
        {
            replies.latency.record(sent_at, now);
        }
    }
}

/// A message id as a number; 0 for one that is not a UUID (then it shows as a mismatch).
fn id_bits(id: &str) -> u128 {
    uuid::Uuid::parse_str(id).map(|u| u.as_u128()).unwrap_or(0)
}
