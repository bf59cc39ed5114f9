//! One WebSocket connection: reads client frames, runs them, and writes replies and the live
//! messages of the rooms it joined, in seq order and without duplicates.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use bytes::Bytes;
use chat_shared::domain::{RoomId, Seq, UserId};
use chat_shared::error::FieldErrors;
use chat_shared::ports::PageQuery;
use chat_shared::protocol::{
    ClientFrame, Codec, Command, ErrorBody, FrameError, SendCommand, ServerFrame, decode_client_frame,
    encode, encode_message_frame, encode_reply,
};
use chat_shared::usecases::{DEFAULT_PAGE, NewMessage};
use futures::stream::{FuturesUnordered, SplitSink};
use futures::{FutureExt, SinkExt, StreamExt};
use governor::DefaultDirectRateLimiter;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::hub::{MessageFrame, Outbound, Subscriber};
use super::send_limit::limiter;
use super::{Admission, AuthRefusal, close, hot_metrics};
use crate::app::AppState;
use crate::http::error::ApiError;

/// Limits of one connection.
#[derive(Debug, Clone)]
pub struct WsSettings {
    pub max_frame_bytes: usize,
    /// Frames a connection may have queued before it counts as too slow (closed with 4002).
    pub outbound_queue: usize,
    /// Sends per second; 0 = unlimited.
    pub send_rate: u32,
    pub send_burst: u32,
    /// Sends of one connection awaiting their acknowledgement at once.
    pub max_sends_in_flight: usize,
    /// How often a quiet connection is pinged; zero for never.
    pub ping_interval: Duration,
}

/// Malformed frames tolerated per window before the connection is closed with 1008.
const MALFORMED_LIMIT: u32 = 10;
const MALFORMED_WINDOW: Duration = Duration::from_secs(10);
/// Sends refused by the rate limit, in a row, before the connection is closed with 4008.
const RATE_STRIKES_LIMIT: u32 = 100;

/// How long a closing connection waits for the client to confirm the close.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);
/// How long one write may wait for the socket to take it. Writes wait only when the kernel's
/// buffers toward the peer are full, that is when the peer does not read: past this, or as
/// soon as the connection's queue overflows meanwhile, the connection is given up as too slow.
/// A closing connection has as long again for what it still owes (replies of sends in flight,
/// the close frame); a peer that has read nothing by then has its socket dropped.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// Frames written to a socket before one flush at most: under load a socket's queued frames
/// go out in one system call and TCP segment instead of one each.
const WRITE_BATCH: usize = 64;

type Sink = SplitSink<WebSocket, WsMessage>;

/// The session of an authenticated socket, to be spawned. The session is built before the
/// returned future, which captures it as is: an `async fn` would hold its arguments (the
/// socket, the state) beside the session built from them for the connection's whole life.
/// The spawned task is 1,792 bytes (release build), in the allocator's 2 KiB size class: what
/// the loop keeps across an await costs every connection, so rare and large awaits are boxed.
pub fn run(
    state: AppState,
    socket: WebSocket,
    codec: Codec,
    user: UserId,
    expires_at: chrono::DateTime<chrono::Utc>,
    admission: Admission,
) -> impl Future<Output = ()> + Send + 'static {
    let (sink, mut stream) = socket.split();
    let (queue, mut inbox) = mpsc::channel(state.ws.outbound_queue.max(1));
    let too_slow = CancellationToken::new();
    let id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let mut expiry = Box::pin(tokio::time::sleep(until(expires_at, &state)));
    let ping_interval = state.ws.ping_interval;
    let mut ping = Box::pin(tokio::time::sleep(ping_interval));
    let mut session = Session {
        _admission: admission,
        subscriber: Subscriber { id, user, codec, queue, too_slow: too_slow.clone() },
        limiter: limiter(&state.ws),
        state,
        user,
        sink,
        joined: HashMap::new(),
        malformed: (Instant::now(), 0),
        rate_strikes: 0,
        last_send: HashMap::new(),
    };
    metrics::gauge!("chat_ws_connections").increment(1.0);
    async move {
        let mut sends = FuturesUnordered::new();
        // Made once and polled again on every turn: a new one each turn would register a waiter
        // on the node-wide shutdown token, under its lock, for every frame of every connection.
        let mut shutdown = std::pin::pin!(session.state.shutdown.clone().cancelled_owned());
        let mut too_slow = std::pin::pin!(too_slow.cancelled_owned());
        // Whether anything came from the client since the last ping.
        let mut heard = true;
        let ending = loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break Ending::Close(close::SERVICE_RESTART, "server restarting"),
                () = &mut too_slow => break Ending::TOO_SLOW,
                () = &mut expiry => break Ending::Close(close::UNAUTHORIZED, "token expired"),
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
                    let bytes = match incoming {
                        None | Some(Ok(WsMessage::Close(_))) => break Ending::Gone,
                        Some(Ok(WsMessage::Text(text))) => Bytes::from(text),
                        Some(Ok(WsMessage::Binary(bytes))) => bytes,
                        Some(Ok(_)) => continue,
                        Some(Err(err)) => break read_failure(err),
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
        if ending == Ending::TOO_SLOW {
            metrics::counter!("chat_ws_slow_consumer_closes_total").increment(1);
        }
        // What the connection holds for others goes first: its rooms (and so its presence) and
        // its queue, whatever the socket does from here on.
        let rooms: Vec<RoomId> = session.joined.keys().copied().collect();
        for room in rooms {
            session.stop_following(room).await;
        }
        drop(inbox);
        // In-flight sends finish: their senders learn the outcome before the socket closes, if
        // the socket takes the replies in time. A client that reads nothing gets its socket
        // dropped once the time is up.
        let mut writable = ending != Ending::Gone;
        let closing_writes = tokio::time::Instant::now() + WRITE_DEADLINE;
        while let Some(reply) = sends.next().await {
            if writable {
                writable = tokio::time::timeout_at(closing_writes, session.write_unguarded(reply))
                    .await
                    .is_ok_and(|written| written.is_ok());
            }
        }
        if let (true, Ending::Close(code, reason)) = (writable, &ending) {
            let close = WsMessage::Close(Some(CloseFrame { code: *code, reason: (*reason).into() }));
            let sent = tokio::time::timeout_at(closing_writes, session.sink.send(close)).await;
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
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, session.sink.close()).await;
        }
        metrics::gauge!("chat_ws_connections").decrement(1.0);
    }
}

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed, or the socket failed: there is nobody to tell.
    Gone,
    /// The server closes with this code and reason.
    Close(u16, &'static str),
}

impl Ending {
    const TOO_SLOW: Ending = Ending::Close(close::TOO_SLOW, "too slow; reconnect and join with since");
}

/// Why a frame could not be written.
#[derive(Debug)]
enum WriteError {
    /// The socket failed or is closed.
    Closed,
    /// The peer does not read: the write waited past its deadline, or the connection's queue
    /// overflowed while it waited. What was not written stays buffered, in order, ahead of
    /// anything written later.
    Stuck,
}

impl From<WriteError> for Ending {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Closed => Ending::Gone,
            WriteError::Stuck => Ending::TOO_SLOW,
        }
    }
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

/// The close for a socket that failed to read: the RFC 6455 code of a protocol violation, an
/// invalid text frame or an oversized one; nothing when the connection itself broke.
fn read_failure(err: axum::Error) -> Ending {
    let Ok(err) = err.into_inner().downcast::<tungstenite::Error>() else { return Ending::Gone };
    match *err {
        tungstenite::Error::Capacity(_) => Ending::Close(close::TOO_BIG, "frame too large"),
        tungstenite::Error::Utf8(_) => Ending::Close(close::INVALID_PAYLOAD, "a text frame must be UTF-8"),
        tungstenite::Error::Protocol(_) => Ending::Close(close::PROTOCOL, "WebSocket protocol violated"),
        _ => Ending::Gone,
    }
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

/// The result of a send: the stored message.
#[derive(serde::Serialize)]
struct Sent<'a> {
    message: &'a chat_shared::domain::Message,
}

/// Something ready to go out on the socket.
enum Ready {
    /// What the hub handed over: a live message or event.
    Outbound(Outbound),
    /// The reply to a finished send.
    Reply(Bytes),
}

struct Session {
    /// This socket's place among the node's and its user's, given back when the session ends.
    _admission: Admission,
    state: AppState,
    user: UserId,
    subscriber: Subscriber,
    sink: Sink,
    /// Rooms this connection follows, each with the highest seq it has been given.
    joined: HashMap<RoomId, Seq>,
    limiter: Option<DefaultDirectRateLimiter>,
    malformed: (Instant, u32),
    rate_strikes: u32,
    /// Per room, the completion of this connection's latest send: the next send to that room
    /// waits for it, so one sender's messages are stored in the order they were sent.
    last_send: HashMap<RoomId, oneshot::Receiver<()>>,
}

type SendFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Bytes> + Send>>;

impl Session {
    fn codec(&self) -> Codec {
        self.subscriber.codec
    }

    /// Writes a frame and flushes it.
    async fn write(&mut self, frame: Bytes) -> Result<(), WriteError> {
        match self.ws_message(frame) {
            Some(message) => {
                hot_metrics::FRAMES_OUT.increment(1);
                guarded(&self.subscriber.too_slow, self.sink.send(message)).await
            }
            None => Ok(()),
        }
    }

    /// Pings the client, which answers with a pong.
    async fn ping(&mut self) -> Result<(), WriteError> {
        guarded(&self.subscriber.too_slow, self.sink.send(WsMessage::Ping(Bytes::new()))).await
    }

    /// Writes a frame and flushes it, with no deadline of its own: for a closing connection,
    /// whose writes share one.
    async fn write_unguarded(&mut self, frame: Bytes) -> Result<(), axum::Error> {
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
    async fn write_ready(
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
        let mut missed = match self.state.messages.replay(room, mark).await {
            Ok(replay) => replay.messages,
            Err(_) => Vec::new(),
        };
        missed.retain(|m| m.seq <= previous);
        if missed.last().map(|m| m.seq) != Some(previous) {
            tracing::warn!(%room, mark, previous, "a connection missed messages the log cannot supply yet");
            metrics::counter!("chat_fanout_gap_fill_failures_total").increment(1);
            // Nothing more of the room may reach the client before the close.
            self.joined.insert(room, Seq::MAX);
            self.subscriber.too_slow.cancel();
            return Ok(None);
        }
        // The replay holds only seqs above `mark`, ascending: each is news to the connection.
        let mut fed = 0;
        for message in &missed {
            fed += self.feed(encode_message_frame(self.codec(), message)).await?;
        }
        self.joined.insert(room, previous);
        Ok(Some(fed))
    }

    fn ws_message(&self, frame: Bytes) -> Option<WsMessage> {
        super::ws_message(self.codec(), frame)
    }

    async fn handle(
        &mut self,
        frame: ClientFrame,
        sends: &mut FuturesUnordered<SendFuture>,
        expiry: &mut std::pin::Pin<Box<tokio::time::Sleep>>,
    ) -> Result<(), Ending> {
        let id = frame.id;
        hot_metrics::command(&frame.command).increment(1);
        // Set when the connection ends after this frame's answer.
        let mut ending = None;
        let result: Result<Value, ApiError> = match frame.command {
            Command::Send(send) => {
                if !self.allow_send() {
                    self.rate_strikes += 1;
                    metrics::counter!("chat_ws_rate_limited_total").increment(1);
                    if self.rate_strikes >= RATE_STRIKES_LIMIT {
                        ending = Some(Ending::Close(close::RATE_LIMITED, "sending too fast"));
                    }
                    Err(ApiError::RateLimited)
                } else {
                    self.rate_strikes = 0;
                    if sends.len() >= self.state.ws.max_sends_in_flight
                        && let Some(reply) = sends.next().await
                    {
                        self.write(reply).await?;
                    }
                    sends.push(self.send(id, send));
                    return Ok(());
                }
            }
            Command::Ping => {
                if let Some(id) = id {
                    self.write(reply_ok(self.codec(), id, json!({}))).await?;
                }
                self.write(encode(self.codec(), &ServerFrame::Pong)).await?;
                return Ok(());
            }
            Command::Auth { token } => match super::authenticate(&self.state, &token).await {
                Ok((user, expires_at)) if user == self.user => {
                    expiry.as_mut().reset(tokio::time::Instant::now() + until(expires_at, &self.state));
                    Ok(json!({}))
                }
                Ok(_) => {
                    ending = Some(Ending::Close(close::UNAUTHORIZED, "the token is another user's"));
                    Err(ApiError::Unauthorized("the token is another user's"))
                }
                // The session's current token still holds until it expires: the client may try
                // the renewal again.
                Err(AuthRefusal::Unavailable) => {
                    Err(ApiError::Unavailable("a backing service is unavailable; retry later".into()))
                }
                Err(AuthRefusal::Internal) => Err(ApiError::Internal),
                Err(AuthRefusal::Invalid) => {
                    ending = Some(Ending::Close(close::UNAUTHORIZED, "invalid or expired token"));
                    Err(ApiError::Unauthorized("invalid or expired token"))
                }
            },
            // The commands that wait on the stores are boxed: their futures are far larger than
            // the rest of the session, and every connection's task would carry that room for
            // its whole life.
            Command::Join { room, since } => Box::pin(self.join(room, since)).await,
            Command::Leave { room } => {
                Box::pin(self.stop_following(room)).await;
                Ok(json!({}))
            }
            Command::History { room, before, after, limit } => {
                let query = PageQuery { before, after, limit: limit.map_or(DEFAULT_PAGE, |l| l as usize) };
                Box::pin(self.history(room, query)).await
            }
            Command::Read { room, seq } => Box::pin(self.state.messages.mark_read(self.user, room, seq))
                .await
                .map(|_| json!({}))
                .map_err(ApiError::from),
            Command::Typing { room } => Box::pin(self.typing(room)).await,
        };
        let frame = match (id, result) {
            (Some(id), Ok(value)) => Some(reply_ok(self.codec(), id, value)),
            (Some(id), Err(err)) => Some(reply_err(self.codec(), id, &err)),
            (None, Ok(_)) => None,
            (None, Err(err)) => Some(error_frame(self.codec(), &err)),
        };
        if let Some(frame) = frame {
            self.write(frame).await?;
        }
        ending.map_or(Ok(()), Err)
    }

    /// Ends this connection's interest in a room, if it had any.
    async fn stop_following(&mut self, room: RoomId) {
        if self.joined.remove(&room).is_some() {
            self.state.hub.unsubscribe(room, self.subscriber.id).await;
            self.state.presence.left(room, self.user).await;
            metrics::gauge!("chat_ws_joined_rooms").decrement(1.0);
        }
    }

    /// A page of a room's messages: for a joined room from the log, else after a membership check.
    async fn history(&self, room: RoomId, query: PageQuery) -> Result<Value, ApiError> {
        let page = if self.joined.contains_key(&room) {
            self.state.messages.page(room, query).await
        } else {
            self.state.messages.history(self.user, room, query).await
        };
        page.map(|p| json!({ "messages": p.messages, "has_more": p.has_more })).map_err(ApiError::from)
    }

    async fn typing(&mut self, room: RoomId) -> Result<Value, ApiError> {
        if !self.joined.contains_key(&room) {
            self.state.rooms.membership(self.user, room).await?;
        }
        if !self.state.presence.typing(room, self.user).await {
            metrics::counter!("chat_typing_throttled_total").increment(1);
        }
        Ok(json!({}))
    }

    /// Subscribes first and reads afterwards, so nothing stored in between is missed; what
    /// both deliver is dropped by seq.
    async fn join(&mut self, room: RoomId, since: Option<Seq>) -> Result<Value, ApiError> {
        let room_info = self.state.rooms.join(self.user, room).await?;
        let newly = !self.joined.contains_key(&room);
        if newly {
            self.state.hub.subscribe(room, self.subscriber.clone()).await?;
            self.joined.insert(room, Seq::MAX);
        }
        let read = match since {
            Some(since) => self.state.messages.replay(room, since).await.map(|r| (r.messages, r.recovered)),
            None => {
                let query = PageQuery { before: None, after: None, limit: DEFAULT_PAGE };
                self.state.messages.page(room, query).await.map(|p| (p.messages, true))
            }
        };
        let (messages, recovered) = match read {
            Ok(read) => read,
            Err(err) => {
                if newly {
                    self.joined.remove(&room);
                    self.state.hub.unsubscribe(room, self.subscriber.id).await;
                }
                return Err(err.into());
            }
        };
        let newest = messages.last().map(|m| m.seq).unwrap_or(0).max(since.unwrap_or(0));
        // Until now live messages were held back (mark at MAX); from here on only those after
        // the replay pass.
        self.joined.insert(room, newest);
        let online = if newly {
            metrics::gauge!("chat_ws_joined_rooms").increment(1.0);
            self.state.presence.joined(room, self.user).await
        } else {
            self.state.presence.online(room).await
        };
        Ok(json!({
            "room": room_info,
            "online": online.online,
            "online_count": online.count,
            "presence": online.presence,
            "messages": messages,
            "recovered": recovered,
        }))
    }

    fn send(&mut self, id: Option<u64>, send: SendCommand) -> SendFuture {
        let state = self.state.clone();
        let codec = self.codec();
        let user = self.user;
        // Finished sends need no waiting for: forget them, so the map holds busy rooms only.
        self.last_send.retain(|_, done| matches!(done.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
        let (done, next_waits_for) = oneshot::channel::<()>();
        let previous = self.last_send.insert(send.room, next_waits_for);
        Box::pin(async move {
            if let Some(previous) = previous {
                // Resolves when the previous send ends, whatever its outcome.
                let _ = previous.await;
            }
            let request = NewMessage {
                room: send.room,
                content: send.content,
                kind: send.kind,
                metadata: send.metadata,
                client_msg_id: send.client_msg_id,
                first_attempt: send.first_attempt,
            };
            let result = state.messages.send(user, request).await.map_err(ApiError::from);
            drop(done);
            match (id, result) {
                (Some(id), Ok((message, _))) => encode_reply(codec, id, &Sent { message: &message }),
                (Some(id), Err(err)) => reply_err(codec, id, &err),
                (None, Ok(_)) => Bytes::new(),
                (None, Err(err)) => error_frame(codec, &err),
            }
        })
    }

    fn allow_send(&self) -> bool {
        self.limiter.as_ref().is_none_or(|l| l.check().is_ok())
    }

    /// Answers a frame that could not be parsed; too many in a short time end the connection.
    async fn malformed(&mut self, err: FrameError) -> Result<(), Ending> {
        metrics::counter!("chat_ws_malformed_frames_total").increment(1);
        let (since, count) = &mut self.malformed;
        if since.elapsed() > MALFORMED_WINDOW {
            *since = Instant::now();
            *count = 0;
        }
        *count += 1;
        if *count > MALFORMED_LIMIT {
            return Err(Ending::Close(close::POLICY, "too many malformed frames"));
        }
        self.refuse(err).await
    }

    /// Answers a refused frame: a failed reply to its id, or an `error` frame without one.
    async fn refuse(&mut self, err: FrameError) -> Result<(), Ending> {
        let frame = encode(self.codec(), &err.into_frame());
        Ok(self.write(frame).await?)
    }
}

fn until(expires_at: chrono::DateTime<chrono::Utc>, state: &AppState) -> Duration {
    (expires_at - state.clock.now()).to_std().unwrap_or(Duration::ZERO)
}

fn reply_ok(codec: Codec, id: u64, result: Value) -> Bytes {
    encode_reply(codec, id, &result)
}

fn error_body(err: &ApiError) -> ErrorBody {
    let fields = match err {
        ApiError::InvalidInput { fields, .. } => fields.clone(),
        _ => FieldErrors::default(),
    };
    ErrorBody { code: err.code(), message: err.message(), fields }
}

fn reply_err(codec: Codec, id: u64, err: &ApiError) -> Bytes {
    encode(codec, &ServerFrame::reply_err(id, error_body(err)))
}

fn error_frame(codec: Codec, err: &ApiError) -> Bytes {
    encode(codec, &ServerFrame::Error { error: error_body(err) })
}
