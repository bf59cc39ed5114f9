//! What a session holds for its connection's life, and what it runs on.

use std::collections::HashMap;

use axum::extract::ws::Message as WsMessage;
use chat_shared::domain::{RoomId, Seq, UserId};
use chat_shared::protocol::Codec;
use futures::{Sink, Stream};
use governor::DefaultDirectRateLimiter;
use tokio::sync::oneshot;

use super::limits::Malformed;
use crate::connections::Admission;
use crate::hub::Subscriber;
use crate::state::AppState;

/// Where a session writes: the socket's sending half.
pub trait Outgoing: Sink<WsMessage, Error = axum::Error> + Unpin + Send + 'static {}
impl<T: Sink<WsMessage, Error = axum::Error> + Unpin + Send + 'static> Outgoing for T {}

/// What a session reads: the socket's receiving half.
pub trait Incoming: Stream<Item = Result<WsMessage, axum::Error>> + Unpin + Send + 'static {}
impl<T: Stream<Item = Result<WsMessage, axum::Error>> + Unpin + Send + 'static> Incoming for T {}

/// A send in flight; it resolves to the reply, encoded (empty for a send without an id that
/// succeeded).
pub(super) type SendFuture = std::pin::Pin<Box<dyn Future<Output = bytes::Bytes> + Send>>;

pub(super) struct Session<W> {
    /// This socket's place among the node's and its user's, given back when the session ends.
    pub(super) _admission: Admission,
    pub(super) state: AppState,
    pub(super) user: UserId,
    pub(super) subscriber: Subscriber,
    pub(super) sink: W,
    /// Rooms this connection follows, each with the highest seq it has been given.
    pub(super) joined: HashMap<RoomId, Seq>,
    pub(super) limiter: Option<DefaultDirectRateLimiter>,
    pub(super) malformed: Malformed,
    /// Sends refused by the rate limit in a row.
    pub(super) rate_strikes: u32,
    /// Per room, the completion of this connection's latest send: the next send to that room
    /// waits for it, so one sender's messages are stored in the order they were sent.
    pub(super) last_send: HashMap<RoomId, oneshot::Receiver<()>>,
}

impl<W> Session<W> {
    pub(super) fn codec(&self) -> Codec {
        self.subscriber.codec
    }
}
