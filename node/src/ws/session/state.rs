//! What a session holds for its connection's life, and what it runs on.

use std::collections::HashMap;

use axum::extract::ws::Message as WsMessage;
use chat_shared::domain::{LoginId, RoomId, Seq, SocketId, UserId};
use chat_shared::protocol::Codec;
use futures::{Sink, Stream};
use governor::DefaultDirectRateLimiter;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::limits::Malformed;
use crate::connections::Admission;
use crate::hub::Subscriber;
use crate::logins::LoginWatch;
use crate::state::AppState;
use crate::ws::close::Close;

/// Where a session writes: the socket's sending half.
pub trait Outgoing: Sink<WsMessage, Error = axum::Error> + Unpin + Send + 'static {}
impl<T: Sink<WsMessage, Error = axum::Error> + Unpin + Send + 'static> Outgoing for T {}

/// What a session reads: the socket's receiving half.
pub trait Incoming: Stream<Item = Result<WsMessage, axum::Error>> + Unpin + Send + 'static {}
impl<T: Stream<Item = Result<WsMessage, axum::Error>> + Unpin + Send + 'static> Incoming for T {}

/// An entry of a room's log in flight (a send, edit, deletion or reaction); it resolves to the
/// reply, encoded (empty for one without an id that succeeded).
pub(super) type SendFuture = std::pin::Pin<Box<dyn Future<Output = bytes::Bytes> + Send>>;

pub(super) struct Session<W> {
    /// This socket's place among the node's and its user's, given back when the session ends.
    pub(super) _admission: Admission,
    pub(super) state: AppState,
    pub(super) user: UserId,
    /// This socket among all of every node's, for the user's feed.
    pub(super) socket: SocketId,
    pub(super) subscriber: Subscriber,
    /// Cancelled at shutdown (a child of the node's token), or when the login ends.
    pub(super) stop: CancellationToken,
    /// The socket's place among its login's sockets; none for a token that names no login.
    pub(super) login_watch: Option<LoginWatch>,
    pub(super) sink: W,
    /// Rooms this connection follows, each with the highest seq it has been given.
    pub(super) joined: HashMap<RoomId, Seq>,
    pub(super) limiter: Option<DefaultDirectRateLimiter>,
    pub(super) malformed: Malformed,
    /// Entries (sends, edits, deletions, reactions) refused by the rate limit in a row.
    pub(super) rate_strikes: u32,
    /// Per room, the completion of this connection's latest entry: the next one in that room
    /// waits for it, so one client's messages and changes are stored in the order it sent them.
    pub(super) last_send: HashMap<RoomId, oneshot::Receiver<()>>,
}

impl<W> Session<W> {
    pub(super) fn codec(&self) -> Codec {
        self.subscriber.codec
    }

    /// Counts the socket among the sockets of `login`, the login of its latest token (a renewal
    /// may bring another login's), so that it closes when that login ends.
    pub(super) fn follow_login(&mut self, login: Option<LoginId>) {
        if self.login_watch.as_ref().map(LoginWatch::login) == login {
            return;
        }
        let sockets = &self.state.sockets_by_login;
        self.login_watch = login.map(|login| sockets.watch(login, self.subscriber.id, self.stop.clone()));
        // The token was checked before the watch began: an announcement heard in between
        // closed nothing, but this node remembers it.
        if login.is_some_and(|login| self.state.revocations.known_revoked(login)) {
            self.stop.cancel();
        }
    }

    /// Why the session's stop token was cancelled.
    pub(super) fn stopped_for(&self) -> Close {
        if self.state.shutdown.is_cancelled() { Close::Restarting } else { Close::LoginEnded }
    }
}
