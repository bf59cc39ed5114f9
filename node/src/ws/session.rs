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
use super::{close, hot_metrics};
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
}

/// Malformed frames tolerated per window before the connection is closed with 1008.
const MALFORMED_LIMIT: u32 = 10;
const MALFORMED_WINDOW: Duration = Duration::from_secs(10);
/// Sends refused by the rate limit, in a row, before the connection is closed with 4008.
const RATE_STRIKES_LIMIT: u32 = 100;

/// How long a closing connection waits for the client to confirm the close.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

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
) -> impl Future<Output = ()> + Send + 'static {
    let (sink, mut stream) = socket.split();
    let (queue, mut inbox) = mpsc::channel(state.ws.outbound_queue.max(1));
    let too_slow = CancellationToken::new();
    let id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let mut expiry = Box::pin(tokio::time::sleep(until(expires_at, &state)));
    let mut session = Session {
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
        let ending: Option<(u16, &'static str)> = loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break Some((close::SERVICE_RESTART, "server restarting")),
                () = &mut too_slow => {
                    metrics::counter!("chat_ws_slow_consumer_closes_total").increment(1);
                    break Some((close::TOO_SLOW, "too slow; reconnect and join with since"));
                }
                () = &mut expiry => break Some((close::UNAUTHORIZED, "token expired")),
                Some(reply) = sends.next(), if !sends.is_empty() => {
                    if session.write_ready(Ready::Reply(reply), &mut sends, &mut inbox).await.is_err() {
                        break None;
                    }
                }
                Some(outbound) = inbox.recv() => {
                    if session.write_ready(Ready::Outbound(outbound), &mut sends, &mut inbox).await.is_err() {
                        break None;
                    }
                }
                incoming = stream.next() => {
                    let bytes = match incoming {
                        None | Some(Ok(WsMessage::Close(_))) => break None,
                        Some(Ok(WsMessage::Text(text))) => Bytes::from(text),
                        Some(Ok(WsMessage::Binary(bytes))) => bytes,
                        Some(Ok(_)) => continue,
                        Some(Err(err)) => break too_big(&err).then_some((close::TOO_BIG, "frame too large")),
                    };
                    hot_metrics::FRAMES_IN.increment(1);
                    match decode_client_frame(codec, &bytes) {
                        Ok(frame) => match session.handle(frame, &mut sends, &mut expiry).await {
                            Ok(()) => {}
                            Err(Ending(code, reason)) => break Some((code, reason)),
                        },
                        Err(err) => {
                            if let Some(ending) = session.malformed(err).await { break Some(ending); }
                        }
                    }
                }
            }
        };
        // In-flight sends finish: their senders learn the outcome before the socket closes.
        while let Some(reply) = sends.next().await {
            let _ = session.write(reply).await;
        }
        let rooms: Vec<RoomId> = session.joined.keys().copied().collect();
        for room in rooms {
            session.stop_following(room).await;
        }
        if let Some((code, reason)) = ending {
            let _ =
                session.sink.send(WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
            // Complete the closing handshake: reading until the client's close means the socket
            // is not torn down with unread input, which would reset it and lose the close code.
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                while let Some(Ok(frame)) = stream.next().await {
                    if matches!(frame, WsMessage::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        let _ = session.sink.close().await;
        metrics::gauge!("chat_ws_connections").decrement(1.0);
    }
}

struct Ending(u16, &'static str);

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
    async fn write(&mut self, frame: Bytes) -> Result<(), axum::Error> {
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
    ) -> Result<(), axum::Error> {
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
        self.sink.flush().await
    }

    /// Queues a frame for the socket without flushing; how many frames that was (0 or 1).
    async fn feed(&mut self, frame: Bytes) -> Result<u64, axum::Error> {
        match self.ws_message(frame) {
            Some(message) => self.sink.feed(message).await.map(|()| 1),
            None => Ok(0),
        }
    }

    /// Queues what the hub handed over for the socket without flushing; how many frames that
    /// was (0 or 1).
    async fn feed_outbound(&mut self, outbound: Outbound) -> Result<u64, axum::Error> {
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
                self.sink.feed(message.frame.clone()).await?;
                return Ok(fed + 1);
            }
            Outbound::Event(frame) => Bytes::clone(&frame),
            Outbound::Removed(room) => {
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
    async fn catch_up(&mut self, room: RoomId, mark: Seq, previous: Seq) -> Result<Option<u64>, axum::Error> {
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
        let result: Result<Value, ApiError> = match frame.command {
            Command::Send(send) => {
                if !self.allow_send() {
                    self.rate_strikes += 1;
                    metrics::counter!("chat_ws_rate_limited_total").increment(1);
                    if self.rate_strikes >= RATE_STRIKES_LIMIT {
                        return Err(Ending(close::RATE_LIMITED, "sending too fast"));
                    }
                    Err(ApiError::RateLimited)
                } else {
                    self.rate_strikes = 0;
                    if sends.len() >= self.state.ws.max_sends_in_flight
                        && let Some(reply) = sends.next().await
                    {
                        let _ = self.write(reply).await;
                    }
                    sends.push(self.send(id, send));
                    return Ok(());
                }
            }
            Command::Ping => {
                if let Some(id) = id {
                    let _ = self.write(reply_ok(self.codec(), id, json!({}))).await;
                }
                let _ = self.write(encode(self.codec(), &ServerFrame::Pong)).await;
                return Ok(());
            }
            Command::Auth { token } => match super::authenticate(&self.state, &token).await {
                Some((user, expires_at)) if user == self.user => {
                    expiry.as_mut().reset(tokio::time::Instant::now() + until(expires_at, &self.state));
                    Ok(json!({}))
                }
                _ => return Err(Ending(close::UNAUTHORIZED, "invalid or expired token")),
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
            Command::Read { room, seq } => Box::pin(self.state.rooms.mark_read(self.user, room, seq))
                .await
                .map(|_| json!({}))
                .map_err(ApiError::from),
            Command::Typing { room } => Box::pin(self.typing(room)).await,
        };
        let frame = match (id, result) {
            (Some(id), Ok(value)) => reply_ok(self.codec(), id, value),
            (Some(id), Err(err)) => reply_err(self.codec(), id, &err),
            (None, Ok(_)) => return Ok(()),
            (None, Err(err)) => error_frame(self.codec(), &err),
        };
        let _ = self.write(frame).await;
        Ok(())
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
            "messages": messages,
            "recovered": recovered,
        }))
    }

    fn send(&mut self, id: Option<u64>, send: SendCommand) -> SendFuture {
        let state = self.state.clone();
        let codec = self.codec();
        let user = self.user;
        let joined = self.joined.contains_key(&send.room);
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
            let result = state.messages.send(user, request, joined).await.map_err(ApiError::from);
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
    async fn malformed(&mut self, err: FrameError) -> Option<(u16, &'static str)> {
        metrics::counter!("chat_ws_malformed_frames_total").increment(1);
        let (since, count) = &mut self.malformed;
        if since.elapsed() > MALFORMED_WINDOW {
            *since = Instant::now();
            *count = 0;
        }
        *count += 1;
        if *count > MALFORMED_LIMIT {
            return Some((close::POLICY, "too many malformed frames"));
        }
        let frame = encode(self.codec(), &err.into_frame());
        let _ = self.write(frame).await;
        None
    }
}

fn until(expires_at: chrono::DateTime<chrono::Utc>, state: &AppState) -> Duration {
    (expires_at - state.clock.now()).to_std().unwrap_or(Duration::ZERO)
}

/// tungstenite reports a frame or message over the limit as a capacity error.
fn too_big(err: &axum::Error) -> bool {
    let text = err.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
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
