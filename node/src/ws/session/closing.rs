//! How a session ends: what the connection holds for others is given back first, then the
//! sends in flight are answered and the close is written, each within a deadline.

use std::time::Duration;

use axum::extract::ws::Message as WsMessage;
use chat_shared::domain::RoomId;
use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::state::{Incoming, Outgoing, SendFuture, Session};
use super::writer::{WRITE_DEADLINE, WriteError};
use crate::hub::Outbound;
use crate::ws::close::Close;

/// How long a closing connection waits for the client to confirm the close.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// The client closed, or the socket failed: there is nobody to tell.
    Gone,
    /// The server closes.
    Close(Close),
}

impl From<WriteError> for Ending {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Closed => Ending::Gone,
            WriteError::Stuck => Ending::Close(Close::TooSlow),
        }
    }
}

impl<W: Outgoing> Session<W> {
    pub(super) async fn close(
        mut self,
        ending: Ending,
        mut sends: FuturesUnordered<SendFuture>,
        inbox: mpsc::Receiver<Outbound>,
        mut stream: impl Incoming,
    ) {
        if ending == Ending::Close(Close::TooSlow) {
            metrics::counter!("chat_ws_slow_consumer_closes_total").increment(1);
        }
        // What the connection holds for others goes first: its rooms (and so its presence) and
        // its queue, whatever the socket does from here on.
        let rooms: Vec<RoomId> = self.joined.keys().copied().collect();
        for room in rooms {
            self.stop_following(room).await;
        }
        self.state.feeds.unfollow(self.user, self.socket);
        drop(inbox);
        // In-flight sends finish: their senders learn the outcome before the socket closes, if
        // the socket takes the replies in time. A client that reads nothing gets its socket
        // dropped once the time is up.
        let mut writable = ending != Ending::Gone;
        let closing_writes = tokio::time::Instant::now() + WRITE_DEADLINE;
        while let Some(reply) = sends.next().await {
            if writable {
                writable = tokio::time::timeout_at(closing_writes, self.write_unguarded(reply))
                    .await
                    .is_ok_and(|written| written.is_ok());
            }
        }
        if let (true, Ending::Close(close)) = (writable, ending) {
            let frame = WsMessage::Close(Some(close.frame()));
            let sent = tokio::time::timeout_at(closing_writes, self.sink.send(frame)).await;
            writable = sent.is_ok_and(|sent| sent.is_ok());
            if writable {
                // Complete the closing handshake: reading until the client's close means the
                // socket is not torn down with unread input, which would reset it and lose the
                // close code.
                let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                    while let Some(Ok(frame)) = stream.next().await {
                        if matches!(frame, WsMessage::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        if writable {
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, self.sink.close()).await;
        }
        metrics::gauge!("chat_ws_connections").decrement(1.0);
    }
}
