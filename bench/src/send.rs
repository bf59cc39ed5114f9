//! The writer task of a sending connection: paced or flat out, it stamps each send (and each
//! edit, under a mix) with the timing tag and writes it in the system's framing, holding one
//! in-flight permit per operation.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::SinkExt;
use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{Codec, System};
use crate::client::{self, ChangeFrame, SendFrame};
use crate::latency::{Clock, Window};
use crate::mix::PerKind;
use crate::ops::{Op, OpBook, Planner};
use crate::pace::SenderPace;
use crate::socketio_client;
use crate::tag::Tag;
use crate::throughput::{Outbox, SentTimes, Shared};

pub(crate) struct Writer {
    pub system: System,
    pub codec: Codec,
    pub clock: Clock,
    pub window: Window,
    pub conn: u32,
    pub room_id: Arc<str>,
    pub content_bytes: usize,
    pub client_msg_prefix: Option<String>,
    /// Sends say `first_attempt`.
    pub first_attempt: bool,
    pub start_at: Instant,
    pub end_at: Instant,
    /// Paced: the interval between this sender's sends and its offset from the start.
    pub pace: Option<SenderPace>,
    pub permits: Arc<Semaphore>,
    /// Under a mix: what chooses each operation, and the book it records them in for the reader.
    pub mix: Option<(Planner, Arc<OpBook>)>,
    /// Where the peer's sends leave their stamp for the reader to match with the ack.
    pub sent_times: Option<SentTimes>,
    pub outbox: Outbox,
    pub shared: Arc<Shared>,
}

#[derive(Default)]
pub(crate) struct WriterStats {
    /// Operations written, by kind.
    pub written: PerKind<u64>,
    /// Of those, the ones stamped inside the window.
    pub in_window: PerKind<u64>,
    pub skipped: u64,
    pub error: Option<String>,
}

impl Writer {
    pub async fn run(mut self) -> WriterStats {
        let mut stats = WriterStats::default();
        let mut content = String::with_capacity(self.content_bytes + 32);
        let mut client_msg_id = String::new();
        let mut ticker = self.pace.map(|SenderPace { every, offset }| {
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
            let op = match &mut self.mix {
                Some((planner, book)) => planner.next(book, request, sent_at),
                None => Op::Send,
            };
            if matches!(op, Op::Send | Op::Edit { .. }) {
                Tag { sent_at, conn: self.conn, request }.write_content(&mut content, self.content_bytes);
            }
            let client_msg_id = self.client_msg_prefix.as_ref().filter(|_| op == Op::Send).map(|prefix| {
                client_msg_id.clear();
                let _ = write!(client_msg_id, "{prefix}-{}-{request}", self.conn);
                client_msg_id.as_str()
            });
            let message = match self.encode(request, op, &content, client_msg_id) {
                Ok(message) => message,
                Err(err) => {
                    stats.error = Some(err.to_string());
                    break;
                }
            };
            if let Some(sent_times) = &self.sent_times {
                sent_times.lock().unwrap_or_else(|e| e.into_inner()).insert(request, sent_at);
            }
            self.shared.sent.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = self.outbox.lock().await.send(message).await {
                self.shared.sent.fetch_sub(1, Ordering::Relaxed);
                stats.error = Some(err.to_string());
                break;
            }
            stats.written[op.kind()] += 1;
            stats.in_window[op.kind()] += u64::from(self.window.contains(sent_at));
        }
        stats
    }

    fn encode(
        &self,
        request: u64,
        op: Op,
        content: &str,
        client_msg_id: Option<&str>,
    ) -> anyhow::Result<Message> {
        let change = |kind, seq, content, emoji| ChangeFrame {
            kind,
            id: request,
            room: &self.room_id,
            seq,
            content,
            emoji,
        };
        let frame = match op {
            Op::Send => return self.encode_send(request, content, client_msg_id),
            Op::Edit { seq } => change("edit", seq, Some(content), None),
            Op::Delete { seq } => change("delete", seq, None, None),
            Op::React { seq, emoji, add } => {
                change(if add { "react" } else { "unreact" }, seq, None, Some(emoji))
            }
        };
        client::encode(self.codec, &frame)
    }

    fn encode_send(
        &self,
        request: u64,
        content: &str,
        client_msg_id: Option<&str>,
    ) -> anyhow::Result<Message> {
        match self.system {
            System::Chat => {
                let frame = SendFrame {
                    kind: "send",
                    id: request,
                    room: &self.room_id,
                    content,
                    client_msg_id,
                    first_attempt: self.first_attempt,
                };
                client::encode(self.codec, &frame)
            }
            System::ChatSocketio => {
                let body = socketio_client::ChatSend {
                    room: &self.room_id,
                    content,
                    client_msg_id,
                    first_attempt: self.first_attempt,
                };
                socketio_client::chat_send_frame(request, &body)
            }
            System::Socketio => socketio_client::send_frame(request, &self.room_id, content),
        }
    }
}
