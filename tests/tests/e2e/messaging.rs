//! Messages across nodes: durable before acknowledged, delivered once and in order to every
//! subscriber on every node, persisted exactly once, and recoverable after a reconnect.

use std::collections::HashSet;
use std::time::Duration;

use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, TestApp};
use serde_json::{Value, json};

const QUIET: Duration = Duration::from_secs(5);

async fn joined(
    app: &TestApp,
    node: &chat_tests::TestNode,
    who: &Account,
    room: &str,
    codec: Codec,
) -> WsClient {
    let mut client = app.ws(node, who, codec).await;
    let reply = client.request(json!({"type": "join", "room": room})).await.unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    client
}

fn seqs(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

fn assert_strictly_increasing(seqs: &[u64]) {
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "not in strict seq order: {seqs:?}");
}

#[tokio::test]
async fn five_senders_reach_every_receiver_on_two_nodes_in_order_and_persist_once() {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let second = app.add_node().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let owner = app.register("owner").await;
    let mut senders = Vec::new();
    for i in 0..5 {
        senders.push(app.register(&format!("sender{i}")).await);
    }
    let (r1, r2) = (app.register("recv1").await, app.register("recv2").await);
    let mut members: Vec<&Account> = senders.iter().collect();
    members.extend([&r1, &r2]);
    let room = app.create_room(&owner, "group", &members).await;

    let mut on_first = joined(&app, &app.node, &r1, &room, Codec::Json).await;
    let mut on_second = joined(&app, &second, &r2, &room, Codec::MsgPack).await;

    let sending = senders.iter().enumerate().map(|(i, sender)| {
        let app = &app;
        let room = room.clone();
        async move {
            let mut client = app.ws(&app.node, sender, Codec::Json).await;
            let mut acked = Vec::new();
            for n in 0..200 {
                let body = json!({"type": "send", "room": room, "content": format!("{i}-{n}"), "client_msg_id": format!("{i}-{n}")});
                let reply = client.request(body).await.unwrap();
                assert_eq!(reply["ok"], true, "{reply}");
                acked.push(reply["message"]["id"].as_str().unwrap().to_owned());
            }
            acked
        }
    });
    let acked: Vec<String> = futures::future::join_all(sending).await.into_iter().flatten().collect();
    assert_eq!(acked.len(), 1000);
    let acked: HashSet<String> = acked.into_iter().collect();

    // A marker after every send: a receiver that got anything extra gets it before the marker.
    let mut marking = app.ws(&app.node, &owner, Codec::Json).await;
    marking.request(json!({"type": "send", "room": room, "content": "marker"})).await.unwrap();
    for receiver in [&mut on_first, &mut on_second] {
        let mut got = receiver.collect_messages(&room, 1001, QUIET).await;
        assert_eq!(got.pop().map(|m| m["content"].clone()), Some(json!("marker")), "{:?}", receiver.codec);
        assert_strictly_increasing(&seqs(&got));
        let ids: HashSet<String> = got.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids.len(), got.len(), "a message arrived twice");
        assert_eq!(ids, acked, "receiver on {:?} missed or invented messages", receiver.codec);
    }
    // The 1,000 and the marker, each once.
    assert_eq!(app.persisted(&room, 1001, Duration::from_secs(20)).await, 1001);
    let distinct: i64 =
        sqlx::query_scalar("select count(distinct id) from messages").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(distinct, 1001);
}

#[tokio::test]
async fn a_repeated_client_msg_id_returns_the_original_and_is_delivered_and_stored_once() {
    let app = TestApp::spawn().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut watcher = joined(&app, &app.node, &bob, &room, Codec::Json).await;
    let mut sender = app.ws(&app.node, &ann, Codec::Json).await;
    let send = json!({"type": "sendMessage", "room": room, "content": "hello", "client_msg_id": "c-1"});
    let first = sender.request(send.clone()).await.unwrap();
    let second = sender.request(send).await.unwrap();
    assert_eq!(first["message"], second["message"]);
    let rest = app
        .call(
            "POST",
            &format!("/rooms/{room}/messages"),
            Some(&ann.access),
            Some(json!({"content": "other", "client_msg_id": "c-1"})),
        )
        .await;
    assert_eq!(rest.status, 200, "{:?}", rest.body);
    assert_eq!(rest.body["id"], first["message"]["id"]);
    sender.request(json!({"type": "send", "room": room, "content": "marker"})).await.unwrap();
    let delivered = watcher.collect_messages(&room, 2, QUIET).await;
    let contents: Vec<&Value> = delivered.iter().map(|m| &m["content"]).collect();
    assert_eq!(contents, [&json!("hello"), &json!("marker")], "the repeats were not delivered");
    assert_eq!(app.persisted(&room, 2, Duration::from_secs(10)).await, 2);
    let stored: Vec<String> =
        sqlx::query_scalar("select content from messages where room_id = $1::uuid order by seq")
            .bind(&room)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(stored, ["hello", "marker"], "the repeats were not stored");
}

/// A first attempt is checked against the stream's duplicate window only: within it a double
/// send returns the original; past it the database is not asked, so a client that keeps the
/// flag on a resend gets a second message, which the persister stores beside the first (the
/// same client id twice) while resends without the flag still return the first.
#[tokio::test]
async fn a_first_attempt_is_checked_against_the_duplicate_window_only() {
    let app = TestApp::spawn_with(&["--stream-duplicate-window", "1s"]).await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    // The process that starts last sets the stream's window: the persister set its default.
    let node = app.add_node().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut sender = app.ws(&node, &ann, Codec::Json).await;
    let send = |first_attempt: bool| json!({"type": "send", "room": room, "content": "hi", "client_msg_id": "c-1", "first_attempt": first_attempt});
    let original = sender.request(send(true)).await.unwrap()["message"].clone();
    let double = sender.request(send(true)).await.unwrap();
    assert_eq!(double["message"], original);
    assert_eq!(app.persisted(&room, 1, Duration::from_secs(10)).await, 1);

    // The window passes: the stream forgets the client id, the database still has it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resent = sender.request(send(false)).await.unwrap();
    assert_eq!(resent["message"], original);
    let trusted = sender.request(send(true)).await.unwrap();
    assert!(trusted["message"]["seq"].as_u64() > original["seq"].as_u64(), "{trusted}");
    assert_eq!(app.persisted(&room, 2, Duration::from_secs(10)).await, 2);
    let rest = app
        .call(
            "POST",
            &format!("/rooms/{room}/messages"),
            Some(&ann.access),
            Some(json!({"content": "again", "client_msg_id": "c-1"})),
        )
        .await;
    assert_eq!(rest.status, 200, "{:?}", rest.body);
    assert_eq!(rest.body["id"], original["id"]);
}

#[tokio::test]
async fn outsiders_cannot_join_send_or_read_a_group() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, eve) = (app.register("ann").await, app.register("eve").await);
    let room = app.create_room(&ann, "group", &[]).await;
    let mut client = app.ws(&app.node, &eve, Codec::Json).await;
    for command in [
        json!({"type": "join", "room": room}),
        json!({"type": "send", "room": room, "content": "let me in"}),
        json!({"type": "history", "room": room}),
    ] {
        let reply = client.request(command.clone()).await.unwrap();
        assert_eq!(
            (reply["ok"].as_bool(), reply["error"]["code"].as_str()),
            (Some(false), Some("forbidden")),
            "{command}"
        );
    }
    let rest = app.call("GET", &format!("/rooms/{room}/messages"), Some(&eve.access), None).await;
    assert_eq!(rest.status, 403);
    let rest = app
        .call("POST", &format!("/rooms/{room}/messages"), Some(&eve.access), Some(json!({"content": "x"})))
        .await;
    assert_eq!(rest.status, 403);
}

#[tokio::test]
async fn json_and_msgpack_clients_see_the_same_messages() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut json_client = joined(&app, &app.node, &ann, &room, Codec::Json).await;
    let mut msgpack_client = joined(&app, &app.node, &bob, &room, Codec::MsgPack).await;
    for (i, client) in [&mut json_client, &mut msgpack_client].into_iter().enumerate() {
        let metadata = json!({"n": i, "tags": ["a", "b"]});
        let reply = client
            .request(
                json!({"type": "send", "room": room, "content": format!("from {i}"), "metadata": metadata}),
            )
            .await
            .unwrap();
        assert_eq!(reply["ok"], true, "{reply}");
    }
    let a = json_client.collect_messages(&room, 2, QUIET).await;
    let b = msgpack_client.collect_messages(&room, 2, QUIET).await;
    assert_eq!(a.len(), 2);
    assert_eq!(a, b);
    assert_eq!(a[1]["metadata"]["tags"][1], "b");
}

#[tokio::test]
async fn a_client_that_reconnects_to_another_node_with_since_gets_exactly_what_it_missed() {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let second = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut sender = app.ws(&second, &ann, Codec::Json).await;
    let mut reader = joined(&app, &app.node, &bob, &room, Codec::Json).await;
    for n in 0..10 {
        sender.request(json!({"type": "send", "room": room, "content": format!("m{n}")})).await.unwrap();
    }
    let seen = reader.collect_messages(&room, 10, QUIET).await;
    let last_seen = seen.last().unwrap()["seq"].as_u64().unwrap();
    reader.close().await;
    let mut missed_ids = Vec::new();
    for n in 10..25 {
        let reply =
            sender.request(json!({"type": "send", "room": room, "content": format!("m{n}")})).await.unwrap();
        missed_ids.push(reply["message"]["id"].clone());
    }
    let mut again = app.ws(&second, &bob, Codec::Json).await;
    let reply = again.request(json!({"type": "joinRoom", "room": room, "since": last_seen})).await.unwrap();
    assert_eq!(reply["recovered"], true);
    let replayed: Vec<Value> =
        reply["messages"].as_array().unwrap().iter().map(|m| m["id"].clone()).collect();
    assert_eq!(replayed, missed_ids);
    // And live from there on, with nothing repeated.
    sender.request(json!({"type": "send", "room": room, "content": "live"})).await.unwrap();
    let live = again.collect_messages(&room, 2, Duration::from_secs(1)).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["content"], "live");
}

#[tokio::test]
async fn resuming_while_messages_keep_arriving_loses_and_repeats_nothing() {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut sender = app.ws(&app.node, &ann, Codec::Json).await;
    let first = sender.request(json!({"type": "send", "room": room, "content": "start"})).await.unwrap();
    let since = first["message"]["seq"].as_u64().unwrap();
    let room_for_task = room.clone();
    let (under_way, started) = tokio::sync::oneshot::channel();
    let sending = tokio::spawn(async move {
        let mut ids = Vec::new();
        let mut under_way = Some(under_way);
        for n in 0..300 {
            let reply = sender
                .request(json!({"type": "send", "room": room_for_task, "content": format!("n{n}")}))
                .await
                .unwrap();
            ids.push(reply["message"]["seq"].as_u64().unwrap());
            if n == 10
                && let Some(under_way) = under_way.take()
            {
                let _ = under_way.send(());
            }
        }
        ids
    });
    // The reader resumes while the sends are under way.
    started.await.unwrap();
    let mut reader = app.ws(&app.node, &bob, Codec::Json).await;
    let reply = reader.request(json!({"type": "join", "room": room, "since": since})).await.unwrap();
    let mut got: Vec<u64> =
        reply["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    let sent = sending.await.unwrap();
    let live = reader.collect_messages(&room, sent.len() - got.len(), QUIET).await;
    got.extend(seqs(&live));
    assert_strictly_increasing(&got);
    assert_eq!(got, sent);
}

#[tokio::test]
async fn history_includes_acknowledged_messages_the_persister_has_not_written() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let path = format!("/rooms/{room}/messages");
    for n in 0..5 {
        let sent =
            app.call("POST", &path, Some(&ann.access), Some(json!({"content": format!("m{n}")}))).await;
        assert_eq!(sent.status, 201, "{:?}", sent.body);
    }
    // No persister runs: all five live only in the stream.
    assert_eq!(app.persisted(&room, 1, Duration::ZERO).await, 0);
    let page = app.call("GET", &format!("{path}?limit=3"), Some(&ann.access), None).await;
    assert_eq!(page.status, 200);
    let contents: Vec<&str> =
        page.body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["m2", "m3", "m4"]);
    assert_eq!(page.body["has_more"], true);
    // Half written, half not: the pages still join up.
    let persister = app.start_persister().await.unwrap();
    app.persisted(&room, 5, Duration::from_secs(10)).await;
    persister.stop().await.unwrap();
    for n in 5..8 {
        app.call("POST", &path, Some(&ann.access), Some(json!({"content": format!("m{n}")}))).await;
    }
    let all = app.call("GET", &format!("{path}?limit=200"), Some(&ann.access), None).await;
    let contents: Vec<&str> =
        all.body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    let first_seq = all.body["messages"][1]["seq"].as_u64().unwrap();
    let after = app.call("GET", &format!("{path}?after={first_seq}&limit=2"), Some(&ann.access), None).await;
    let contents: Vec<&str> =
        after.body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["m2", "m3"]);
}

#[tokio::test]
async fn a_crashed_persister_restarted_writes_every_acknowledged_message_once() {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let persister = app.start_persister().await.unwrap();
    let mut sender = app.ws(&app.node, &ann, Codec::Json).await;
    for n in 0..400 {
        if n == 150 {
            persister_crash_point(&app, &room).await;
        }
        sender.request(json!({"type": "send", "room": room, "content": format!("m{n}")})).await.unwrap();
    }
    persister.crash();
    let again = app.start_persister().await.unwrap();
    assert_eq!(app.persisted(&room, 400, Duration::from_secs(20)).await, 400);
    // Two persisters on the same consumer write nothing twice.
    let other = app.start_persister().await.unwrap();
    for n in 400..600 {
        sender.request(json!({"type": "send", "room": room, "content": format!("m{n}")})).await.unwrap();
    }
    // A marker after the 600: once it is stored, anything written twice would be too.
    sender.request(json!({"type": "send", "room": room, "content": "marker"})).await.unwrap();
    assert_eq!(app.persisted(&room, 601, Duration::from_secs(20)).await, 601);
    let marker: i64 = sqlx::query_scalar("select count(*) from messages where content = 'marker'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(marker, 1);
    assert_eq!(app.persisted(&room, 602, Duration::ZERO).await, 601);
    drop((again, other));
}

/// Lets part of the stream reach PostgreSQL before the crash, so the crash falls mid-stream.
async fn persister_crash_point(app: &TestApp, room: &str) {
    app.persisted(room, 100, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_poison_message_in_the_stream_is_set_aside_and_the_rest_is_written() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    // Something that is not a message, stored in the stream on the room's subject.
    let client = async_nats::connect(chat_tests::nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = format!("{}.msg.{room}", app.stream.prefix);
    js.publish(subject, "not a message".into()).await.unwrap().await.unwrap();
    let path = format!("/rooms/{room}/messages");
    let sent = app.call("POST", &path, Some(&ann.access), Some(json!({"content": "after the poison"}))).await;
    assert_eq!(sent.status, 201);
    // History over the unpersisted tail skips it.
    let page = app.call("GET", &path, Some(&ann.access), None).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(page.body["messages"].as_array().unwrap().len(), 1);
    // The persister sets it aside and writes the rest.
    let _persister = app.start_persister().await.unwrap();
    assert_eq!(app.persisted(&room, 1, Duration::from_secs(10)).await, 1);
    let text = app.http.get(app.node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("chat_persister_poison_total"), "poison is counted");
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_closed_with_4002_and_resumes_with_since() {
    let app = TestApp::spawn_with(&["--send-rate", "0", "--outbound-queue", "8"]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let mut sleeper = joined(&app, &app.node, &bob, &room, Codec::Json).await;
    let mut sender = app.ws(&app.node, &ann, Codec::Json).await;
    // Bob reads nothing while megabytes pile up: the socket's buffers fill, then his queue.
    let content = "x".repeat(3_900);
    let mut sent = 0;
    for _ in 0..2_000 {
        let reply = sender.request(json!({"type": "send", "room": room, "content": content})).await.unwrap();
        assert_eq!(reply["ok"], true);
        sent += 1;
        // Bob starts reading soon after the node gives up on him: it waits only so long for
        // him to take the close.
        if sent % 20 == 0 && !app.is_online(&room, &ann, &bob).await {
            break;
        }
    }
    assert_eq!(sleeper.close_code(Duration::from_secs(10)).await, Some(4002));
    // Reconnecting with since gets the rest.
    let mut again = app.ws(&app.node, &bob, Codec::Json).await;
    let reply = again.request(json!({"type": "join", "room": room, "since": 0})).await.unwrap();
    assert_eq!(reply["messages"].as_array().unwrap().len(), sent);
}

#[tokio::test]
async fn while_the_database_refuses_writes_the_persister_retries_and_loses_nothing() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let _persister = app.start_persister().await.unwrap();
    let path = format!("/rooms/{room}/messages");
    app.call("POST", &path, Some(&ann.access), Some(json!({"content": "before"}))).await;
    assert_eq!(app.persisted(&room, 1, Duration::from_secs(10)).await, 1);
    // The messages table goes away for a while: every insert fails.
    sqlx::query("alter table messages rename to messages_away").execute(&app.db.pool).await.unwrap();
    for n in 0..20 {
        let sent =
            app.call("POST", &path, Some(&ann.access), Some(json!({"content": format!("during {n}")}))).await;
        assert_eq!(sent.status, 201, "sending does not depend on the database's writes");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sqlx::query("alter table messages_away rename to messages").execute(&app.db.pool).await.unwrap();
    assert_eq!(app.persisted(&room, 21, Duration::from_secs(15)).await, 21);
}

#[tokio::test]
async fn sends_pipelined_on_one_connection_are_stored_in_the_order_they_were_sent() {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let ann = app.register("ann").await;
    let (room, other_room) =
        (app.create_room(&ann, "group", &[]).await, app.create_room(&ann, "group", &[]).await);
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    // Without waiting for replies, alternating rooms, half of them with client ids (which
    // take a database lookup first).
    for n in 0..60u64 {
        let target = if n % 2 == 0 { &room } else { &other_room };
        let mut send = json!({"type": "send", "id": n + 1, "room": target, "content": format!("{n}")});
        if n % 3 == 0 {
            send["client_msg_id"] = json!(format!("c{n}"));
        }
        client.send_value(&send).await.unwrap();
    }
    let mut seq_of = std::collections::BTreeMap::new();
    while seq_of.len() < 60 {
        let frame = client.next_frame(Duration::from_secs(10)).await.expect("every send answered");
        if frame["type"] == "reply" {
            assert_eq!(frame["ok"], true, "{frame}");
            seq_of.insert(frame["id"].as_u64().unwrap() - 1, frame["message"]["seq"].as_u64().unwrap());
        }
    }
    for parity in [0, 1] {
        let seqs: Vec<u64> = seq_of.iter().filter(|(n, _)| *n % 2 == parity).map(|(_, s)| *s).collect();
        assert!(seqs.is_sorted(), "room {parity}: stored out of order: {seqs:?}");
    }
}
