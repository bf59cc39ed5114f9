//! The session over in-memory channels instead of a socket, on an embedded node's state: every
//! close code and limit, checked frame by frame.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::Message as WsMessage;
use chat_shared::domain::{LoginId, RoomId, UserId};
use chat_shared::ports::LoginEnded;
use futures::task::AtomicWaker;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::writer::WRITE_DEADLINE;
use super::{Connection, run};
use crate::app::testing::TestState;
use crate::connections::Connections;
use crate::ws::auth::Authenticated;
use crate::ws::close::Close;
use chat_shared::protocol::Codec;

/// A socket's sending half that takes every frame at once, but flushes (hands to the client)
/// only while it is not stalled: a client that stops reading, whose unread frames stay
/// buffered in order.
struct TestSink {
    buffered: Vec<WsMessage>,
    to_client: mpsc::UnboundedSender<WsMessage>,
    valve: Arc<Valve>,
}

/// Whether the client reads, and who waits for it to.
#[derive(Default)]
struct Valve {
    stalled: AtomicBool,
    waker: AtomicWaker,
}

impl Valve {
    fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
        self.waker.wake();
    }
}

impl futures::Sink<WsMessage> for TestSink {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, item: WsMessage) -> Result<(), axum::Error> {
        self.buffered.push(item);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.valve.waker.register(cx.waker());
        if self.valve.stalled.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        for message in std::mem::take(&mut self.buffered) {
            // A client that hung up takes nothing more; the session finds out by reading.
            let _ = self.to_client.send(message);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.poll_flush(cx)
    }
}

/// One session as its client sees it.
struct Client {
    to_server: mpsc::UnboundedSender<Result<WsMessage, axum::Error>>,
    from_server: mpsc::UnboundedReceiver<WsMessage>,
    valve: Arc<Valve>,
    session: JoinHandle<()>,
}

impl Client {
    fn connect(node: &TestState, user: UserId) -> Self {
        Self::connect_until(node, user, node.state.clock.now() + chrono::Duration::hours(24))
    }

    /// A session whose token expires at `expires_at`.
    fn connect_until(node: &TestState, user: UserId, expires_at: chrono::DateTime<chrono::Utc>) -> Self {
        Self::connect_as(node, Authenticated { user, login: None, expires_at })
    }

    /// A session of the user and login a token names.
    fn connect_with(node: &TestState, token: &str) -> Self {
        let claims = node.state.issuer.verify(token, node.state.clock.now()).expect("a valid token");
        let authenticated =
            Authenticated { user: claims.user_id, login: claims.login, expires_at: claims.expires_at };
        Self::connect_as(node, authenticated)
    }

    fn connect_as(node: &TestState, authenticated: Authenticated) -> Self {
        let (to_server, incoming) = mpsc::unbounded_channel();
        let (to_client, from_server) = mpsc::unbounded_channel();
        let valve = Arc::new(Valve::default());
        let sink = TestSink { buffered: Vec::new(), to_client, valve: valve.clone() };
        let stream = futures::stream::poll_fn({
            let mut incoming = incoming;
            move |cx| incoming.poll_recv(cx)
        });
        let admission = Arc::new(Connections::new(0, 0)).admit().expect("no cap");
        let connection = Connection { codec: Codec::Json, authenticated, admission };
        let session = tokio::spawn(run(node.state.clone(), sink, stream, connection));
        Self { to_server, from_server, valve, session }
    }

    fn send(&self, frame: Value) {
        self.to_server.send(Ok(WsMessage::Text(frame.to_string().into()))).expect("the session reads");
    }

    fn send_raw(&self, message: Result<WsMessage, axum::Error>) {
        self.to_server.send(message).expect("the session reads");
    }

    /// The next frame from the server: JSON, or the close as `{"close": code}`.
    async fn next(&mut self) -> Value {
        let message = tokio::time::timeout(Duration::from_secs(30), self.from_server.recv())
            .await
            .expect("a frame within 30 s")
            .expect("the session is still writing");
        match message {
            WsMessage::Text(text) => serde_json::from_str(&text).expect("frames are JSON"),
            WsMessage::Close(Some(close)) => json!({ "close": close.code, "reason": close.reason.as_str() }),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The contents of the next `count` messages of `room`.
    async fn collect(&mut self, room: &RoomId, count: usize) -> Vec<String> {
        let mut contents = Vec::new();
        while contents.len() < count {
            let frame = self.next().await;
            if frame["type"] == "message" && frame["message"]["room_id"] == json!(room) {
                contents.push(frame["message"]["content"].as_str().unwrap().to_owned());
            }
        }
        contents
    }

    /// Frames until the close, which must come.
    async fn until_close(&mut self) -> (Vec<Value>, Value) {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            if frame.get("close").is_some() {
                return (frames, frame);
            }
            frames.push(frame);
        }
    }

    /// Answers the server's close, as a client does, and waits for the session to end.
    async fn finish(self) {
        let _ = self.to_server.send(Ok(WsMessage::Close(None)));
        tokio::time::timeout(Duration::from_secs(30), self.session)
            .await
            .expect("the session ends")
            .expect("the session does not panic");
    }
}

fn send_frame(id: u64, room: RoomId, content: &str) -> Value {
    json!({ "type": "send", "id": id, "room": room, "content": content })
}

/// Stores a message as a send from elsewhere would (another connection, REST).
async fn store(node: &TestState, sender: UserId, room: RoomId, content: &str) {
    let request = chat_shared::usecases::NewMessage {
        room,
        content: chat_shared::domain::Content::parse(content).unwrap(),
        kind: chat_shared::domain::MessageKind::text(),
        metadata: chat_shared::domain::Metadata::default(),
        client_msg_id: None,
        first_attempt: false,
        reply_to: None,
    };
    node.state.messages.send(sender, request).await.unwrap();
}

fn reply_code(frame: &Value) -> Option<&str> {
    frame["error"]["code"].as_str()
}

async fn alice_in_a_room(args: &[&str]) -> (TestState, UserId, RoomId) {
    let node = TestState::new(args).await;
    let alice = node.user("alice").await;
    let room = node.room(alice, &[]).await;
    (node, alice, room)
}

/// A node and a user, set up in real time (the database pool's timeouts would fire at once in
/// paused time); from then on time stands still but for the test's sleeps. No pings: the test
/// decides what the client hears.
async fn alice_in_paused_time() -> (TestState, UserId) {
    let node = TestState::new(&["--ws-ping-interval", "0"]).await;
    let alice = node.user("alice").await;
    tokio::time::pause();
    (node, alice)
}

#[tokio::test]
async fn sends_within_the_burst_are_stored_and_the_rest_refused_as_rate_limited() {
    let (node, alice, room) = alice_in_a_room(&["--send-rate", "1", "--send-burst", "3"]).await;
    let mut client = Client::connect(&node, alice);
    for id in 1..=5 {
        client.send(send_frame(id, room, "hi"));
    }
    let mut replies = Vec::new();
    for _ in 1..=5 {
        replies.push(client.next().await);
    }
    replies.sort_by_key(|r| r["id"].as_u64());
    let outcomes: Vec<Option<&str>> = replies.iter().map(reply_code).collect();
    assert_eq!(outcomes, [None, None, None, Some("rate_limited"), Some("rate_limited")], "{replies:?}");
    assert!(replies[..3].iter().all(|r| r["ok"] == true && r["message"]["content"] == "hi"));
    client.finish().await;
}

#[tokio::test]
async fn a_sustained_flood_is_answered_to_the_end_then_closed_with_4008() {
    let (node, alice, room) = alice_in_a_room(&["--send-rate", "1", "--send-burst", "1"]).await;
    let mut client = Client::connect(&node, alice);
    // One allowed, then a hundred refused in a row.
    for id in 1..=101 {
        client.send(send_frame(id, room, "flood"));
    }
    let (frames, close) = client.until_close().await;
    assert_eq!(close["close"], Close::RateLimited.code());
    let mut ids: Vec<u64> = frames.iter().filter_map(|f| f["id"].as_u64()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=101).collect::<Vec<_>>(), "every send is answered, the last included");
    assert_eq!(frames.iter().filter(|f| reply_code(f) == Some("rate_limited")).count(), 100);
    client.finish().await;
}

#[tokio::test]
async fn refused_sends_that_stop_short_of_the_strike_limit_keep_the_connection() {
    let (node, alice, room) = alice_in_a_room(&["--send-rate", "1", "--send-burst", "1"]).await;
    let mut client = Client::connect(&node, alice);
    for id in 1..=100 {
        client.send(send_frame(id, room, "almost a flood"));
    }
    client.send(json!({ "type": "ping", "id": 101 }));
    let mut seen = Vec::new();
    while seen.len() < 101 {
        let frame = client.next().await;
        assert!(frame.get("close").is_none(), "closed after 99 strikes: {frame}");
        if let Some(id) = frame["id"].as_u64() {
            seen.push(id);
        }
    }
    assert!(seen.contains(&101));
    client.finish().await;
}

#[tokio::test]
async fn a_burst_of_malformed_frames_gets_ten_errors_then_1008() {
    let (node, alice, _) = alice_in_a_room(&[]).await;
    let mut client = Client::connect(&node, alice);
    for _ in 0..11 {
        client.send_raw(Ok(WsMessage::Text("{not json".into())));
    }
    let (frames, close) = client.until_close().await;
    assert_eq!(frames.len(), 10, "{frames:?}");
    assert!(frames.iter().all(|f| f["type"] == "error"));
    assert_eq!(close["close"], Close::MalformedFlood.code());
    client.finish().await;
}

#[tokio::test]
async fn malformed_frames_spread_over_windows_keep_the_connection() {
    let (node, alice) = alice_in_paused_time().await;
    let mut client = Client::connect(&node, alice);
    for _ in 0..3 {
        for _ in 0..10 {
            client.send_raw(Ok(WsMessage::Text("[]".into())));
        }
        for _ in 0..10 {
            assert_eq!(client.next().await["type"], "error");
        }
        tokio::time::sleep(Duration::from_secs(11)).await;
    }
    client.send(json!({ "type": "ping", "id": 1 }));
    assert_eq!(client.next().await["id"], 1);
    client.finish().await;
}

#[tokio::test]
async fn read_failures_close_with_their_rfc_6455_codes() {
    use tungstenite::error::{CapacityError, ProtocolError};
    let cases = [
        (
            tungstenite::Error::Capacity(CapacityError::MessageTooLong { size: 70_000, max_size: 65_536 }),
            Close::TooBig,
        ),
        (tungstenite::Error::Utf8("invalid".into()), Close::InvalidUtf8),
        (tungstenite::Error::Protocol(ProtocolError::UnmaskedFrameFromClient), Close::ProtocolViolated),
    ];
    let (node, alice, _) = alice_in_a_room(&[]).await;
    for (error, expected) in cases {
        let mut client = Client::connect(&node, alice);
        client.send_raw(Err(axum::Error::new(error)));
        let (frames, close) = client.until_close().await;
        assert!(frames.is_empty(), "{frames:?}");
        assert_eq!(close["close"], expected.code());
        assert_eq!(close["reason"], expected.reason());
        client.finish().await;
    }
}

#[tokio::test]
async fn a_broken_connection_ends_the_session_without_a_close_frame() {
    let (node, alice, _) = alice_in_a_room(&[]).await;
    let mut client = Client::connect(&node, alice);
    client.send_raw(Err(axum::Error::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset))));
    let session = client.session;
    tokio::time::timeout(Duration::from_secs(30), session).await.unwrap().unwrap();
    assert!(client.from_server.recv().await.is_none(), "nothing is written to a broken connection");
}

#[tokio::test]
async fn a_reader_that_falls_behind_its_queue_is_closed_with_4002_after_what_it_was_owed() {
    let node = TestState::new(&["--outbound-queue", "4"]).await;
    let (alice, bob) = (node.user("alice").await, node.user("bob").await);
    let room = node.room(alice, &[bob]).await;
    let mut client = Client::connect(&node, bob);
    client.send(json!({ "type": "join", "id": 1, "room": room }));
    assert_eq!(client.next().await["ok"], true);
    client.valve.set_stalled(true);
    for i in 0..50 {
        store(&node, alice, room, &format!("m{i}")).await;
    }
    // Bob's room and presence are given up before his socket is.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while node.state.presence.online(room).await.online.contains(&bob) {
        assert!(tokio::time::Instant::now() < deadline, "bob stays online");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.valve.set_stalled(false);
    let (frames, close) = client.until_close().await;
    assert_eq!(close["close"], Close::TooSlow.code());
    let contents: Vec<&str> = frames.iter().filter_map(|f| f["message"]["content"].as_str()).collect();
    let expected: Vec<String> = (0..contents.len()).map(|i| format!("m{i}")).collect();
    assert_eq!(contents, expected, "what came before the close came in order, from the first");
    assert!(contents.len() < 50, "the close came before everything was delivered");
    client.finish().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_given_up_after_the_write_deadline() {
    let (node, alice) = alice_in_paused_time().await;
    let mut client = Client::connect(&node, alice);
    client.valve.set_stalled(true);
    client.send(json!({ "type": "ping", "id": 1 }));
    // The reply waits for the client past the deadline; the close then waits as long again.
    tokio::time::sleep(WRITE_DEADLINE + Duration::from_secs(1)).await;
    assert!(!client.session.is_finished());
    client.valve.set_stalled(false);
    let (frames, close) = client.until_close().await;
    assert_eq!(frames[0]["id"], 1, "the reply stays ahead of the close: {frames:?}");
    assert_eq!(close["close"], Close::TooSlow.code());
    client.finish().await;
}

#[tokio::test]
async fn a_client_that_never_reads_again_has_its_socket_dropped() {
    let (node, alice) = alice_in_paused_time().await;
    let mut client = Client::connect(&node, alice);
    client.valve.set_stalled(true);
    client.send(json!({ "type": "ping", "id": 1 }));
    tokio::time::timeout(2 * WRITE_DEADLINE + Duration::from_secs(5), &mut client.session)
        .await
        .expect("the session gives up")
        .unwrap();
    assert!(client.from_server.try_recv().is_err(), "nothing reached the client");
}

#[tokio::test]
async fn the_session_closes_with_4001_when_its_token_expires() {
    let (node, alice) = alice_in_paused_time().await;
    let expires_at = node.state.clock.now() + chrono::Duration::seconds(60);
    let mut client = Client::connect_until(&node, alice, expires_at);
    tokio::time::sleep(Duration::from_secs(59)).await;
    client.send(json!({ "type": "ping", "id": 1 }));
    assert_eq!(client.next().await["id"], 1, "still open before the expiry");
    let (_, close) = client.until_close().await;
    assert_eq!(close["close"], Close::TokenExpired.code());
    assert_eq!(close["reason"], Close::TokenExpired.reason());
    client.finish().await;
}

#[tokio::test]
async fn a_renewal_with_a_token_that_expired_meanwhile_is_answered_then_closed_with_4001() {
    let (node, alice) = alice_in_paused_time().await;
    let token = node.state.issuer.issue(alice, LoginId::generate(), node.state.clock.now()).token;
    let mut client = Client::connect(&node, alice);
    // Past the token's 15 minutes, on the one clock that the token check and the session's
    // timers both read.
    tokio::time::sleep(Duration::from_secs(16 * 60)).await;
    client.send(json!({ "type": "auth", "id": 2, "token": token }));
    let (frames, close) = client.until_close().await;
    assert_eq!(frames.len(), 1);
    assert_eq!(reply_code(&frames[0]), Some("unauthorized"));
    assert_eq!(close["close"], Close::InvalidToken.code());
    client.finish().await;
}

#[tokio::test]
async fn an_invalid_renewal_is_answered_then_closed_with_4001() {
    let (node, alice, _) = alice_in_a_room(&[]).await;
    let mut client = Client::connect(&node, alice);
    client.send(json!({ "type": "auth", "id": 7, "token": "not-a-token" }));
    let (frames, close) = client.until_close().await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["id"], 7);
    assert_eq!(reply_code(&frames[0]), Some("unauthorized"));
    assert_eq!(close["close"], Close::InvalidToken.code());
    client.finish().await;
}

/// A fresh login of alice's, as `POST /auth/login` makes one.
async fn login(node: &TestState) -> chat_shared::usecases::Session {
    node.state.auth.login("alice", "correct horse battery").await.expect("alice logs in")
}

/// Pings and expects the pong: the session is still open.
async fn assert_open(client: &mut Client) {
    client.send(json!({ "type": "ping" }));
    assert_eq!(client.next().await["type"], "pong");
}

#[tokio::test]
async fn a_session_closes_with_4001_when_its_login_ends_and_another_logins_stays() {
    let (node, _, _) = alice_in_a_room(&[]).await;
    let (laptop, phone) = (login(&node).await, login(&node).await);
    let mut ended = Client::connect_with(&node, &laptop.access.token);
    let mut other = Client::connect_with(&node, &phone.access.token);
    assert_open(&mut ended).await;

    node.state.auth.logout(&laptop.refresh).await.unwrap();

    let (_, close) = ended.until_close().await;
    assert_eq!(close["close"], 4001);
    assert_eq!(close["reason"], "login ended");
    assert_open(&mut other).await;
    ended.finish().await;
}

#[tokio::test]
async fn a_session_whose_login_ended_before_it_was_counted_closes_at_once() {
    let (node, alice, _) = alice_in_a_room(&[]).await;
    let laptop = login(&node).await;
    let claims = node.state.issuer.verify(&laptop.access.token, node.state.clock.now()).unwrap();
    // Heard of between the token's check and the start of the session.
    let ended = LoginEnded { login: claims.login.unwrap(), user: alice };
    node.state.revocations.revoke(ended).await;
    let mut client = Client::connect_with(&node, &laptop.access.token);
    let (_, close) = client.until_close().await;
    assert_eq!(close["reason"], Close::LoginEnded.reason());
    client.finish().await;
}

#[tokio::test]
async fn a_renewal_moves_the_session_to_the_login_of_its_new_token() {
    let (node, _, _) = alice_in_a_room(&[]).await;
    let (laptop, phone) = (login(&node).await, login(&node).await);
    let mut client = Client::connect_with(&node, &laptop.access.token);
    client.send(json!({ "type": "auth", "id": 1, "token": phone.access.token }));
    assert_eq!(client.next().await["ok"], true);

    node.state.auth.logout(&laptop.refresh).await.unwrap();
    assert_open(&mut client).await;
    node.state.auth.logout(&phone.refresh).await.unwrap();
    let (_, close) = client.until_close().await;
    assert_eq!(close["reason"], Close::LoginEnded.reason());
    client.finish().await;
}

#[tokio::test]
async fn a_renewal_with_a_token_of_an_ended_login_is_answered_then_closed_with_4001() {
    let (node, _, _) = alice_in_a_room(&[]).await;
    let (laptop, phone) = (login(&node).await, login(&node).await);
    let mut client = Client::connect_with(&node, &laptop.access.token);
    node.state.auth.logout(&phone.refresh).await.unwrap();
    client.send(json!({ "type": "auth", "id": 2, "token": phone.access.token }));
    let (frames, close) = client.until_close().await;
    assert_eq!(frames[0]["id"], 2);
    assert_eq!(reply_code(&frames[0]), Some("unauthorized"));
    assert_eq!(close["reason"], Close::LoginEnded.reason());
    client.finish().await;
}

#[tokio::test]
async fn a_drain_answers_the_sends_in_flight_before_closing_with_1012() {
    let (node, alice, room) = alice_in_a_room(&["--send-rate", "0", "--max-sends-in-flight", "16"]).await;
    let mut client = Client::connect(&node, alice);
    for id in 1..=40 {
        client.send(send_frame(id, room, "draining"));
    }
    // Let the session take some of them, then drain.
    tokio::task::yield_now().await;
    node.state.shutdown.cancel();
    let (frames, close) = client.until_close().await;
    assert_eq!(close["close"], Close::Restarting.code());
    let acknowledged: Vec<u64> =
        frames.iter().filter(|f| f["ok"] == true).filter_map(|f| f["id"].as_u64()).collect();
    assert!(frames.iter().all(|f| f["ok"] == true), "no send failed: {frames:?}");
    let stored = node.state.messages.history(
        alice,
        room,
        chat_shared::ports::PageQuery { before: None, after: None, limit: 100 },
    );
    let stored = stored.await.unwrap().messages.len();
    assert_eq!(acknowledged.len(), stored, "every stored send was acknowledged before the close");
    client.finish().await;
}

#[tokio::test]
async fn every_frame_with_an_id_gets_exactly_one_reply() {
    let (node, alice, room) = alice_in_a_room(&["--send-rate", "0"]).await;
    let stranger_room = {
        let carol = node.user("carol").await;
        node.room(carol, &[]).await
    };
    let mut client = Client::connect(&node, alice);
    let mut replies = std::collections::BTreeMap::new();
    // The read marker below needs the message stored.
    client.send(send_frame(3, room, "one"));
    let stored = client.next().await;
    replies.insert(3, stored);
    let frames = [
        json!({ "type": "ping", "id": 1 }),
        json!({ "type": "join", "id": 2, "room": room }),
        json!({ "type": "history", "id": 4, "room": room }),
        json!({ "type": "typing", "id": 5, "room": room }),
        json!({ "type": "read", "id": 6, "room": room, "seq": 1 }),
        json!({ "type": "join", "id": 7, "room": stranger_room }),
        json!({ "type": "send", "id": 8, "room": room, "content": "" }),
        json!({ "type": "unknown", "id": 9 }),
        json!({ "type": "leave", "id": 10, "room": room }),
        json!({ "type": "read", "id": 11, "room": room, "seq": 1_000_000 }),
    ];
    for frame in &frames {
        client.send(frame.clone());
    }
    while replies.len() < frames.len() + 1 {
        let frame = client.next().await;
        if let Some(id) = frame["id"].as_u64() {
            assert!(replies.insert(id, frame).is_none(), "a second reply to {id}");
        }
    }
    assert_eq!(replies.keys().copied().collect::<Vec<_>>(), (1..=11).collect::<Vec<_>>());
    for ok in [1, 2, 3, 4, 5, 6, 10] {
        assert_eq!(replies[&ok]["ok"], true, "{}", replies[&ok]);
    }
    assert_eq!(reply_code(&replies[&7]), Some("forbidden"), "{}", replies[&7]);
    assert_eq!(reply_code(&replies[&8]), Some("invalid_input"), "{}", replies[&8]);
    assert_eq!(reply_code(&replies[&9]), Some("invalid_input"), "{}", replies[&9]);
    assert_eq!(reply_code(&replies[&11]), Some("invalid_input"), "{}", replies[&11]);
    client.send(json!({ "type": "ping", "id": 12 }));
    assert_eq!(client.next().await["id"], 12, "still open");
    client.finish().await;
}

#[tokio::test]
async fn one_senders_messages_are_stored_in_the_order_sent() {
    let (node, alice, room) = alice_in_a_room(&["--send-rate", "0", "--max-sends-in-flight", "8"]).await;
    let mut client = Client::connect(&node, alice);
    for id in 1..=60 {
        client.send(send_frame(id, room, &format!("m{id}")));
    }
    let mut seq_of = std::collections::BTreeMap::new();
    while seq_of.len() < 60 {
        let frame = client.next().await;
        assert_eq!(frame["ok"], true, "{frame}");
        seq_of.insert(frame["id"].as_u64().unwrap(), frame["message"]["seq"].as_u64().unwrap());
    }
    let seqs: Vec<u64> = seq_of.values().copied().collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs in the order of the ids: {seqs:?}");
    client.finish().await;
}

#[tokio::test]
async fn one_clients_sends_edits_deletions_and_reactions_are_stored_in_the_order_sent() {
    let (node, alice, room) = alice_in_a_room(&["--send-rate", "0", "--max-sends-in-flight", "8"]).await;
    let mut client = Client::connect(&node, alice);
    let mut doomed = Vec::new();
    for id in 1..=13 {
        client.send(send_frame(id, room, "stored before"));
        doomed.push(client.next().await["message"]["id"].clone());
    }
    let first = doomed.remove(0);
    // Each round, sent without waiting for a reply: two sends (the second waits for the first),
    // an edit of the first message, a reaction added or taken back, and the deletion of another
    // message stored before.
    let mut kinds = std::collections::BTreeMap::new();
    let mut id = 13;
    for (round, doomed) in doomed.iter().enumerate() {
        let mut frame = |kinds: &mut std::collections::BTreeMap<u64, &str>, kind, frame: Value| {
            id += 1;
            kinds.insert(id, kind);
            let mut frame = frame;
            frame["id"] = json!(id);
            client.send(frame);
        };
        frame(&mut kinds, "send", send_frame(0, room, &format!("m{round}")));
        frame(&mut kinds, "send", send_frame(0, room, &format!("n{round}")));
        frame(
            &mut kinds,
            "edit",
            json!({ "type": "edit", "room": room, "message_id": first, "content": format!("e{round}") }),
        );
        let react = if round % 2 == 0 { "react" } else { "unreact" };
        frame(
            &mut kinds,
            "react",
            json!({ "type": react, "room": room, "message_id": first, "emoji": "👍" }),
        );
        frame(&mut kinds, "delete", json!({ "type": "delete", "room": room, "message_id": doomed }));
    }
    let mut entry_seq = std::collections::BTreeMap::new();
    while entry_seq.len() < kinds.len() {
        let reply = client.next().await;
        let Some(id) = reply["id"].as_u64() else { continue };
        let message = &reply["message"];
        let seq = match kinds[&id] {
            "send" => message["seq"].as_u64(),
            "edit" | "delete" => message["changed_seq"].as_u64(),
            _ => message["reactions_seq"].as_u64(),
        };
        entry_seq.insert(id, (kinds[&id], seq, reply.clone()));
    }
    let seqs: Vec<u64> = entry_seq.values().filter_map(|(_, seq, _)| *seq).collect();
    assert_eq!(seqs.len(), 60, "every entry stored: {entry_seq:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "entries stored in the order of the ids: {seqs:?}");
    let edits: Vec<&Value> =
        entry_seq.values().filter(|(k, ..)| *k == "edit").map(|(.., r)| &r["message"]["content"]).collect();
    assert_eq!(edits.last().copied(), Some(&json!("e11")));
    client.finish().await;
}

#[tokio::test]
async fn a_sustained_flood_of_reactions_is_closed_with_4008_like_sends() {
    let (node, alice, room) = alice_in_a_room(&["--send-rate", "1", "--send-burst", "1"]).await;
    let mut client = Client::connect(&node, alice);
    client.send(send_frame(1, room, "target"));
    let target = client.next().await["message"]["id"].clone();
    // The burst is spent: a second of refusals in a row, at most one let through, reaches the
    // strike limit.
    for id in 2..=120 {
        let kind = if id % 2 == 0 { "react" } else { "unreact" };
        client.send(json!({ "type": kind, "id": id, "room": room, "message_id": target, "emoji": "🙂" }));
    }
    let (frames, close) = client.until_close().await;
    assert_eq!(close["close"], Close::RateLimited.code());
    assert!(frames.iter().filter(|f| reply_code(f) == Some("rate_limited")).count() >= 100, "{frames:?}");
    client.finish().await;
}

/// A join with `since` replays at most `--max-replay` messages: the connection's mark stays
/// behind the room's newest, and the next live message names a previous one it was not given.
async fn joined_behind(max_replay: &str) -> (TestState, UserId, RoomId, Client) {
    let (node, alice, room) = alice_in_a_room(&["--max-replay", max_replay]).await;
    for i in 0..5 {
        store(&node, alice, room, &format!("m{i}")).await;
    }
    let mut client = Client::connect(&node, alice);
    client.send(json!({ "type": "join", "id": 1, "room": room, "since": 0 }));
    let joined = client.next().await;
    assert_eq!(joined["recovered"], false, "{joined}");
    store(&node, alice, room, "m5").await;
    (node, alice, room, client)
}

#[tokio::test]
async fn what_a_join_did_not_replay_is_caught_up_before_the_next_live_message() {
    let (_node, _, room, mut client) = joined_behind("3").await;
    let live = client.collect(&room, 3).await;
    assert_eq!(live, ["m3", "m4", "m5"]);
    client.finish().await;
}

#[tokio::test]
async fn a_gap_the_log_cannot_fill_closes_with_4002_to_resume() {
    let (_node, _, _, mut client) = joined_behind("1").await;
    let (frames, close) = client.until_close().await;
    assert!(frames.iter().all(|f| f["type"] != "message"), "nothing after the gap: {frames:?}");
    assert_eq!(close["close"], Close::TooSlow.code());
    client.finish().await;
}
