//! The edge around the message path, tried as a hostile client and through outages: a peer
//! that never reads, WebSocket protocol violations, invalid fields, removed members, tokens of
//! users who are gone, unbounded values.

use std::time::Duration;

use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, TestApp, TestNode};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const WAIT: Duration = Duration::from_secs(5);

/// The sum of a metric's series in the node's `/metrics`.
async fn metric(app: &TestApp, node: &TestNode, name: &str) -> f64 {
    let text = app.http.get(node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn eventually(what: &str, wait: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + wait;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {wait:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A WebSocket whose socket takes at most a few KiB before its reader must read.
async fn small_window_socket(
    node: &TestNode,
    account: &Account,
) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(node.addr).await.unwrap();
    let request = format!("ws://{}/ws?token={}", node.addr, account.access).into_client_request().unwrap();
    let (ws, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    ws
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_counted_and_offline_while_others_receive_everything() {
    let app = TestApp::spawn_with(&["--outbound-queue", "256", "--send-rate", "0"]).await.unwrap();
    let (ann, bob, cid) = (app.register("ann").await, app.register("bob").await, app.register("cid").await);
    let room = app.create_room(&ann, "group", &[&bob, &cid]).await;

    let mut stalled = small_window_socket(&app.node, &bob).await;
    stalled
        .send(WsMessage::Text(json!({"type": "join", "room": room, "id": 1}).to_string().into()))
        .await
        .unwrap();
    let joined = tokio::time::timeout(WAIT, stalled.next()).await.unwrap().unwrap().unwrap();
    assert!(joined.to_text().unwrap().contains("\"ok\":true"), "{joined:?}");
    // From here on bob's client reads nothing.

    let mut reader = app.ws(&app.node, &ann, Codec::Json).await;
    assert_eq!(reader.request(json!({"type": "join", "room": room})).await.unwrap()["ok"], true);
    const SENT: usize = 3500;
    let reading = tokio::spawn({
        let room = room.clone();
        async move { reader.collect_messages(&room, SENT, Duration::from_secs(20)).await }
    });

    // About 10 MB: more than the kernel buffers toward bob's socket and his queue hold.
    let mut sender = app.ws(&app.node, &cid, Codec::Json).await;
    let content = "x".repeat(3000);
    for n in 0..SENT {
        let reply = sender.request(
            json!({"type": "send", "room": room, "content": content, "client_msg_id": format!("m{n}")}),
        );
        assert_eq!(reply.await.unwrap()["ok"], true);
    }

    // Given up on: bob's presence ends while his client still reads nothing.
    eventually("bob going offline", Duration::from_secs(30), async || {
        !app.is_online(&room, &ann, &bob).await
    })
    .await;
    // Metrics are the process's, shared by the tests running beside this one: at least this
    // close is counted.
    assert!(metric(&app, &app.node, "chat_ws_slow_consumer_closes_total").await >= 1.0);
    // Reading now, bob's client finds the end of the connection (a 4002 after what was on its
    // way, or the connection dropped) instead of a live socket.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stalled.next().await {
                Some(Ok(WsMessage::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break None,
            }
        }
    });
    let code = ended.await.expect("the node ended bob's connection");
    assert!(matches!(code, Some(4002) | None), "closed with {code:?}");

    let received = reading.await.unwrap();
    assert_eq!(received.len(), SENT, "the reading member missed messages");
    let seqs: Vec<u64> = received.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "out of order");
}

#[tokio::test]
async fn a_well_formed_frame_with_a_bad_field_is_answered_and_not_counted_as_malformed() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    for _ in 0..15 {
        let reply =
            client.request(json!({"type": "send", "room": room, "content": "x".repeat(4001)})).await.unwrap();
        assert_eq!(reply["error"]["code"], "invalid_input", "{reply}");
        assert!(reply["error"]["fields"]["content"].is_string(), "{reply}");
    }
    assert_eq!(client.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    assert!(client.closed.is_none());
}

#[tokio::test]
async fn the_send_that_ends_a_flood_gets_its_reply_before_the_close() {
    let app = TestApp::spawn_with(&["--send-rate", "1", "--send-burst", "1"]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    for id in 1..=150u64 {
        let frame = json!({"type": "send", "room": room, "content": format!("m{id}"), "id": id});
        if client.send_value(&frame).await.is_err() {
            break;
        }
    }
    let mut replied = Vec::new();
    while let Some(frame) = client.next_frame(WAIT).await {
        if frame["type"] == "reply" {
            replied.push(frame["id"].as_u64().unwrap());
        }
    }
    assert_eq!(client.closed, Some(4008));
    // One accepted, then a hundred refusals in a row: the hundredth closes, after its reply.
    replied.sort_unstable();
    assert_eq!(replied, (1..=101).collect::<Vec<u64>>());
}

/// A socket that has done the WebSocket handshake by hand, to send what no client library
/// would.
async fn raw_websocket(node: &TestNode, account: &Account) -> TcpStream {
    let mut stream = TcpStream::connect(node.addr).await.unwrap();
    let request = format!(
        "GET /ws?token={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        account.access, node.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    stream
}

/// One frame as given: `first` is the first byte (FIN, RSV bits, opcode).
fn raw_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut frame = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => frame.push(mask_bit | len as u8),
        len => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    let key = [0x11, 0x22, 0x33, 0x44];
    if masked {
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

/// The code of the server's close frame, skipping other frames; `None` if none came.
async fn close_code(stream: &mut TcpStream) -> Option<u16> {
    let read = async {
        loop {
            let mut head = [0u8; 2];
            stream.read_exact(&mut head).await.ok()?;
            let len = match head[1] & 0x7f {
                126 => u64::from(stream.read_u16().await.ok()?),
                127 => stream.read_u64().await.ok()?,
                len => u64::from(len),
            };
            let mut payload = vec![0u8; len as usize];
            stream.read_exact(&mut payload).await.ok()?;
            if head[0] & 0x0f == 0x8 {
                return Some(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]));
            }
        }
    };
    tokio::time::timeout(WAIT, read).await.ok().flatten()
}

#[tokio::test]
async fn websocket_protocol_violations_close_with_the_rfc_codes() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    const FIN: u8 = 0x80;
    const RSV1: u8 = 0x40;
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("a text frame that is not UTF-8", raw_frame(FIN | 0x1, b"{\"type\": \"\xff\xfe\"}", true), 1007),
        ("an unmasked client frame", raw_frame(FIN | 0x1, b"{\"type\": \"ping\"}", false), 1002),
        ("a reserved bit", raw_frame(FIN | RSV1 | 0x1, b"{\"type\": \"ping\"}", true), 1002),
        ("a ping over 125 bytes", raw_frame(FIN | 0x9, &[b'p'; 126], true), 1002),
    ];
    for (what, frame, expected) in cases {
        let mut stream = raw_websocket(&app.node, &ann).await;
        stream.write_all(&frame).await.unwrap();
        assert_eq!(close_code(&mut stream).await, Some(expected), "{what}");
    }
    // The node serves on.
    let mut fresh = app.ws(&app.node, &ann, Codec::Json).await;
    assert_eq!(fresh.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
}

#[tokio::test]
async fn after_a_removal_is_answered_no_send_of_the_removed_member_is_accepted_on_any_node() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut removed = WsClient::connect(other.addr, Some(&bob.access), Codec::Json).await.unwrap();
    assert_eq!(removed.request(json!({"type": "join", "room": room})).await.unwrap()["ok"], true);
    // A send before the removal: bob's membership is trusted on the other node from now on.
    let before = removed.request(json!({"type": "send", "room": room, "content": "before"})).await.unwrap();
    assert_eq!(before["ok"], true, "{before}");

    let answer =
        app.call("DELETE", &format!("/rooms/{room}/members/{}", bob.id), Some(&ann.access), None).await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    for n in 0..40 {
        let reply =
            removed.request(json!({"type": "send", "room": room, "content": format!("after {n}")})).await;
        let Ok(reply) = reply else { break }; // the node may close the room to bob meanwhile
        assert_eq!(reply["ok"], false, "send {n} after the removal was accepted: {reply}");
    }
    let messages = format!("/rooms/{room}/messages");
    let rest = app.call("POST", &messages, Some(&bob.access), Some(json!({"content": "x"}))).await;
    assert_eq!(rest.status, 403);
    let history = app.call("GET", &format!("/rooms/{room}/messages"), Some(&ann.access), None).await;
    let contents: Vec<&str> =
        history.body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, vec!["before"]);
}

#[tokio::test]
async fn a_token_of_a_user_who_is_gone_gets_401_not_500_when_creating_rooms() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    sqlx::query("delete from users where id = $1::uuid").bind(&ann.id).execute(&app.db.pool).await.unwrap();
    for body in [
        json!({"name": "team", "type": "group", "member_ids": [bob.id]}),
        json!({"type": "direct", "member_ids": [bob.id]}),
        json!({"name": "news", "type": "channel"}),
    ] {
        let answer = app.call("POST", "/rooms", Some(&ann.access), Some(body.clone())).await;
        assert_eq!((answer.status, answer.code()), (401, Some("unauthorized")), "{body}: {:?}", answer.body);
    }
    let news = app.create_room(&bob, "channel", &[]).await;
    let members = format!("/rooms/{news}/members");
    let join = app.call("POST", &members, Some(&ann.access), Some(json!({"user_id": ann.id}))).await;
    assert!(matches!(join.status, 401 | 404), "{:?}", join.body);
}

#[tokio::test]
async fn a_read_marker_beyond_the_rooms_newest_message_is_refused() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let messages = format!("/rooms/{room}/messages");
    let sent = app.call("POST", &messages, Some(&ann.access), Some(json!({"content": "hi"}))).await;
    let seq = sent.body["seq"].as_u64().unwrap();
    let path = format!("/rooms/{room}/read");
    for beyond in [json!(seq + 1), json!(u64::MAX), json!(i64::MAX)] {
        let answer = app.call("POST", &path, Some(&ann.access), Some(json!({"seq": beyond}))).await;
        assert_eq!(answer.status, 400, "{beyond}: {:?}", answer.body);
        assert!(answer.body["error"]["fields"]["seq"].is_string(), "{:?}", answer.body);
    }
    let mut client = app.ws(&app.node, &ann, Codec::MsgPack).await;
    let reply = client.request(json!({"type": "read", "room": room, "seq": u64::MAX})).await.unwrap();
    assert_eq!(reply["error"]["code"], "invalid_input", "{reply}");
    assert_eq!(app.call("POST", &path, Some(&ann.access), Some(json!({"seq": seq}))).await.status, 204);
    // The marker stands at the newest message, so the next one counts as unread.
    app.call("POST", &messages, Some(&ann.access), Some(json!({"content": "new"}))).await;
    let _persister = app.start_persister().await.unwrap();
    assert_eq!(app.persisted(&room, 2, Duration::from_secs(10)).await, 2);
    let rooms = app.call("GET", "/rooms", Some(&ann.access), None).await;
    assert_eq!(rooms.body["rooms"][0]["unread_count"], 1, "{:?}", rooms.body);
}

#[tokio::test]
async fn display_names_of_nothing_visible_or_that_reorder_text_are_refused() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    for name in ["\u{200B}\u{200B}", "\u{3164}", " \u{2060} ", "admin\u{202E}nimda", "\u{2067}x"] {
        let body = json!({"username": "eve", "password": "long-enough", "display_name": name});
        let answer = app.call("POST", "/auth/register", None, Some(body)).await;
        assert_eq!(answer.status, 400, "{name:?}: {:?}", answer.body);
        assert!(answer.body["error"]["fields"]["display_name"].is_string());
        let answer =
            app.call("PATCH", "/users/me", Some(&ann.access), Some(json!({"display_name": name}))).await;
        assert_eq!(answer.status, 400, "{name:?}: {:?}", answer.body);
        let answer =
            app.call("POST", "/rooms", Some(&ann.access), Some(json!({"name": name, "type": "group"}))).await;
        assert_eq!(answer.status, 400, "{name:?}: {:?}", answer.body);
    }
    let fine =
        app.call("PATCH", "/users/me", Some(&ann.access), Some(json!({"display_name": "Zoë 👩\u{200D}💻"})));
    assert_eq!(fine.await.status, 200);
}

/// Frames the server pushes have no `id`; this skips them to the reply of `id`.
fn is_reply(frame: &Value) -> bool {
    frame["type"] == "reply"
}

#[tokio::test]
async fn presence_says_it_is_unavailable_while_redis_is_down_rather_than_nobody_online() {
    let mut redis = chat_tests::outage::PrivateRedis::start().await.unwrap();
    let app = TestApp::spawn_with(&["--redis-url", &redis.url()]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut bobs = app.ws(&app.node, &bob, Codec::Json).await;
    let joined = bobs.request(json!({"type": "join", "room": room})).await.unwrap();
    assert_eq!(joined["presence"], "available", "{joined}");
    let path = format!("/rooms/{room}/presence");
    let before = app.call("GET", &path, Some(&ann.access), None).await;
    assert_eq!(before.body["presence"], "available", "{:?}", before.body);
    assert_eq!(before.body["count"], 1);

    redis.stop().await.unwrap();
    eventually("presence turning unavailable", Duration::from_secs(10), async || {
        app.call("GET", &path, Some(&ann.access), None).await.body["presence"] == "unavailable"
    })
    .await;
    let mut anns = app.ws(&app.node, &ann, Codec::MsgPack).await;
    let joined = anns.request(json!({"type": "join", "room": room})).await.unwrap();
    assert!(is_reply(&joined));
    assert_eq!(
        (joined["ok"].clone(), joined["presence"].clone()),
        (json!(true), json!("unavailable")),
        "{joined}"
    );
    // Messaging goes on.
    let sent = anns.request(json!({"type": "send", "room": room, "content": "still here"})).await.unwrap();
    assert_eq!(sent["ok"], true, "{sent}");

    redis.resume().await.unwrap();
    eventually("presence coming back", Duration::from_secs(20), async || {
        app.call("GET", &path, Some(&ann.access), None).await.body["presence"] == "available"
    })
    .await;
}

/// Posts JSON to a node that has no `TestApp` around it, and returns the answer's body.
async fn post(node: &TestNode, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = reqwest::Client::new().post(node.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_stopped_database_does_not_log_websocket_users_out() {
    let postgres = chat_tests::outage::PrivatePostgres::start().await.unwrap();
    let url = postgres.create_database("chat").await.unwrap();
    let stream = chat_tests::TestStream::new();
    let args = chat_tests::node_args_for(&url, &stream, &["--membership-lease", "300ms"]);
    let node = chat_tests::start_node(args).await.unwrap();
    let registered =
        post(&node, "/auth/register", None, json!({"username": "ann", "password": "ann-password"}));
    let token = registered.await["access_token"].as_str().unwrap().to_owned();
    let room = post(&node, "/rooms", Some(&token), json!({"name": "team", "type": "group"})).await;
    let room = room["id"].as_str().unwrap().to_owned();
    let mut open = WsClient::connect(node.addr, Some(&token), Codec::Json).await.unwrap();
    assert_eq!(open.request(json!({"type": "join", "room": room})).await.unwrap()["ok"], true);
    let send = json!({"type": "send", "room": room, "content": "before"});
    assert_eq!(open.request(send).await.unwrap()["ok"], true);

    postgres.stop().unwrap();
    let mut fresh = WsClient::connect(node.addr, Some(&token), Codec::Json).await.unwrap();
    assert_eq!(fresh.close_code(Duration::from_secs(20)).await, Some(1013), "a new socket");
    let renewal = open.request(json!({"type": "auth", "token": token})).await.unwrap();
    assert_eq!(renewal["error"]["code"], "unavailable", "{renewal}");
    assert_eq!(open.request(json!({"type": "ping"})).await.unwrap()["ok"], true, "the socket stays open");
    // Messages do not depend on the database: a member whose membership cannot be checked
    // again goes on sending.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = open.request(json!({"type": "send", "room": room, "content": "during"})).await.unwrap();
    assert_eq!(during["ok"], true, "{during}");

    postgres.resume().await.unwrap();
    eventually("the renewal working again", Duration::from_secs(20), async || {
        open.request(json!({"type": "auth", "token": token})).await.is_ok_and(|reply| reply["ok"] == true)
    })
    .await;
    let mut again = WsClient::connect(node.addr, Some(&token), Codec::Json).await.unwrap();
    assert_eq!(again.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    node.stop().await.unwrap();
}
