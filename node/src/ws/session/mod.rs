//! One WebSocket connection: reads client frames, runs them, and writes replies and the live
//! messages of the rooms it joined, in seq order and without duplicates.
//!
//! The session runs on any sink and stream of socket messages: the node hands it a WebSocket's
//! two halves, the unit tests in-memory channels. Its jobs each have a file: reading and
//! decoding what comes in (`reading`), running commands (`commands`), writing what goes out
//! (`writer`) and closing (`closing`).

mod closing;
mod commands;
mod entries;
mod limits;
mod reading;
mod state;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chat_shared::domain::SocketId;
use chat_shared::protocol::{Codec, decode_client_frame};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::auth::Authenticated;
use super::close::Close;
use super::send_limit::limiter;
use crate::connections::Admission;
use crate::hot_metrics;
use crate::hub::Subscriber;
use crate::state::AppState;
use closing::Ending;
use limits::Malformed;
use reading::Read;
use state::Session;
use state::{Incoming, Outgoing};
use writer::Ready;

/// An authenticated socket, as the session starts it.
pub struct Connection {
    pub codec: Codec,
    /// Who its token names, of which login, and when the token expires.
    pub authenticated: Authenticated,
    /// Its place among the node's and its user's sockets, given back when the session ends.
    pub admission: Admission,
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// The session of an authenticated socket, to be spawned. The session is built before the
/// returned future, which captures it as is: an `async fn` would hold its arguments (the
/// socket, the state) beside the session built from them for the connection's whole life.
/// The future is 1,800 bytes (release build, measured with size_of_val on halves laid out as a
/// WebSocket's), so the spawned task stays in the allocator's 2 KiB size class: what the loop
/// keeps across an await costs every connection, so rare and large awaits are boxed.
pub fn run<W: Outgoing, R: Incoming>(
    state: AppState,
    sink: W,
    mut stream: R,
    connection: Connection,
) -> impl Future<Output = ()> + Send + 'static {
    let Connection { codec, authenticated, admission } = connection;
    let Authenticated { user, login, expires_at } = authenticated;
    let (queue, mut inbox) = mpsc::channel(state.ws.outbound_queue.max(1));
    let too_slow = CancellationToken::new();
    let id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    // Cancelled with every session at shutdown, or alone when the session's login ends.
    let stop = state.shutdown.child_token();
    let mut expiry = Box::pin(tokio::time::sleep(commands::until(expires_at, &state)));
    let ping_interval = state.ws.ping_interval;
    let mut ping = Box::pin(tokio::time::sleep(ping_interval));
    let mut session = Session {
        _admission: admission,
        subscriber: Subscriber { id, user, codec, queue, too_slow: too_slow.clone() },
        stop,
        login_watch: None,
        limiter: limiter(&state.ws),
        state,
        user,
        socket: SocketId::generate(),
        sink,
        joined: HashMap::new(),
        malformed: Malformed::default(),
        rate_strikes: 0,
        last_send: HashMap::new(),
    };
    session.follow_login(login);
    metrics::gauge!("chat_ws_connections").increment(1.0);
    async move {
        // Before any frame is read: a `rooms` reply is then followed by every later change.
        let feeds = session.state.feeds.clone();
        Box::pin(feeds.follow(session.socket, session.subscriber.clone())).await;
        let mut sends = FuturesUnordered::new();
        // Made once and polled again on every turn: a new one each turn would register a waiter
        // on the node-wide shutdown token, under its lock, for every frame of every connection.
        let mut stop = std::pin::pin!(session.stop.clone().cancelled_owned());
        let mut too_slow = std::pin::pin!(too_slow.cancelled_owned());
        // Whether anything came from the client since the last ping.
        let mut heard = true;
        let ending = loop {
            tokio::select! {
                biased;
                () = &mut stop => break Ending::Close(session.stopped_for()),
                () = &mut too_slow => break Ending::Close(Close::TooSlow),
                () = &mut expiry => break Ending::Close(Close::TokenExpired),
                () = &mut ping, if !ping_interval.is_zero() => {
                    if !heard {
                        // Not even the pong to the last ping: the peer is gone without a word.
                        metrics::counter!("chat_ws_silent_closes_total").increment(1);
                        break Ending::Gone;
                    }
                    heard = false;
                    if let Err(err) = session.ping().await {
                        break err.into();
                    }
                    ping.as_mut().reset(tokio::time::Instant::now() + ping_interval);
                }
                Some(reply) = sends.next(), if !sends.is_empty() => {
                    if let Err(err) = session.write_ready(Ready::Reply(reply), &mut sends, &mut inbox).await {
                        break err.into();
                    }
                }
                Some(outbound) = inbox.recv() => {
                    if let Err(err) = session.write_ready(Ready::Outbound(outbound), &mut sends, &mut inbox).await {
                        break err.into();
                    }
                }
                incoming = stream.next() => {
                    heard = true;
                    let bytes = match reading::read(incoming) {
                        Read::Frame(bytes) => bytes,
                        Read::Nothing => continue,
                        Read::End(ending) => break ending,
                    };
                    hot_metrics::FRAMES_IN.increment(1);
                    let handled = match decode_client_frame(codec, &bytes) {
                        Ok(frame) => session.handle(frame, &mut sends, &mut expiry).await,
                        // A frame that was read but has a bad field is answered like any
                        // refused request; only input that is no frame at all is malformed.
                        Err(err) if err.id.is_some() => session.refuse(err).await,
                        Err(err) => session.malformed(err).await,
                    };
                    if let Err(ending) = handled {
                        break ending;
                    }
                }
            }
        };
        // Boxed: it runs once, and would otherwise enlarge every connection's task.
        Box::pin(session.close(ending, sends, inbox, stream)).await;
    }
}
