//! Socket.IO at `/socket.io/`: the session of `/ws` behind Socket.IO's events and
//! acknowledgements, across nodes and beside `/ws` clients.

use std::time::Duration;

use chat_tests::socketio::{SioClient, Token};
use chat_tests::ws::Codec;
use chat_tests::{Account, TestApp, TestNode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

async fn sio(node: &TestNode, account: &Account) -> SioClient {
    SioClient::connect(node.addr, Token::Auth(&account.access)).await.unwrap().expect("connected")
}

/// A socket of `account` that joined `room`.
async fn joined(node: &TestNode, account: &Account, room: &str) -> SioClient {
    let mut socket = sio(node, account).await;
    let ack = socket.call("joinRoom", json!({"room": room})).await.unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
    socket
}

#[tokio::test]
async fn a_socket_joins_and_sends_and_the_ack_carries_the_durable_message() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut socket = sio(&app.node, &ann).await;
    let joined = socket.call("joinRoom", json!({"room": room})).await.unwrap();
    assert_eq!(joined["ok"], true);
    assert_eq!(joined["room"]["id"], room.as_str());
    assert!(joined.get("type").is_none() && joined.get("id").is_none(), "{joined}");
    let sent = socket.call("sendMessage", json!({"room": room, "content": "hello"})).await.unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(sent["message"]["content"], "hello");
    assert!(sent["message"]["seq"].as_u64().unwrap() > 0);
    let event = socket.event("message", WAIT).await.unwrap();
    assert_eq!(event["type"], "message");
    assert_eq!(event["message"]["id"], sent["message"]["id"]);
}

#[tokio::test]
async fn the_token_may_come_in_the_auth_object_the_query_or_a_header() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    for token in [Token::Auth(&ann.access), Token::Query(&ann.access), Token::Header(&ann.access)] {
        let mut socket = SioClient::connect(app.node.addr, token).await.unwrap().expect("connected");
        let rooms = socket.call("rooms", json!({})).await.unwrap();
        assert_eq!(rooms, json!({"ok": true, "rooms": []}), "{token:?}");
    }
}

#[tokio::test]
async fn a_missing_or_bad_token_is_a_connect_error_in_the_contracts_shape() {
    let app = TestApp::spawn().await.unwrap();
    let refused = SioClient::connect(app.node.addr, Token::None).await.unwrap().err().expect("refused");
    assert_eq!(refused, json!({"code": "unauthorized", "message": "authentication required"}));
    let refused =
        SioClient::connect(app.node.addr, Token::Auth("not-a-token")).await.unwrap().err().expect("refused");
    assert_eq!(refused["code"], "unauthorized");
}

#[tokio::test]
async fn a_message_sent_on_one_node_reaches_socket_io_and_ws_clients_on_another() {
    let app = TestApp::spawn().await.unwrap();
    let node_b = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut sender = joined(&app.node, &ann, &room).await;
    let mut reader = joined(&node_b, &bob, &room).await;
    let mut ws = app.ws(&node_b, &bob, Codec::Json).await;
    assert_eq!(ws.request(json!({"type": "join", "room": room})).await.unwrap()["ok"], true);

    let sent = sender.call("sendMessage", json!({"room": room, "content": "from socket.io"})).await.unwrap();
    let got = reader.messages(&room, 1, WAIT).await;
    assert_eq!(got[0]["id"], sent["message"]["id"]);
    assert_eq!(ws.collect_messages(&room, 1, WAIT).await[0]["id"], sent["message"]["id"]);

    let from_ws = ws.request(json!({"type": "send", "room": room, "content": "from ws"})).await.unwrap();
    let got = sender.messages(&room, 2, WAIT).await;
    assert_eq!(got.last().unwrap()["id"], from_ws["message"]["id"]);
}

#[tokio::test]
async fn a_repeated_client_msg_id_returns_the_same_message_and_delivers_it_once() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut socket = joined(&app.node, &ann, &room).await;
    let send = json!({"room": room, "content": "once", "client_msg_id": "c-1"});
    let first = socket.call("sendMessage", send.clone()).await.unwrap();
    let again = socket.call("send", send).await.unwrap();
    assert_eq!(first["message"], again["message"]);
    assert_eq!(socket.messages(&room, 2, Duration::from_millis(700)).await.len(), 1);
}

#[tokio::test]
async fn joining_with_since_returns_exactly_the_missed_messages_in_order() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut sender = joined(&app.node, &ann, &room).await;
    let first = sender.call("sendMessage", json!({"room": room, "content": "seen"})).await.unwrap();
    let mut missed = Vec::new();
    for n in 0..3 {
        let sent = sender.call("sendMessage", json!({"room": room, "content": format!("missed {n}")})).await;
        missed.push(sent.unwrap()["message"]["id"].clone());
    }
    let mut reader = sio(&app.node, &bob).await;
    let since = first["message"]["seq"].clone();
    let resumed = reader.call("joinRoom", json!({"room": room, "since": since})).await.unwrap();
    let ids: Vec<Value> = resumed["messages"].as_array().unwrap().iter().map(|m| m["id"].clone()).collect();
    assert_eq!(ids, missed);
    assert_eq!(resumed["recovered"], true);
}

#[tokio::test]
async fn refusals_are_acknowledged_in_the_contracts_shape() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[]).await;
    let mut socket = sio(&app.node, &bob).await;
    let refused = socket.call("sendMessage", json!({"room": room, "content": "let me in"})).await.unwrap();
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["error"]["code"], "forbidden");
    let refused = socket.call("sendMessage", json!({"room": room})).await.unwrap();
    assert_eq!(refused["error"]["code"], "invalid_input");
    assert!(refused["error"]["fields"]["content"].is_string(), "{refused}");
    let refused = socket.call("sendMessage", json!("just a string")).await.unwrap();
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["error"]["code"], "invalid_input");
    let refused = socket.call("shout", json!({})).await.unwrap();
    assert_eq!(
        refused["error"]["fields"]["type"].as_str().map(|s| s.starts_with("must be one of")),
        Some(true)
    );
    // Without an acknowledgement, a failure comes as an `error` event.
    socket.emit("joinRoom", json!({"room": room})).await.unwrap();
    assert_eq!(socket.event("error", WAIT).await.unwrap()["error"]["code"], "forbidden");
    socket.emit("typing", json!(7)).await.unwrap();
    assert_eq!(socket.event("error", WAIT).await.unwrap()["error"]["code"], "invalid_input");
}

#[tokio::test]
async fn events_without_an_acknowledgement_still_run_and_ping_answers_with_pong() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut socket = sio(&app.node, &ann).await;
    socket.emit("join", json!({"room": room})).await.unwrap();
    socket.emit("send", json!({"room": room, "content": "no ack wanted"})).await.unwrap();
    assert_eq!(socket.messages(&room, 1, WAIT).await[0]["content"], "no ack wanted");
    assert_eq!(socket.call("ping", Value::Null).await.unwrap(), json!({"ok": true}));
    assert_eq!(socket.event("pong", WAIT).await.unwrap(), json!({"type": "pong"}));
    assert_eq!(socket.call("leaveRoom", json!({"room": room})).await.unwrap(), json!({"ok": true}));
}

#[tokio::test]
async fn another_users_join_is_a_presence_event() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut socket = joined(&app.node, &ann, &room).await;
    let _bob = joined(&app.node, &bob, &room).await;
    let presence = socket.event("presence", WAIT).await.unwrap();
    assert_eq!(presence, json!({"type": "presence", "room": room, "user_id": bob.id, "state": "online"}));
}

#[tokio::test]
async fn a_flood_of_sends_is_refused_then_closed_with_4008() {
    let app = TestApp::spawn_with(&["--send-rate", "1", "--send-burst", "1"]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut socket = sio(&app.node, &ann).await;
    let mut ids = Vec::new();
    for n in 0..150 {
        ids.push(
            socket
                .emit_with_ack("sendMessage", json!({"room": room, "content": format!("{n}")}))
                .await
                .unwrap(),
        );
    }
    let refused = socket.ack(ids[1], WAIT).await.unwrap();
    assert_eq!(refused["error"]["code"], "rate_limited");
    let close = socket.closed(WAIT).await.expect("closed");
    assert_eq!(close, json!({"code": 4008, "reason": "sending too fast"}));
}

#[tokio::test]
async fn a_burst_of_malformed_events_closes_with_1008() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let mut socket = sio(&app.node, &ann).await;
    for _ in 0..11 {
        socket.emit("send", json!([1, 2])).await.unwrap();
    }
    assert_eq!(socket.closed(WAIT).await.unwrap()["code"], 1008);
}

#[tokio::test]
async fn an_event_over_the_frame_limit_closes_with_1009() {
    let app = TestApp::spawn_with(&["--max-frame-bytes", "2048"]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut socket = sio(&app.node, &ann).await;
    socket.emit("sendMessage", json!({"room": room, "content": "x".repeat(3000)})).await.unwrap();
    assert_eq!(socket.closed(WAIT).await.unwrap(), json!({"code": 1009, "reason": "frame too large"}));
}

#[tokio::test]
async fn a_login_that_ends_closes_its_socket_with_4001() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let mut socket = sio(&app.node, &ann).await;
    assert_eq!(socket.call("ping", json!({})).await.unwrap()["ok"], true);
    let logout = app.call("POST", "/auth/logout", None, Some(json!({"refresh_token": ann.refresh}))).await;
    assert_eq!(logout.status, 204);
    assert_eq!(socket.closed(WAIT).await.unwrap(), json!({"code": 4001, "reason": "login ended"}));
    let refused = SioClient::connect(app.node.addr, Token::Auth(&ann.access)).await.unwrap().err().unwrap();
    assert_eq!(refused, json!({"code": "unauthorized", "message": "login ended"}));
}

#[tokio::test]
async fn a_token_renewed_by_the_auth_event_keeps_the_socket_past_the_first_expiry() {
    let app = TestApp::spawn_with(&["--access-token-ttl", "4s"]).await.unwrap();
    let ann = app.register("ann").await;
    let mut renewed = sio(&app.node, &ann).await;
    let mut expiring = sio(&app.node, &ann).await;
    // The renewed token outlives the first by this long: room for the first's close to come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fresh = app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": ann.refresh}))).await;
    let token = fresh.body["access_token"].as_str().unwrap();
    assert_eq!(renewed.call("auth", json!({"token": token})).await.unwrap(), json!({"ok": true}));
    assert_eq!(expiring.closed(WAIT).await.unwrap(), json!({"code": 4001, "reason": "token expired"}));
    assert_eq!(renewed.call("ping", json!({})).await.unwrap()["ok"], true);
}

#[tokio::test]
async fn the_users_connection_cap_refuses_one_more_socket() {
    let app = TestApp::spawn_with(&["--max-connections-per-user", "1"]).await.unwrap();
    let ann = app.register("ann").await;
    let first = sio(&app.node, &ann).await;
    let refused = SioClient::connect(app.node.addr, Token::Auth(&ann.access)).await.unwrap().err().unwrap();
    assert_eq!(refused, json!({"code": "rate_limited", "message": "too many connections of this user"}));
    first.disconnect().await;
    // The place is given back once the socket is gone.
    let deadline = tokio::time::Instant::now() + WAIT;
    while SioClient::connect(app.node.addr, Token::Auth(&ann.access)).await.unwrap().is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the place was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_node_that_shuts_down_closes_its_sockets_with_1012() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let node_b = app.add_node().await.unwrap();
    let mut socket = sio(&node_b, &ann).await;
    assert_eq!(socket.call("ping", json!({})).await.unwrap()["ok"], true);
    let stopping = tokio::spawn(node_b.stop());
    assert_eq!(socket.closed(WAIT).await.unwrap()["code"], 1012);
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_closed_with_4002() {
    let app = TestApp::spawn_with(&["--send-rate", "0", "--outbound-queue", "8"]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut sleeper = joined(&app.node, &bob, &room).await;
    let mut sender = app.ws(&app.node, &ann, Codec::Json).await;
    // Bob reads nothing while megabytes pile up: the socket's buffers fill, then his queues.
    let content = "x".repeat(3_900);
    for sent in 1..=2_000 {
        let reply = sender.request(json!({"type": "send", "room": room, "content": content})).await.unwrap();
        assert_eq!(reply["ok"], true);
        if sent % 20 == 0 && !app.is_online(&room, &ann, &bob).await {
            break;
        }
    }
    assert_eq!(sleeper.closed(Duration::from_secs(30)).await.unwrap()["code"], 4002);
}

#[tokio::test]
async fn the_sessions_pings_do_not_close_a_socket_io_connection() {
    let app = TestApp::spawn_with(&["--ws-ping-interval", "100ms"]).await.unwrap();
    let ann = app.register("ann").await;
    let mut socket = sio(&app.node, &ann).await;
    // Many ping intervals: a /ws client that never answered would be closed after two.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(socket.call("ping", json!({})).await.unwrap()["ok"], true);
}

#[tokio::test]
async fn the_nodes_connection_cap_refuses_one_more_socket_as_unavailable() {
    let app = TestApp::spawn_with(&["--max-connections", "1"]).await.unwrap();
    let ann = app.register("ann").await;
    let _first = sio(&app.node, &ann).await;
    let refused = SioClient::connect(app.node.addr, Token::Auth(&ann.access)).await.unwrap().err().unwrap();
    assert_eq!(refused["code"], "unavailable");
}

#[tokio::test]
async fn events_past_the_sessions_backlog_are_refused_at_once() {
    let app = TestApp::spawn_with(&["--max-frame-bytes", "1024"]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut socket = sio(&app.node, &ann).await;
    // Joins read the store, so the session takes them one by one far slower than they come:
    // past 64 KiB of waiting events, the rest is refused before it reaches the session.
    let padding = "x".repeat(900);
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(socket.emit_with_ack("joinRoom", json!({"room": room, "pad": padding})).await.unwrap());
    }
    for _ in 0..50 {
        socket.emit("joinRoom", json!({"room": room, "pad": padding})).await.unwrap();
    }
    let mut codes = Vec::new();
    for id in ids {
        let ack = socket.ack(id, Duration::from_secs(30)).await.expect("every event is answered");
        codes.push(if ack["ok"] == true {
            "ok".to_owned()
        } else {
            ack["error"]["code"].as_str().unwrap().to_owned()
        });
    }
    assert!(codes.iter().any(|c| c == "ok"), "{codes:?}");
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    assert_eq!(socket.event("error", WAIT).await.unwrap()["error"]["code"], "rate_limited");
}
