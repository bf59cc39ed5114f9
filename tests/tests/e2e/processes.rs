//! Real processes killed with SIGKILL or stopped with SIGTERM while clients talk to them, and
//! processes that cannot start.

use std::collections::HashSet;
use std::time::Duration;

use chat_tests::process::{Process, run_to_exit};
use chat_tests::ws::{Codec, WsClient};
use chat_tests::{JWT_SECRET, TestApp, TestDatabase, nats_url, redis_url};
use serde_json::{Value, json};

const NODE: &str = env!("CARGO_BIN_EXE_chat-node-under-test");
const PERSISTER: &str = env!("CARGO_BIN_EXE_chat-persister-under-test");
const WAIT: Duration = Duration::from_secs(5);

fn seq(message: &Value) -> u64 {
    message["seq"].as_u64().expect("a seq")
}

#[tokio::test]
async fn a_node_killed_mid_conversation_loses_nothing_for_clients_that_resume_on_the_other() {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let doomed = Process::node(NODE, &app.db, &app.stream, &["--send-rate", "0"]).await.unwrap();

    let mut sender = WsClient::connect(doomed.addr, Some(&ann.access), Codec::Json).await.unwrap();
    let mut reader = WsClient::connect(doomed.addr, Some(&bob.access), Codec::MsgPack).await.unwrap();
    assert_eq!(reader.request(json!({"type": "join", "room": room})).await.unwrap()["ok"], true);

    // Ann talks through the doomed node; it dies under her between two sends.
    let mut acked: Vec<u64> = Vec::new();
    for n in 0..40 {
        let reply = sender.request(json!({"type": "send", "room": room, "content": format!("m{n}"), "client_msg_id": format!("c{n}")})).await.unwrap();
        acked.push(seq(&reply["message"]));
    }
    let before_kill = reader.collect_messages(&room, 40, WAIT).await;
    let last_seen = seq(before_kill.last().unwrap());
    doomed.kill().await;

    // The last send is retried on the surviving node with the same client id, as a client
    // that never saw the reply would; then the conversation goes on there.
    let mut sender = app.ws(&app.node, &ann, Codec::Json).await;
    let retried = sender
        .request(json!({"type": "send", "room": room, "content": "m39", "client_msg_id": "c39"}))
        .await
        .unwrap();
    assert_eq!(seq(&retried["message"]), acked[39], "a retried send is the same message");
    for n in 40..60 {
        let reply = sender.request(json!({"type": "send", "room": room, "content": format!("m{n}"), "client_msg_id": format!("c{n}")})).await.unwrap();
        acked.push(seq(&reply["message"]));
    }

    let mut reader = app.ws(&app.node, &bob, Codec::MsgPack).await;
    let resumed = reader.request(json!({"type": "join", "room": room, "since": last_seen})).await.unwrap();
    assert_eq!(resumed["recovered"], true);
    let mut seen: Vec<u64> = before_kill.iter().map(seq).collect();
    seen.extend(resumed["messages"].as_array().unwrap().iter().map(seq));
    assert_eq!(seen, acked, "every acknowledged message once, in order");
}

#[tokio::test]
async fn a_persister_killed_with_sigkill_and_restarted_writes_every_acknowledged_message_once() {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut persister = Some(Process::persister(PERSISTER, &app.db, &app.stream).await.unwrap());
    let mut sender = app.ws(&app.node, &ann, Codec::Json).await;
    let mut ids = HashSet::new();
    for n in 0..500 {
        if n == 200 {
            app.persisted(&room, 100, WAIT).await;
            persister.take().expect("running").kill_now();
        }
        let reply =
            sender.request(json!({"type": "send", "room": room, "content": format!("m{n}")})).await.unwrap();
        ids.insert(reply["message"]["id"].as_str().unwrap().to_owned());
    }
    let _restarted = Process::persister(PERSISTER, &app.db, &app.stream).await.unwrap();
    assert_eq!(app.persisted(&room, 500, Duration::from_secs(30)).await, 500);
    let stored: Vec<String> =
        sqlx::query_scalar("select id::text from messages").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(stored.into_iter().collect::<HashSet<_>>(), ids);
}

#[tokio::test]
async fn a_persister_killed_with_sigkill_in_a_burst_of_changes_and_reactions_applies_each_once_and_redacts_after_a_restart()
 {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut persister = Some(Process::persister(PERSISTER, &app.db, &app.stream).await.unwrap());
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    let mut sent = Vec::new();
    for n in 0..120 {
        let content = format!("hidden-{n}");
        let reply = client.request(json!({"type": "send", "room": room, "content": content})).await.unwrap();
        sent.push(seq(&reply["message"]));
    }
    // Every message is edited; every third is then deleted. The state each acknowledged
    // change left is what PostgreSQL must end with.
    let mut expected = std::collections::BTreeMap::new();
    for (n, message) in sent.iter().enumerate() {
        if n == 60 {
            app.persisted(&room, 120, WAIT).await;
            persister.take().expect("running").kill_now();
        }
        let edit = json!({"type": "edit", "room": room, "seq": message, "content": format!("edited-{n}")});
        let reply = client.request(edit).await.unwrap();
        assert_eq!(reply["ok"], true, "{reply}");
        // Every message gets a 👍; every other one also a ❤️, taken back at once.
        let mut reactions = vec![("react", "👍")];
        if n % 2 == 0 {
            reactions.extend([("react", "❤️"), ("unreact", "❤️")]);
        }
        let mut reply = reply;
        for (kind, emoji) in reactions {
            let reaction = json!({"type": kind, "room": room, "seq": message, "emoji": emoji});
            reply = client.request(reaction).await.unwrap();
            assert_eq!(reply["ok"], true, "{reply}");
        }
        expected.insert(*message, reply["message"].clone());
        if n % 3 == 0 {
            let reply =
                client.request(json!({"type": "delete", "room": room, "seq": message})).await.unwrap();
            assert_eq!(reply["ok"], true, "{reply}");
            expected.insert(*message, reply["message"].clone());
        }
    }
    let _restarted = Process::persister(PERSISTER, &app.db, &app.stream).await.unwrap();
    let changed: Vec<i64> = expected.values().map(|m| m["changed_seq"].as_i64().unwrap()).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let applied: i64 = sqlx::query_scalar(
            "select count(*) from messages m join unnest($1::int8[]) as c (changed_seq) using (changed_seq)",
        )
        .bind(&changed)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        if applied == 120 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{applied} of 120 changes applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The reactions of the last message come after its edit: wait for them too.
    while sqlx::query_scalar::<_, i64>("select count(*) from message_reactions")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        < 180
    {
        assert!(tokio::time::Instant::now() < deadline, "reactions not all applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let history =
        app.call("GET", &format!("/rooms/{room}/messages?limit=200"), Some(&ann.access), None).await;
    let shown: Vec<Value> = history.body["messages"].as_array().unwrap().clone();
    assert_eq!(
        shown,
        expected.values().cloned().collect::<Vec<_>>(),
        "each message as its last change left it"
    );
    let edits: i64 =
        sqlx::query_scalar("select count(*) from message_edits").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(edits, 120, "each edit recorded once");
    let reactions: (i64, i64, i64) = sqlx::query_as(
        "select count(*), sum(version), count(*) filter (where version % 2 = 1) from message_reactions",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(reactions, (180, 240, 120), "each reaction at its last version: rows, versions, standing");
    let hidden: i64 = sqlx::query_scalar(
        "select count(*) from messages where deleted_at is not null and (content <> '' or metadata is not null)",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(hidden, 0);
    let tombstones: i64 = sqlx::query_scalar("select count(*) from messages where deleted_at is not null")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(tombstones, 40);
    // The deleted messages' entries leave the stream once their deletions are acknowledged.
    let stream = chat_adapters::nats::NatsLog::connect(&nats_url(), &app.stream.prefix, Default::default())
        .await
        .unwrap();
    for (n, message) in sent.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while stream.get(*message).await.unwrap().is_some() {
            assert!(tokio::time::Instant::now() < deadline, "message {n} is still in the stream");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn sigterm_closes_sessions_with_1012_and_exits_cleanly() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let node = Process::node(NODE, &app.db, &app.stream, &[]).await.unwrap();
    let mut client = WsClient::connect(node.addr, Some(&ann.access), Codec::Json).await.unwrap();
    assert_eq!(client.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    let addr = node.addr;
    let exit = tokio::spawn(node.terminate(Duration::from_secs(10)));
    assert_eq!(client.close_code(WAIT).await, Some(1012));
    assert_eq!(exit.await.unwrap().unwrap(), Some(0));
    assert!(WsClient::connect(addr, Some(&ann.access), Codec::Json).await.is_err(), "no new connections");
}

#[tokio::test]
async fn a_node_that_cannot_start_exits_1_and_says_why() {
    let (code, stderr) =
        run_to_exit(NODE, &["--listen", "127.0.0.1:0", "--database-url", "postgres://127.0.0.1/chat"])
            .await
            .unwrap();

    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("chat-node: ") && stderr.contains("missing: NATS_URL"), "{stderr}");
}

#[tokio::test]
async fn chat_node_migrate_prepares_a_cluster_database_and_exits_1_when_it_cannot_reach_it() {
    let db = TestDatabase::create().await.unwrap();
    let (nats, redis) = (nats_url(), redis_url());
    let cluster = |database: &str| -> Vec<String> {
        let args = ["--nats-url", &nats, "--database-url", database, "--redis-url", &redis];
        [&args[..], &["--jwt-secret", JWT_SECRET, "migrate"]].concat().iter().map(|s| s.to_string()).collect()
    };
    let run = async |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_to_exit(NODE, &args).await.unwrap()
    };

    let (code, stderr) = run(cluster(&db.url)).await;
    assert_eq!(code, Some(0), "{stderr}");
    let tables: i64 =
        sqlx::query_scalar("select count(*) from pg_tables where tablename in ('users', 'messages')")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(tables, 2);

    let (code, stderr) = run(cluster("postgres://postgres@127.0.0.1:1/chat")).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("applying database migrations"), "{stderr}");
}
