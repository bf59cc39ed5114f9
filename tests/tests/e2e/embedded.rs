//! Embedded mode: one `chat-node` with none of the service URLs, keeping everything in its
//! data folder, over REST and WebSocket, across restarts, and as a real process.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use chat_node::Application;
use chat_node::config::Cli;
use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::process::Process;
use chat_tests::ws::Codec;
use clap::Parser;
use serde_json::{Value, json};

const NODE: &str = env!("CARGO_BIN_EXE_chat-node-under-test");
const WAIT: Duration = Duration::from_secs(5);

fn seqs(messages: &Value) -> Vec<u64> {
    messages.as_array().expect("a list of messages").iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn an_embedded_node_delivers_live_serves_history_and_resumes_with_since() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let login = json!({"username": "bob", "password": bob.password});
    assert_eq!(app.call("POST", "/auth/login", None, Some(login)).await.status, 200);
    let room = app.create_room(&ann, &[&bob]).await;

    let mut reader = app.ws(&bob, Codec::MsgPack).await;
    assert_eq!(reader.request(json!({"type": "join", "room": room})).await.unwrap()["ok"], true);
    let mut sender = app.ws(&ann, Codec::Json).await;
    let mut acked = Vec::new();
    for n in 0..5 {
        let send = json!({"type": "send", "room": room, "content": format!("m{n}"), "client_msg_id": format!("c{n}")});
        let reply = sender.request(send).await.unwrap();
        assert_eq!(reply["ok"], true, "{reply}");
        acked.push(reply["message"]["seq"].as_u64().unwrap());
    }
    let retried = sender
        .request(json!({"type": "send", "room": room, "content": "m4 again", "client_msg_id": "c4"}))
        .await
        .unwrap();
    assert_eq!(retried["message"]["seq"].as_u64(), Some(acked[4]), "a retried send is the same message");
    let live = reader.collect_messages(&room, 5, WAIT).await;
    assert_eq!(seqs(&Value::Array(live)), acked);

    let rest = app
        .call(
            "POST",
            &format!("/rooms/{room}/messages"),
            Some(&bob.access),
            Some(json!({"content": "by REST"})),
        )
        .await;
    assert_eq!(rest.status, 201, "{:?}", rest.body);
    acked.push(rest.body["seq"].as_u64().unwrap());
    let history = app.call("GET", &format!("/rooms/{room}/messages?limit=50"), Some(&ann.access), None).await;
    assert_eq!(seqs(&history.body["messages"]), acked);
    assert_eq!(history.body["has_more"], false);

    let mut resumed = app.ws(&bob, Codec::Json).await;
    let join = json!({"type": "join", "room": room, "since": acked[2]});
    let replay = resumed.request(join).await.unwrap();
    assert_eq!(replay["recovered"], true);
    assert_eq!(seqs(&replay["messages"]), acked[3..]);

    let rooms = app.call("GET", "/rooms", Some(&bob.access), None).await;
    assert_eq!(rooms.body["rooms"][0]["unread_count"], 6);
    let read = json!({"seq": acked[3]});
    assert_eq!(
        app.call("POST", &format!("/rooms/{room}/read"), Some(&bob.access), Some(read)).await.status,
        204
    );
    let rooms = app.call("GET", "/rooms", Some(&bob.access), None).await;
    assert_eq!(rooms.body["rooms"][0]["unread_count"], 2);
}

#[tokio::test]
async fn a_restarted_embedded_node_keeps_users_rooms_messages_and_its_signing_key() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, &[&bob]).await;
    let mut before = Vec::new();
    for n in 0..3 {
        let body = json!({"content": format!("before {n}"), "client_msg_id": format!("c{n}")});
        let sent = app.call("POST", &format!("/rooms/{room}/messages"), Some(&ann.access), Some(body)).await;
        before.push(sent.body["seq"].as_u64().unwrap());
    }
    let key = std::fs::read(dir.path.join("jwt.key")).unwrap();
    app.stop().await.unwrap();

    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    assert_eq!(std::fs::read(dir.path.join("jwt.key")).unwrap(), key, "the key is made once");
    let me = app.call("GET", "/users/me", Some(&ann.access), None).await;
    assert_eq!((me.status, me.body["username"].as_str()), (200, Some("ann")), "an access token from before");
    let refreshed =
        app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": bob.refresh}))).await;
    assert_eq!(refreshed.status, 200, "a refresh token from before: {:?}", refreshed.body);
    let login = json!({"username": "bob", "password": bob.password});
    assert_eq!(app.call("POST", "/auth/login", None, Some(login)).await.status, 200);

    let rooms = app.call("GET", "/rooms", Some(&bob.access), None).await;
    assert_eq!(rooms.body["rooms"][0]["id"], room.as_str());
    assert_eq!(rooms.body["rooms"][0]["unread_count"], 3);
    let retried = json!({"content": "before 2", "client_msg_id": "c2"});
    let again = app.call("POST", &format!("/rooms/{room}/messages"), Some(&ann.access), Some(retried)).await;
    assert_eq!(again.body["seq"].as_u64(), Some(before[2]), "client ids are remembered across a restart");

    let mut reader = app.ws(&bob, Codec::Json).await;
    let join = reader.request(json!({"type": "join", "room": room, "since": before[0]})).await.unwrap();
    assert_eq!(seqs(&join["messages"]), before[1..]);
    let mut sender = app.ws(&ann, Codec::Json).await;
    let reply = sender.request(json!({"type": "send", "room": room, "content": "after"})).await.unwrap();
    let after = reply["message"]["seq"].as_u64().unwrap();
    assert!(after > before[2], "seqs go on after a restart");
    let live = reader.collect_messages(&room, 1, WAIT).await;
    assert_eq!(seqs(&Value::Array(live)), [after]);
    let history = app.call("GET", &format!("/rooms/{room}/messages"), Some(&bob.access), None).await;
    assert_eq!(seqs(&history.body["messages"]), [before[0], before[1], before[2], after]);
}

#[tokio::test]
async fn a_node_with_only_a_database_url_refuses_to_start_and_names_what_is_missing() {
    let args = ["chat-node", "--listen", "127.0.0.1:0", "--database-url", "postgres://127.0.0.1/chat"];
    let mut args: Vec<&str> = args.to_vec();
    // Blank values count as unset, whatever this test's environment holds.
    args.extend(["--nats-url", "", "--redis-url", ""]);
    let err = Application::build(Cli::try_parse_from(args).unwrap().config).await.err().expect("a refusal");
    let err = format!("{err:#}");
    assert!(err.contains("missing: NATS_URL (--nats-url), REDIS_URL (--redis-url)"), "{err}");
}

#[tokio::test]
async fn the_chat_node_binary_without_service_urls_runs_embedded_and_is_ready() {
    let dir = DataDir::new();
    let node = Process::embedded_node(NODE, &dir.path.join("nested")).await.unwrap();
    let ready = reqwest::get(format!("http://{}/readyz", node.addr)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let mode = |path: &str| std::fs::metadata(dir.path.join(path)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("nested"), 0o700, "the data folder is the owner's only");
    assert_eq!(mode("nested/jwt.key"), 0o600, "the key is the owner's only");
    assert_eq!(node.terminate(Duration::from_secs(10)).await.unwrap(), Some(0));
}

#[tokio::test]
async fn migrate_prepares_an_embedded_data_folder() {
    let dir = DataDir::new();
    let output = tokio::process::Command::new(NODE)
        .arg("--data-dir")
        .arg(&dir.path)
        .arg("migrate")
        .env_remove("NATS_URL")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path.join("chat.db").is_file());
}
