//! Presence, typing, read receipts, unread counts and membership events across nodes.

use std::time::Duration;

use chat_tests::TestApp;
use chat_tests::process::Process;
use chat_tests::ws::{Codec, WsClient};
use serde_json::{Value, json};

const NODE: &str = env!("CARGO_BIN_EXE_chat-node-under-test");

/// The next frame of `kind`, skipping others, within `wait`.
async fn next_of(client: &mut WsClient, kind: &str, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let frame = client.next_frame(left).await?;
        if frame["type"] == kind {
            return Some(frame);
        }
    }
}

async fn join(client: &mut WsClient, room: &str) -> Value {
    let reply = client.request(json!({"type": "join", "room": room})).await.unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    reply
}

#[tokio::test]
async fn users_on_two_nodes_see_each_other_come_and_go_and_two_tabs_count_once() {
    let app = TestApp::spawn().await.unwrap();
    let second = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut a = app.ws(&app.node, &ann, Codec::Json).await;
    join(&mut a, &room).await;
    let mut b1 = app.ws(&second, &bob, Codec::MsgPack).await;
    let reply = join(&mut b1, &room).await;
    assert_eq!(reply["online"].as_array().unwrap().len(), 2, "{reply}");
    let online = next_of(&mut a, "presence", Duration::from_secs(3)).await.expect("bob comes online");
    assert_eq!(
        (online["user_id"].as_str(), online["state"].as_str()),
        (Some(bob.id.as_str()), Some("online"))
    );

    let mut b2 = app.ws(&app.node, &bob, Codec::Json).await;
    join(&mut b2, &room).await;
    let presence = app.call("GET", &format!("/rooms/{room}/presence"), Some(&ann.access), None).await;
    assert_eq!(presence.body["count"], 2, "{:?}", presence.body);
    b1.close().await;
    assert!(
        next_of(&mut a, "presence", Duration::from_millis(800)).await.is_none(),
        "one tab left, still online"
    );
    b2.close().await;
    let offline = next_of(&mut a, "presence", Duration::from_secs(3)).await.expect("bob goes offline");
    assert_eq!(offline["state"], "offline");
    let presence = app.call("GET", &format!("/rooms/{room}/presence"), Some(&ann.access), None).await;
    assert_eq!(presence.body["online"], json!([ann.id]));
}

#[tokio::test]
async fn the_users_of_a_killed_node_go_offline_within_the_expiry() {
    let app = TestApp::spawn_with(&["--presence-ttl", "1500ms"]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let doomed = Process::node(NODE, &app.db, &app.stream, &["--presence-ttl", "1500ms"]).await.unwrap();
    let mut a = app.ws(&app.node, &ann, Codec::Json).await;
    join(&mut a, &room).await;
    let mut b = WsClient::connect(doomed.addr, Some(&bob.access), Codec::Json).await.unwrap();
    join(&mut b, &room).await;
    assert_eq!(next_of(&mut a, "presence", Duration::from_secs(3)).await.unwrap()["state"], "online");
    doomed.kill().await;
    let started = tokio::time::Instant::now();
    let offline = next_of(&mut a, "presence", Duration::from_secs(6)).await.expect("no ghost");
    assert_eq!(
        (offline["user_id"].as_str(), offline["state"].as_str()),
        (Some(bob.id.as_str()), Some("offline"))
    );
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn typing_reaches_others_at_most_once_every_two_seconds() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut a = app.ws(&app.node, &ann, Codec::Json).await;
    let mut b = app.ws(&app.node, &bob, Codec::Json).await;
    join(&mut a, &room).await;
    join(&mut b, &room).await;
    for _ in 0..5 {
        assert_eq!(a.request(json!({"type": "typing", "room": room})).await.unwrap()["ok"], true);
    }
    let typing = next_of(&mut b, "typing", Duration::from_secs(2)).await.expect("a typing event");
    assert_eq!(typing["user_id"], ann.id.as_str());
    assert!(next_of(&mut b, "typing", Duration::from_millis(700)).await.is_none(), "throttled");
    assert!(next_of(&mut a, "typing", Duration::from_millis(100)).await.is_none(), "not to oneself");
}

#[tokio::test]
async fn reads_are_announced_and_unread_counts_follow_sends_and_reads() {
    let app = TestApp::spawn().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut a = app.ws(&app.node, &ann, Codec::Json).await;
    join(&mut a, &room).await;
    let mut seqs = Vec::new();
    for n in 0..3 {
        let reply =
            a.request(json!({"type": "send", "room": room, "content": format!("m{n}")})).await.unwrap();
        seqs.push(reply["message"]["seq"].as_u64().unwrap());
    }
    app.persisted(&room, 3, Duration::from_secs(10)).await;
    let unread = |body: &Value| body["rooms"][0]["unread_count"].as_u64();
    let listed = app.call("GET", "/rooms", Some(&bob.access), None).await;
    assert_eq!(unread(&listed.body), Some(3));
    let mut b = app.ws(&app.node, &bob, Codec::Json).await;
    let reply = b.request(json!({"type": "read", "room": room, "seq": seqs[1]})).await.unwrap();
    assert_eq!(reply["ok"], true);
    let read = next_of(&mut a, "read", Duration::from_secs(2)).await.expect("a read event");
    assert_eq!((read["user_id"].as_str(), read["seq"].as_u64()), (Some(bob.id.as_str()), Some(seqs[1])));
    let listed = app.call("GET", "/rooms", Some(&bob.access), None).await;
    assert_eq!(
        (listed.body["rooms"][0]["last_read_seq"].as_u64(), unread(&listed.body)),
        (Some(seqs[1]), Some(1))
    );
    // Going back is ignored.
    b.request(json!({"type": "read", "room": room, "seq": seqs[0]})).await.unwrap();
    let listed = app.call("GET", "/rooms", Some(&bob.access), None).await;
    assert_eq!(unread(&listed.body), Some(1));
}

#[tokio::test]
async fn a_removed_member_stops_receiving_at_once() {
    let app = TestApp::spawn().await.unwrap();
    let second = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut a = app.ws(&app.node, &ann, Codec::Json).await;
    join(&mut a, &room).await;
    let mut b = app.ws(&second, &bob, Codec::Json).await;
    join(&mut b, &room).await;
    let removed =
        app.call("DELETE", &format!("/rooms/{room}/members/{}", bob.id), Some(&ann.access), None).await;
    assert_eq!(removed.status, 204);
    let member = next_of(&mut b, "member", Duration::from_secs(3)).await.expect("a member event");
    assert_eq!(
        (member["user_id"].as_str(), member["change"].as_str()),
        (Some(bob.id.as_str()), Some("removed"))
    );
    a.request(json!({"type": "send", "room": room, "content": "not for bob"})).await.unwrap();
    assert!(next_of(&mut b, "message", Duration::from_millis(800)).await.is_none());
    let send = b.request(json!({"type": "send", "room": room, "content": "still here?"})).await.unwrap();
    assert_eq!(send["error"]["code"], "forbidden");
    let added = app
        .call("POST", &format!("/rooms/{room}/members"), Some(&ann.access), Some(json!({"user_id": bob.id})))
        .await;
    assert_eq!(added.status, 201);
    // Everyone in the room learns of both changes, in order.
    let removed = next_of(&mut a, "member", Duration::from_secs(3)).await.expect("a removed event");
    assert_eq!(removed["change"], "removed");
    let member = next_of(&mut a, "member", Duration::from_secs(3)).await.expect("an added event");
    assert_eq!(
        (member["user_id"].as_str(), member["change"].as_str()),
        (Some(bob.id.as_str()), Some("added"))
    );
}

#[tokio::test]
async fn without_redis_messaging_works_and_presence_reports_degraded() {
    let app = TestApp::spawn_with(&["--redis-url", "redis://127.0.0.1:1"]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let ready = app.call("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200);
    assert!(ready.body["degraded"][0].as_str().unwrap().contains("redis"), "{:?}", ready.body);
    let mut a = app.ws(&app.node, &ann, Codec::Json).await;
    let mut b = app.ws(&app.node, &bob, Codec::Json).await;
    join(&mut a, &room).await;
    let reply = join(&mut b, &room).await;
    assert_eq!(reply["online"], json!([]));
    let sent = a.request(json!({"type": "send", "room": room, "content": "still works"})).await.unwrap();
    assert_eq!(sent["ok"], true);
    let got = next_of(&mut b, "message", Duration::from_secs(3)).await.expect("the message");
    assert_eq!(got["message"]["content"], "still works");
    let text = app.http.get(app.node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("chat_presence_redis_errors_total"), "errors are counted");
}
