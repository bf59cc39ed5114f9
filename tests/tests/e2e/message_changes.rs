//! Edits and deletions, in a cluster (two nodes and a persister) and embedded: live on every
//! node, in history, in a resume, applied once, refused when they must be, and a deletion
//! leaving no text behind.

use std::time::Duration;

use chat_adapters::nats::{NatsLog, StreamSettings};
use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, Answer, TestApp, TestNode, TestPersister, nats_url};
use serde_json::{Value, json};

/// One deployment under test: node 0 and node 1 are two nodes of a cluster, or both the one
/// embedded process.
pub(crate) enum Deployment {
    Cluster { app: Box<TestApp>, second: TestNode, _persister: TestPersister },
    Embedded { app: EmbeddedApp, _dir: DataDir },
}

impl Deployment {
    pub(crate) async fn cluster() -> Self {
        let app = TestApp::spawn().await.unwrap();
        let second = app.add_node().await.unwrap();
        let persister = app.start_persister().await.unwrap();
        Deployment::Cluster { app: Box::new(app), second, _persister: persister }
    }

    pub(crate) async fn embedded() -> Self {
        let dir = DataDir::new();
        let app = EmbeddedApp::spawn(&dir).await.unwrap();
        Deployment::Embedded { app, _dir: dir }
    }

    pub(crate) fn node(&self, index: usize) -> &TestNode {
        match self {
            Deployment::Cluster { app, second, .. } => [&app.node, second][index],
            Deployment::Embedded { app, .. } => &app.node,
        }
    }

    pub(crate) async fn call(
        &self,
        node: usize,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        match self {
            Deployment::Cluster { app, .. } => app.call_on(self.node(node), method, path, token, body).await,
            Deployment::Embedded { app, .. } => app.call(method, path, token, body).await,
        }
    }

    pub(crate) async fn register(&self, name: &str) -> Account {
        match self {
            Deployment::Cluster { app, .. } => app.register(name).await,
            Deployment::Embedded { app, .. } => app.register(name).await,
        }
    }

    pub(crate) async fn group(&self, owner: &Account, members: &[&Account]) -> String {
        match self {
            Deployment::Cluster { app, .. } => app.create_room(owner, "group", members).await,
            Deployment::Embedded { app, .. } => app.create_room(owner, members).await,
        }
    }

    pub(crate) async fn joined(&self, node: usize, who: &Account, room: &str, codec: Codec) -> WsClient {
        let mut client = WsClient::connect(self.node(node).addr, Some(&who.access), codec).await.unwrap();
        let reply = client.request(json!({"type": "join", "room": room})).await.unwrap();
        assert_eq!(reply["ok"], true, "{reply}");
        client
    }
}

/// Both deployments run each scenario.
#[macro_export]
macro_rules! in_both_modes {
    ($($name:ident),+ $(,)?) => {
        mod cluster {
            $( #[tokio::test] async fn $name() { super::$name(&super::Deployment::cluster().await).await; } )+
        }
        mod embedded {
            $( #[tokio::test] async fn $name() { super::$name(&super::Deployment::embedded().await).await; } )+
        }
    };
}

in_both_modes!(
    edits_and_deletions_reach_the_other_node_live_and_show_in_history,
    a_resume_with_since_gets_the_missed_changes_in_order,
    a_retried_edit_with_the_same_change_id_applies_once,
    refused_changes_store_nothing,
    owners_delete_anyones_message_and_members_only_their_own,
);

pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The next frame of `kind`, skipping others (presence, typing).
pub(crate) async fn next_of(client: &mut WsClient, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame =
            client.next_frame(left).await.unwrap_or_else(|| panic!("no {kind} frame within {WAIT:?}"));
        if frame["type"] == kind {
            return frame;
        }
    }
}

pub(crate) async fn ws_send(client: &mut WsClient, room: &str, content: &str) -> Value {
    let reply = client.request(json!({"type": "send", "room": room, "content": content})).await.unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    reply["message"].clone()
}

pub(crate) async fn history(deployment: &Deployment, node: usize, who: &Account, room: &str) -> Vec<Value> {
    let answer =
        deployment.call(node, "GET", &format!("/rooms/{room}/messages"), Some(&who.access), None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["messages"].as_array().unwrap().clone()
}

async fn edits_and_deletions_reach_the_other_node_live_and_show_in_history(deployment: &Deployment) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut bobs = deployment.joined(1, &bob, &room, Codec::MsgPack).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let sent = ws_send(&mut anns, &room, "meet at 5").await;
    assert_eq!(next_of(&mut bobs, "message").await["message"]["id"], sent["id"]);

    let edit = json!({"type": "edit", "room": room, "message_id": sent["id"], "content": "meet at 6"});
    let edited = anns.request(edit).await.unwrap();
    assert_eq!(edited["ok"], true, "{edited}");
    let edited = &edited["message"];
    assert_eq!((edited["id"].clone(), edited["content"].clone()), (sent["id"].clone(), json!("meet at 6")));
    assert!(
        edited["edited_at"].is_string() && edited["changed_seq"].as_u64() > sent["seq"].as_u64(),
        "{edited}"
    );
    let live = next_of(&mut bobs, "message_edited").await;
    assert_eq!(live["room"], json!(room));
    assert_eq!(live["by"], json!(ann.id));
    assert_eq!(live["seq"], edited["changed_seq"]);
    assert_eq!(&live["message"], edited);

    let path = format!("/rooms/{room}/messages/{}", sent["seq"]);
    let deleted = deployment.call(0, "DELETE", &path, Some(&ann.access), None).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    let tombstone = deleted.body;
    assert_eq!((tombstone["deleted"].clone(), tombstone["content"].clone()), (json!(true), json!("")));
    assert_eq!(tombstone["deleted_by"], json!(ann.id));
    assert!(tombstone["metadata"].is_null() && tombstone.get("edited_at").is_none(), "{tombstone}");
    let live = next_of(&mut bobs, "message_deleted").await;
    assert_eq!(live["message"], tombstone);
    assert!(live["seq"].as_u64() > edited["changed_seq"].as_u64());

    for node in [0, 1] {
        assert_eq!(history(deployment, node, &bob, &room).await, std::slice::from_ref(&tombstone));
    }
}

async fn a_resume_with_since_gets_the_missed_changes_in_order(deployment: &Deployment) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let m0 = ws_send(&mut anns, &room, "m0").await;
    let m1 = ws_send(&mut anns, &room, "m1").await;
    let since = m1["seq"].as_u64().unwrap();
    let edit = json!({"type": "edit", "room": room, "seq": m1["seq"], "content": "m1, edited"});
    let edited = anns.request(edit).await.unwrap();
    let m2 = ws_send(&mut anns, &room, "m2").await;
    let deleted =
        anns.request(json!({"type": "delete", "room": room, "message_id": m0["id"]})).await.unwrap();
    assert_eq!((edited["ok"].clone(), deleted["ok"].clone()), (json!(true), json!(true)));

    let mut bobs =
        WsClient::connect(deployment.node(1).addr, Some(&bob.access), Codec::MsgPack).await.unwrap();
    let resumed = bobs.request(json!({"type": "join", "room": room, "since": since})).await.unwrap();
    assert_eq!(resumed["ok"], true, "{resumed}");
    assert_eq!(resumed["messages"].as_array().unwrap().len(), 1);
    assert_eq!(resumed["messages"][0]["id"], m2["id"]);
    let changes = resumed["changes"].as_array().unwrap();
    let kinds: Vec<&str> = changes.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["message_edited", "message_deleted"], "{resumed}");
    assert_eq!(changes[0]["message"], edited["message"]);
    assert_eq!(changes[1]["message"], deleted["message"]);
    assert!(
        changes[0]["seq"].as_u64() < m2["seq"].as_u64() && m2["seq"].as_u64() < changes[1]["seq"].as_u64()
    );
    let text = serde_json::to_string(&resumed).unwrap();
    assert!(!text.contains("\"m0\""), "the deleted text came back: {text}");
}

async fn a_retried_edit_with_the_same_change_id_applies_once(deployment: &Deployment) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut bobs = deployment.joined(1, &bob, &room, Codec::Json).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let sent = ws_send(&mut anns, &room, "draft").await;
    let edit = json!({"type": "edit", "room": room, "seq": sent["seq"], "content": "final", "client_change_id": "e-1"});
    let first = anns.request(edit.clone()).await.unwrap();
    let again = anns.request(edit).await.unwrap();
    assert_eq!(first["message"], again["message"], "the retry answers the same state");
    let body = json!({"content": "final", "client_change_id": "e-1"});
    let path = format!("/rooms/{room}/messages/{}", sent["id"].as_str().unwrap());
    let over_rest = deployment.call(1, "PATCH", &path, Some(&ann.access), Some(body)).await;
    assert_eq!(over_rest.status, 200, "{:?}", over_rest.body);
    assert_eq!(over_rest.body, first["message"]);
    let marker = ws_send(&mut anns, &room, "marker").await;
    let mut edits = 0;
    loop {
        let frame = bobs.next_frame(WAIT).await.expect("the marker arrives");
        match frame["type"].as_str() {
            Some("message_edited") => edits += 1,
            Some("message") if frame["message"]["id"] == marker["id"] => break,
            _ => {}
        }
    }
    assert_eq!(edits, 1, "one edit delivered for three attempts");
}

async fn refused_changes_store_nothing(deployment: &Deployment) {
    let (ann, bob, eve) = (
        deployment.register("ann").await,
        deployment.register("bob").await,
        deployment.register("eve").await,
    );
    let room = deployment.group(&ann, &[&bob]).await;
    let elsewhere = deployment.group(&ann, &[]).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let sent = ws_send(&mut anns, &room, "original").await;
    let id = sent["id"].as_str().unwrap();
    let path = format!("/rooms/{room}/messages/{id}");
    let edit = |content: Value| Some(json!({ "content": content }));

    // Method, path, token, body, and the status and code expected.
    type Case<'a> = (&'a str, String, Option<&'a str>, Option<Value>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("PATCH", path.clone(), Some(&bob.access), edit(json!("mine")), 403, "forbidden"),
        ("DELETE", path.clone(), Some(&bob.access), None, 403, "forbidden"),
        ("PATCH", path.clone(), Some(&eve.access), edit(json!("x")), 403, "forbidden"),
        ("DELETE", path.clone(), Some(&eve.access), None, 403, "forbidden"),
        ("PATCH", path.clone(), None, edit(json!("x")), 401, "unauthorized"),
        ("DELETE", path.clone(), Some("not-a-token"), None, 401, "unauthorized"),
        (
            "PATCH",
            format!("/rooms/{room}/messages/999999"),
            Some(&ann.access),
            edit(json!("x")),
            404,
            "not_found",
        ),
        ("DELETE", format!("/rooms/{elsewhere}/messages/{id}"), Some(&ann.access), None, 404, "not_found"),
        (
            "PATCH",
            format!("/rooms/{room}/messages/abc"),
            Some(&ann.access),
            edit(json!("x")),
            400,
            "invalid_input",
        ),
        ("PATCH", path.clone(), Some(&ann.access), edit(json!(" ")), 400, "invalid_input"),
        ("PATCH", path.clone(), Some(&ann.access), edit(json!("x".repeat(4001))), 400, "invalid_input"),
        ("PATCH", path.clone(), Some(&ann.access), edit(json!(5)), 400, "invalid_input"),
        (
            "PATCH",
            path.clone(),
            Some(&ann.access),
            Some(json!({"content": "x", "metadata": [1]})),
            400,
            "invalid_input",
        ),
        (
            "PATCH",
            path.clone(),
            Some(&ann.access),
            Some(json!({"content": "x", "client_change_id": ""})),
            400,
            "invalid_input",
        ),
        ("PATCH", path.clone(), Some(&ann.access), Some(json!({})), 400, "invalid_input"),
    ];
    for (method, path, token, body, status, code) in cases {
        let answer = deployment.call(1, method, &path, token, body.clone()).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, Some(code)),
            "{method} {path} {body:?}: {:?}",
            answer.body
        );
    }
    let too_long = deployment.call(0, "PATCH", &path, Some(&ann.access), edit(json!("x".repeat(4001)))).await;
    assert!(too_long.body["error"]["fields"]["content"].is_string(), "{:?}", too_long.body);

    let ws_refusals = [
        (json!({"type": "edit", "room": room, "content": "x"}), "invalid_input"),
        (json!({"type": "delete", "room": room, "message_id": id, "seq": 1}), "invalid_input"),
        (json!({"type": "edit", "room": room, "message_id": "nope", "content": "x"}), "invalid_input"),
        (json!({"type": "delete", "room": elsewhere, "message_id": id}), "not_found"),
    ];
    for (frame, code) in ws_refusals {
        let reply = anns.request(frame.clone()).await.unwrap();
        assert_eq!(
            (reply["ok"].clone(), reply["error"]["code"].clone()),
            (json!(false), json!(code)),
            "{frame}: {reply}"
        );
    }
    let mut bobs = deployment.joined(1, &bob, &room, Codec::Json).await;
    let not_his =
        bobs.request(json!({"type": "edit", "room": room, "message_id": id, "content": "x"})).await.unwrap();
    assert_eq!(not_his["error"]["code"], "forbidden", "{not_his}");

    assert_eq!(history(deployment, 0, &ann, &room).await, [sent], "nothing was changed");
}

async fn owners_delete_anyones_message_and_members_only_their_own(deployment: &Deployment) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut bobs = deployment.joined(1, &bob, &room, Codec::Json).await;
    let by_bob = ws_send(&mut bobs, &room, "bob's own").await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let by_ann = ws_send(&mut anns, &room, "ann's").await;
    let moderated =
        anns.request(json!({"type": "delete", "room": room, "message_id": by_bob["id"]})).await.unwrap();
    assert_eq!(moderated["message"]["deleted_by"], json!(ann.id), "{moderated}");
    let own = bobs.request(json!({"type": "delete", "room": room, "seq": by_ann["seq"]})).await.unwrap();
    assert_eq!(own["error"]["code"], "forbidden", "{own}");
    let again =
        anns.request(json!({"type": "delete", "room": room, "message_id": by_bob["id"]})).await.unwrap();
    assert_eq!(again["message"], moderated["message"], "deleting twice answers the tombstone");
}

/// Whether the stream still holds an entry under `seq`.
async fn stream_entry(prefix: &str, seq: u64) -> Option<()> {
    let nats = NatsLog::connect(&nats_url(), prefix, StreamSettings::default()).await.unwrap();
    nats.get(seq).await.unwrap().map(drop)
}

#[tokio::test]
async fn a_deletion_leaves_no_text_in_postgresql_nor_in_the_stream() {
    let deployment = Deployment::cluster().await;
    let Deployment::Cluster { app, .. } = &deployment else { unreachable!() };
    let ann = deployment.register("ann").await;
    let room = deployment.group(&ann, &[]).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let sent = ws_send(&mut anns, &room, "TOPSECRET one").await;
    let edit = json!({"type": "edit", "room": room, "seq": sent["seq"], "content": "TOPSECRET two", "metadata": {"k": "TOPSECRET three"}});
    let edited = anns.request(edit).await.unwrap();
    let deleted = anns.request(json!({"type": "delete", "room": room, "seq": sent["seq"]})).await.unwrap();
    let (message_seq, edit_seq) =
        (sent["seq"].as_u64().unwrap(), edited["message"]["changed_seq"].as_u64().unwrap());
    let deletion_seq = deleted["message"]["changed_seq"].as_u64().unwrap();

    // The persister acknowledges a deletion once PostgreSQL has the tombstone and the stream
    // has lost the text.
    let deadline = tokio::time::Instant::now() + WAIT;
    while stream_entry(&app.stream.prefix, edit_seq).await.is_some()
        || stream_entry(&app.stream.prefix, message_seq).await.is_some()
    {
        assert!(tokio::time::Instant::now() < deadline, "the stream still holds the deleted text");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stream_entry(&app.stream.prefix, deletion_seq).await.is_some(), "the deletion itself stays");
    let rows_with_text: i64 =
        sqlx::query_scalar("select count(*) from messages where messages::text like '%TOPSECRET%'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(rows_with_text, 0);
    let tombstones: i64 =
        sqlx::query_scalar("select count(*) from messages where deleted_at is not null and content = ''")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(tombstones, 1);

    let mut fresh = WsClient::connect(deployment.node(1).addr, Some(&ann.access), Codec::Json).await.unwrap();
    let resumed = fresh.request(json!({"type": "join", "room": room, "since": 0})).await.unwrap();
    let everything = format!("{resumed} {:?}", history(&deployment, 1, &ann, &room).await);
    assert!(!everything.contains("TOPSECRET"), "{everything}");
}
