//! What goes out on the socket: replies, live messages and events, batched into one flush
//! under load, each write bounded by a deadline so a client that does not read cannot hold the
//! connection's resources.

use std::time::Duration;

use axum::extract::ws::Message as WsMessage;
use bytes::Bytes;
use chat_shared::domain::{Entry, RoomId, Seq};
use chat_shared::protocol::encode_entry_frame;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::state::{Outgoing, SendFuture, Session};
use crate::hot_metrics;
use crate::hub::{MessageFrame, Outbound};

/// How long one write may wait for the socket to take it. Writes wait only when the kernel's
/// buffers toward the peer are full, that is when the peer does not read: past this, or as
/// soon as the connection's queue overflows meanwhile, the connection is given up as too slow.
/// A closing connection has as long again for what it still owes (replies of sends in flight,
/// the close frame); a peer that has read nothing by then has its socket dropped.
pub(super) const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Frames written to a socket before one flush at most: under load a socket's queued frames
/// go out in one system call and TCP segment instead of one each.
const WRITE_BATCH: usize = 64;

/// Why a frame could not be written.
#[derive(Debug)]
pub(super) enum WriteError {
    /// The socket failed or is closed.
    Closed,
    /// The peer does not read: the write waited past its deadline, or the connection's queue
    /// overflowed while it waited. What was not written stays buffered, in order, ahead of
    /// anything written later.
    Stuck,
}

/// Something ready to go out on the socket.
pub(super) enum Ready {
    /// What the hub handed over: a live message or event.
    Outbound(Outbound),
    /// The reply to a finished send.
    Reply(Bytes),
}

/// Runs a write to the socket until it is done, the deadline passes or the connection is
/// found too slow, whichever comes first.
async fn guarded(
    too_slow: &CancellationToken,
    write: impl Future<Output = Result<(), axum::Error>>,
) -> Result<(), WriteError> {
    let mut write = std::pin::pin!(write);
    // Nearly every write is done at once, and then needs no timer.
    if let Some(result) = (&mut write).now_or_never() {
        return result.map_err(|_| WriteError::Closed);
    }
    // Boxed: rare, and the timer would otherwise enlarge every connection's task.
    Box::pin(async move {
        tokio::select! {
            biased;
            result = write => result.map_err(|_| WriteError::Closed),
            () = too_slow.cancelled() => Err(WriteError::Stuck),
            () = tokio::time::sleep(WRITE_DEADLINE) => Err(WriteError::Stuck),
        }
    })
    .await
}

/// The next thing ready for the socket without waiting: a queued delivery, else a finished
/// send's reply.
fn ready_now(
    sends: &mut FuturesUnordered<SendFuture>,
    inbox: &mut mpsc::Receiver<Outbound>,
) -> Option<Ready> {
    match inbox.try_recv() {
        Ok(outbound) => Some(Ready::Outbound(outbound)),
        Err(_) => sends.next().now_or_never().flatten().map(Ready::Reply),
    }
}

impl<W: Outgoing> Session<W> {
    /// Writes a frame and flushes it.
    pub(super) async fn write(&mut self, frame: Bytes) -> Result<(), WriteError> {
        match self.ws_message(frame) {
            Some(message) => {
                hot_metrics::FRAMES_OUT.increment(1);
                guarded(&self.subscriber.too_slow, self.sink.send(message)).await
            }
            None => Ok(()),
        }
    }

    /// Pings the client, which answers with a pong.
    pub(super) async fn ping(&mut self) -> Result<(), WriteError> {
        guarded(&self.subscriber.too_slow, self.sink.send(WsMessage::Ping(Bytes::new()))).await
    }

    /// Writes a frame and flushes it, with no deadline of its own: for a closing connection,
    /// whose writes share one.
    pub(super) async fn write_unguarded(&mut self, frame: Bytes) -> Result<(), axum::Error> {
        match self.ws_message(frame) {
            Some(message) => {
                hot_metrics::FRAMES_OUT.increment(1);
                self.sink.send(message).await
            }
            None => Ok(()),
        }
    }

    /// Writes `first` and whatever else is ready by now (live messages, replies of finished
    /// sends), up to a batch, and flushes once: under load a socket's frames go out in one
    /// system call instead of one each, and a send's reply often with its own delivery.
    pub(super) async fn write_ready(
        &mut self,
        first: Ready,
        sends: &mut FuturesUnordered<SendFuture>,
        inbox: &mut mpsc::Receiver<Outbound>,
    ) -> Result<(), WriteError> {
        let mut next = Some(first);
        let (mut taken, mut fed, mut yielded) = (0, 0, false);
        loop {
            while let Some(ready) = next.take() {
                fed += match ready {
                    Ready::Outbound(outbound) => self.feed_outbound(outbound).await?,
                    Ready::Reply(reply) => self.feed(reply).await?,
                };
                taken += 1;
                if taken < WRITE_BATCH {
                    next = ready_now(sends, inbox);
                }
            }
            if yielded || taken >= WRITE_BATCH {
                break;
            }
            // Before the system call, let the tasks that are about to hand this socket more
            // (the hub's fan-out, finishing sends) run once: under load that joins writes;
            // idle, it costs one trip through the scheduler.
            tokio::task::yield_now().await;
            yielded = true;
            next = ready_now(sends, inbox);
            if next.is_none() {
                break;
            }
        }
        hot_metrics::FRAMES_OUT.increment(fed);
        guarded(&self.subscriber.too_slow, self.sink.flush()).await
    }

    /// Queues a frame for the socket without flushing; how many frames that was (0 or 1).
    async fn feed(&mut self, frame: Bytes) -> Result<u64, WriteError> {
        match self.ws_message(frame) {
            Some(message) => guarded(&self.subscriber.too_slow, self.sink.feed(message)).await.map(|()| 1),
            None => Ok(0),
        }
    }

    /// Queues what the hub handed over for the socket without flushing; how many frames that
    /// was (0 or 1).
    async fn feed_outbound(&mut self, outbound: Outbound) -> Result<u64, WriteError> {
        let frame = match outbound {
            Outbound::Message(message) => {
                let MessageFrame { room, seq, previous, .. } = *message;
                let Some(&mark) = self.joined.get(&room) else { return Ok(0) };
                if seq <= mark {
                    return Ok(0);
                }
                let fed = if previous > mark {
                    // Boxed: rare, and its read of the log would otherwise enlarge every
                    // connection's task.
                    let Some(fed) = Box::pin(self.catch_up(room, mark, previous)).await? else {
                        return Ok(0);
                    };
                    fed
                } else {
                    0
                };
                // mark <= previous < seq: the message is news, whatever the catch-up fed.
                self.joined.insert(room, seq);
                // Made a socket message once by the hub for every recipient.
                guarded(&self.subscriber.too_slow, self.sink.feed(message.frame.clone())).await?;
                return Ok(fed + 1);
            }
            Outbound::Event(frame) => Bytes::clone(&frame),
            Outbound::Removed(room) => {
                self.state.rooms.forget_membership(*room, self.user);
                Box::pin(self.stop_following(*room)).await;
                return Ok(0);
            }
        };
        self.feed(frame).await
    }

    /// Feeds the room's messages after `mark` up to `previous`, which the connection missed: a
    /// join's read can lag behind the live feed (a log replica that is catching up) while the
    /// messages that came live during the join were held back. How many frames that was; `None`
    /// when the log cannot supply them yet: the connection then closes, and the client resumes
    /// with `since`.
    async fn catch_up(&mut self, room: RoomId, mark: Seq, previous: Seq) -> Result<Option<u64>, WriteError> {
        let mut missed: Vec<Entry> = match self.state.messages.replay(self.user, room, mark).await {
            Ok(replay) => {
                let messages = replay.messages.into_iter().map(Entry::Message);
                let mut entries: Vec<Entry> = messages.chain(replay.changes).collect();
                entries.sort_by_key(Entry::seq);
                entries
            }
            Err(_) => Vec::new(),
        };
        // Reached when the replay holds `previous` or anything after it: `previous` itself may
        // have been redacted since (an edit of a deleted message).
        let reached = missed.last().map(Entry::seq) >= Some(previous);
        missed.retain(|e| e.seq() <= previous);
        if !reached {
            tracing::warn!(%room, mark, previous, "a connection missed messages the log cannot supply yet");
            metrics::counter!("chat_fanout_gap_fill_failures_total").increment(1);
            // Nothing more of the room may reach the client before the close.
            self.joined.insert(room, Seq::MAX);
            self.subscriber.too_slow.cancel();
            return Ok(None);
        }
        // The replay holds only seqs above `mark`, ascending: each is news to the connection.
        let mut fed = 0;
        for entry in &missed {
            fed += self.feed(encode_entry_frame(self.codec(), entry)).await?;
        }
        self.joined.insert(room, previous);
        Ok(Some(fed))
    }

    fn ws_message(&self, frame: Bytes) -> Option<WsMessage> {
        crate::hub::ws_message(self.codec(), frame)
    }
}
