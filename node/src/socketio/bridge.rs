//! What one Socket.IO socket and its session share: the events on their way in, in the order
//! they came, and the acknowledgements that wait for the session's replies.
//!
//! Events are queued as socketioxide reads them: its message handlers run in its read loop,
//! before anything is spawned, so the queue keeps the client's order (an async handler would
//! be a task of its own, and two of them may swap). The bridge holds no reference to the
//! socket: the socket holds the bridge (in its handlers), and the session both.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::Message as WsMessage;
use chat_shared::protocol::ErrorBody;
use futures::Stream;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::AckSender;
use socketioxide::handler::{DisconnectHandler, FromMessageParts, MessageHandler};
use socketioxide::socket::{DisconnectReason, Socket};
use socketioxide_core::Value as SioValue;
use tokio::sync::mpsc;

use super::events::{Inbound, inbound};
use super::frames::refusal;
use crate::error::ApiError;

/// An item of the session's incoming stream, as a WebSocket's.
type Incoming = Result<WsMessage, axum::Error>;

/// What a refused event's client is told to wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The shared state of one socket's bridge.
pub(super) struct Bridge {
    /// The id of the next event's frame. Every event gets one, acknowledged or not, so that
    /// every answer the session writes names its event, except the answer to input that is no
    /// frame (see `malformed`).
    next_id: AtomicU64,
    /// The Socket.IO acknowledgement id of each event that wants one, by its frame's id, until
    /// the session's reply answers it.
    acks: Mutex<HashMap<u64, i64>>,
    /// For each event handed on as input that is no frame, oldest first, its acknowledgement
    /// id if it has one: the session answers each with one `error` frame, in order.
    malformed: Mutex<VecDeque<Option<i64>>>,
    /// The session's incoming stream; taken when the socket disconnects, which ends it.
    inbox: Mutex<Option<mpsc::UnboundedSender<Incoming>>>,
    /// Bytes of events waiting in the inbox: what a client may have sent and the session not
    /// yet read is bounded by `budget` as a WebSocket's is by its buffers.
    queued: Arc<AtomicUsize>,
    budget: usize,
    /// An event larger than this closes the connection as a `/ws` frame too large does (1009).
    max_frame_bytes: usize,
}

/// The session's incoming stream: the frames of the socket's events, in order.
pub(super) struct Inbox {
    receiver: mpsc::UnboundedReceiver<Incoming>,
    queued: Arc<AtomicUsize>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Bridge {
    /// A bridge and the inbox its session reads.
    pub(super) fn new(max_frame_bytes: usize) -> (Arc<Self>, Inbox) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let bridge = Bridge {
            next_id: AtomicU64::new(1),
            acks: Mutex::new(HashMap::new()),
            malformed: Mutex::new(VecDeque::new()),
            inbox: Mutex::new(Some(sender)),
            queued: queued.clone(),
            // A burst of small events (joins after a reconnect) fits many times over; a
            // frame of the largest size always fits.
            budget: max_frame_bytes.saturating_mul(4).max(64 * 1024),
            max_frame_bytes,
        };
        (Arc::new(bridge), Inbox { receiver, queued })
    }

    /// Queues an event for the session; refuses it at once when the session is that far behind.
    fn receive(&self, socket: &Arc<Socket>, mut data: SioValue, ack: Option<i64>) {
        let Some(packet) = data.as_str() else {
            // Binary packets come only with the MessagePack parser, which the node does not use.
            return;
        };
        let size = packet.len();
        if self.queued.load(Ordering::Acquire) + size > self.budget {
            metrics::counter!("chat_ws_rate_limited_total").increment(1);
            refuse_at_once(socket, &mut data, ack);
            return;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // The session decodes by its codec (JSON), whatever the message's kind: binary spares
        // the bytes a second UTF-8 check.
        let item = match inbound(packet, self.max_frame_bytes, id) {
            Inbound::Frame(frame) => {
                if let Some(ack) = ack {
                    lock(&self.acks).insert(id, ack);
                }
                Ok(WsMessage::Binary(frame))
            }
            Inbound::Malformed(input) => {
                lock(&self.malformed).push_back(ack);
                Ok(WsMessage::Binary(input))
            }
            Inbound::TooBig(size) => {
                let max_size = self.max_frame_bytes;
                let too_long = tungstenite::error::CapacityError::MessageTooLong { size, max_size };
                Err(axum::Error::new(tungstenite::Error::Capacity(too_long)))
            }
        };
        // Counted before the session can read it, which uncounts it.
        let counted = queued_size(&item);
        self.queued.fetch_add(counted, Ordering::AcqRel);
        let sent = lock(&self.inbox).as_ref().is_some_and(|inbox| inbox.send(item).is_ok());
        if !sent {
            self.queued.fetch_sub(counted, Ordering::AcqRel);
        }
    }

    /// The Socket.IO acknowledgement id of the event whose frame had `id`, if it wants one.
    pub(super) fn take_ack(&self, id: u64) -> Option<i64> {
        lock(&self.acks).remove(&id)
    }

    /// The acknowledgement id of the oldest event handed on as no frame, if it wants one:
    /// the session's next `error` frame answers it. `None` also when there is none.
    pub(super) fn take_malformed(&self) -> Option<i64> {
        lock(&self.malformed).pop_front().flatten()
    }

    /// Answers the session's ping as a WebSocket client would: Engine.IO checks the
    /// connection's liveness with its own heartbeat, and ends the session when it fails.
    pub(super) fn pong(&self) {
        if let Some(inbox) = lock(&self.inbox).as_ref() {
            let _ = inbox.send(Ok(WsMessage::Pong(bytes::Bytes::new())));
        }
    }

    /// The socket is gone: the session reads what was queued, then the end of its stream.
    fn end(&self) {
        lock(&self.inbox).take();
    }
}

/// What an item of the inbox counts against the budget.
fn queued_size(item: &Incoming) -> usize {
    match item {
        Ok(WsMessage::Binary(bytes)) => bytes.len(),
        _ => 0,
    }
}

/// Answers an event the session cannot take now, as the session answers a send refused by its
/// rate limit: the acknowledgement, or an `error` event for an event without one.
fn refuse_at_once(socket: &Arc<Socket>, data: &mut SioValue, ack: Option<i64>) {
    let error = ApiError::RateLimited { retry_after: RETRY_AFTER };
    let error = serde_json::to_value(ErrorBody::from(&error)).expect("an error body is plain JSON");
    // Best effort, like any answer to a client whose buffers are full.
    let _ = match ack {
        Some(_) => {
            let Ok(sender) = AckSender::from_message_parts(socket, data, &ack);
            sender.send(&refusal(error))
        }
        None => socket.emit("error", &serde_json::json!({"type": "error", "error": error})),
    };
}

impl Stream for Inbox {
    type Item = Incoming;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        let polled = self.receiver.poll_recv(cx);
        if let Poll::Ready(Some(item)) = &polled {
            self.queued.fetch_sub(queued_size(item), Ordering::AcqRel);
        }
        polled
    }
}

/// The handler of every event of a socket: `socket.on_fallback(Events(bridge))`.
pub(super) struct Events(pub(super) Arc<Bridge>);

impl MessageHandler<LocalAdapter, Events> for Events {
    fn call(&self, socket: Arc<Socket>, data: SioValue, ack: Option<i64>) {
        self.0.receive(&socket, data, ack);
    }
}

/// The handler of a socket's disconnection: its session's stream ends.
pub(super) struct Disconnected(pub(super) Arc<Bridge>);

impl DisconnectHandler<LocalAdapter, Disconnected> for Disconnected {
    fn call_with_defer(&self, socket: Arc<Socket>, _: DisconnectReason, defer: fn(Arc<Socket>)) {
        self.0.end();
        defer(socket);
    }
}
