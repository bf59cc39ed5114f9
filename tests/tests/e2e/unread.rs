//! `unread` events: a socket that sent `rooms` with `unread: true` hears each room's unread
//! count as it changes, from any node, coalesced, without joining anything; its other sockets
//! hear nothing of it.

use std::time::Duration;

use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, TestApp, TestNode};
use serde_json::{Value, json};

use crate::sockets::{WAIT, expect_nothing, open_socket};

/// A socket of `account` on `node` that asked for `unread` events; the room list it was given.
async fn counting(node: &TestNode, account: &Account, codec: Codec) -> (WsClient, Value) {
    let mut socket = open_socket(node, account, codec).await;
    let reply = socket.request(json!({"type": "rooms", "unread": true})).await.unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    (socket, reply["rooms"].clone())
}

/// The `unread` frames of `room` until one says `count`; every other kind of frame is skipped.
async fn counts_until(socket: &mut WsClient, room: &str, count: u64) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = socket.next_frame(left).await.unwrap_or_else(|| panic!("no unread {count} in {seen:?}"));
        if frame["type"] != "unread" || frame["room"] != room {
            continue;
        }
        seen.push(frame.clone());
        if frame["unread_count"] == count {
            return seen;
        }
    }
}

async fn send(app: &TestApp, sender: &Account, room: &str, content: &str) -> u64 {
    let body = json!({"content": content});
    let sent = app.call("POST", &format!("/rooms/{room}/messages"), Some(&sender.access), Some(body)).await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    sent.body["seq"].as_u64().unwrap()
}

#[tokio::test]
async fn a_socket_that_asked_hears_its_counts_from_any_node_and_a_read_lowers_them() {
    let app = TestApp::spawn().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let team = app.create_room(&ann, "group", &[&bob]).await;
    let (mut phone, rooms) = counting(&other, &bob, Codec::MsgPack).await;
    assert_eq!(rooms[0]["unread_count"], 0);
    let mut laptop = open_socket(&app.node, &bob, Codec::Json).await;

    let mut seqs = Vec::new();
    for content in ["one", "two", "three"] {
        seqs.push(send(&app, &ann, &team, content).await);
    }
    let counts = counts_until(&mut phone, &team, 3).await;
    assert!(counts.iter().all(|frame| frame["last_read_seq"] == 0), "{counts:?}");

    let read = json!({"seq": seqs[1]});
    assert!(
        app.call("POST", &format!("/rooms/{team}/read"), Some(&bob.access), Some(read)).await.status < 300
    );
    let after_read = counts_until(&mut phone, &team, 1).await;
    assert_eq!(after_read.last().unwrap()["last_read_seq"], seqs[1]);
    let read = json!({"type": "read", "room": team, "seq": seqs[2]});
    assert_eq!(laptop.request(read).await.unwrap()["ok"], true);
    counts_until(&mut phone, &team, 0).await;

    // The socket that did not ask heard none of it.
    while let Some(frame) = laptop.next_frame(Duration::from_millis(300)).await {
        assert_ne!(frame["type"], "unread", "{frame}");
    }
}

#[tokio::test]
async fn a_busy_room_sends_a_few_counts_a_second_not_one_a_message() {
    let app = TestApp::spawn().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let team = app.create_room(&ann, "group", &[&bob]).await;
    let (mut bobs, _) = counting(&app.node, &bob, Codec::Json).await;
    let mut anns = app.ws(&app.node, &ann, Codec::Json).await;
    for n in 0..40 {
        let sent =
            anns.request(json!({"type": "send", "room": team, "content": format!("m{n}")})).await.unwrap();
        assert_eq!(sent["ok"], true, "{sent}");
    }
    let counts = counts_until(&mut bobs, &team, 40).await;
    assert!(counts.len() <= 10, "{} unread frames for 40 messages", counts.len());
    let values: Vec<u64> = counts.iter().map(|frame| frame["unread_count"].as_u64().unwrap()).collect();
    assert!(values.windows(2).all(|pair| pair[0] < pair[1]), "{values:?}");
}

#[tokio::test]
async fn counts_waiting_when_a_socket_asks_are_told_at_once_and_rooms_added_later_are_counted() {
    let app = TestApp::spawn().await.unwrap();
    // Counts are read from the store once it holds what the log held: it takes a persister.
    let _persister = app.start_persister().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let team = app.create_room(&ann, "group", &[&bob]).await;
    send(&app, &ann, &team, "while away").await;
    send(&app, &ann, &team, "still away").await;
    // The room list may not count them yet (the store follows the log); the events do.
    let (mut bobs, _) = counting(&app.node, &bob, Codec::Json).await;
    counts_until(&mut bobs, &team, 2).await;

    let later = app.create_room(&ann, "group", &[&bob]).await;
    send(&app, &ann, &later, "new room").await;
    counts_until(&mut bobs, &later, 1).await;

    // Removed from the room: no more counts of it.
    let removal =
        app.call("DELETE", &format!("/rooms/{later}/members/{}", bob.id), Some(&ann.access), None).await;
    assert_eq!(removal.status, 204);
    send(&app, &ann, &later, "gone").await;
    send(&app, &ann, &team, "here").await;
    counts_until(&mut bobs, &team, 3).await;
    expect_nothing(&mut bobs).await;
}

#[tokio::test]
async fn unread_must_be_a_boolean() {
    let app = TestApp::spawn().await.unwrap();
    let bob = app.register("bob").await;
    let mut socket = open_socket(&app.node, &bob, Codec::Json).await;
    let reply = socket.request(json!({"type": "rooms", "unread": "yes"})).await.unwrap();
    assert_eq!((&reply["ok"], &reply["error"]["code"]), (&json!(false), &json!("invalid_input")), "{reply}");
    assert!(reply["error"]["fields"]["unread"].is_string(), "{reply}");
}

#[tokio::test]
async fn an_embedded_node_counts_unread_messages() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, &[&bob]).await;
    let mut socket = app.ws(&bob, Codec::Json).await;
    assert_eq!(socket.request(json!({"type": "rooms", "unread": true})).await.unwrap()["ok"], true);
    let body = json!({"content": "hi"});
    let path = format!("/rooms/{room}/messages");
    assert_eq!(app.call("POST", &path, Some(&ann.access), Some(body)).await.status, 201);
    counts_until(&mut socket, &room, 1).await;
    drop(socket);
    app.stop().await.unwrap();
}
