//! Caps on the sockets a node and a user hold, sockets whose peer went silent, and metrics on
//! an address of their own.

use std::time::Duration;

use chat_tests::TestApp;
use chat_tests::ws::{Codec, WsClient};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// The status line and headers the node answers an upgrade with.
async fn upgrade_answer(app: &TestApp, token: &str) -> String {
    let mut stream = TcpStream::connect(app.node.addr).await.unwrap();
    let request = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        app.node.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(WAIT, stream.read(&mut answer)).await.unwrap().unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test]
async fn past_the_nodes_cap_an_upgrade_gets_503_with_retry_after_and_held_sockets_go_on() {
    let app = TestApp::spawn_with(&["--max-connections", "2"]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let mut first = app.ws(&app.node, &ann, Codec::Json).await;
    let second = app.ws(&app.node, &bob, Codec::Json).await;

    let refused = upgrade_answer(&app, &ann.access).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.to_lowercase().contains("retry-after: 1"), "{refused}");
    assert!(refused.contains("\"code\":\"unavailable\""), "{refused}");
    assert_eq!(first.request(json!({"type": "ping"})).await.unwrap()["ok"], true);

    second.close().await;
    let mut again = None;
    for _ in 0..50 {
        if let Ok(mut client) = WsClient::connect(app.node.addr, Some(&bob.access), Codec::Json).await
            && client.request(json!({"type": "ping"})).await.is_ok()
        {
            again = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a place came free when a socket closed");
}

#[tokio::test]
async fn past_a_users_cap_a_new_socket_closes_with_4029_and_others_are_unaffected() {
    let app = TestApp::spawn_with(&["--max-connections-per-user", "2"]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    // Each answers a ping before the next connects: a socket counts once it has authenticated,
    // and the one over the cap is whichever authenticates third.
    let mut first = app.ws(&app.node, &ann, Codec::Json).await;
    assert_eq!(first.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    let mut second = app.ws(&app.node, &ann, Codec::MsgPack).await;
    assert_eq!(second.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    let mut third = app.ws(&app.node, &ann, Codec::Json).await;
    assert_eq!(third.close_code(WAIT).await, Some(4029));
    // The first `auth` frame flow counts the same.
    let mut by_frame = WsClient::connect(app.node.addr, None, Codec::Json).await.unwrap();
    by_frame.send_value(&json!({"type": "auth", "token": ann.access})).await.unwrap();
    assert_eq!(by_frame.close_code(WAIT).await, Some(4029));
    let mut other = app.ws(&app.node, &bob, Codec::Json).await;
    assert_eq!(other.request(json!({"type": "ping"})).await.unwrap()["ok"], true);

    first.close().await;
    let mut admitted = false;
    for _ in 0..50 {
        let mut client = app.ws(&app.node, &ann, Codec::Json).await;
        if client.request(json!({"type": "ping"})).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admitted, "a place came free when ann's socket closed");
}

#[tokio::test]
async fn a_socket_that_answers_no_ping_is_closed_and_its_presence_ends_while_a_live_one_stays() {
    let app = TestApp::spawn_with(&["--ws-ping-interval", "300ms"]).await.unwrap();
    let (ann, bob, cid) = (app.register("ann").await, app.register("bob").await, app.register("cid").await);
    let room = app.create_room(&ann, "group", &[&bob, &cid]).await;

    // Bob joins, then his client goes silent: it neither reads nor answers pings.
    let mut silent = app.ws(&app.node, &bob, Codec::Json).await;
    assert_eq!(silent.request(json!({"type": "join", "room": room})).await.unwrap()["ok"], true);
    let mut live = app.ws(&app.node, &cid, Codec::Json).await;
    assert_eq!(live.request(json!({"type": "join", "room": room})).await.unwrap()["ok"], true);
    assert!(app.is_online(&room, &ann, &bob).await);

    // Cid's client reads (and so answers pings) for longer than several ping intervals.
    let started = tokio::time::Instant::now();
    let mut bob_gone = false;
    while started.elapsed() < Duration::from_secs(3) {
        let _ = live.next_frame(Duration::from_millis(200)).await;
        bob_gone = bob_gone || !app.is_online(&room, &ann, &bob).await;
    }
    assert!(bob_gone, "bob's silent socket was not closed");
    assert!(live.closed.is_none());
    assert_eq!(live.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    assert!(app.is_online(&room, &ann, &cid).await);
    // Bob's client, reading at last, finds the connection gone.
    assert!(silent.close_code(WAIT).await.is_some());
}

#[tokio::test]
async fn metrics_move_off_the_public_address_when_given_one_of_their_own() {
    let app = TestApp::spawn_with(&["--metrics-listen", "127.0.0.1:0"]).await.unwrap();
    let public = app.http.get(app.node.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let own = app.node.metrics_addr.expect("a metrics address");
    let scraped = app.http.get(format!("http://{own}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("chat_build_info"));
    let health = app.http.get(app.node.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
