//! Administrators: made from the command line with the node's own settings (never over HTTP),
//! shown in their profile, and reading the audit log of what was done, in a cluster and
//! embedded.

use std::path::Path;

use chat_tests::embedded::{DataDir, EmbeddedApp};
use std::time::Duration;

use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, JWT_SECRET, TestApp, nats_url, redis_url};
use serde_json::{Value, json};

const NODE: &str = env!("CARGO_BIN_EXE_chat-node-under-test");

/// `chat-node <settings> admin <args>`: its exit code, standard output and standard error.
pub(super) async fn admin(settings: &[String], args: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::process::Command::new(NODE)
        .args(settings)
        .arg("admin")
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("JWT_SECRET")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.code(), text(output.stdout), text(output.stderr))
}

pub(super) fn cluster_settings(app: &TestApp) -> Vec<String> {
    [
        "--nats-url",
        &nats_url(),
        "--database-url",
        &app.db.url,
        "--redis-url",
        &redis_url(),
        "--jwt-secret",
        JWT_SECRET,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub(super) fn embedded_settings(dir: &Path) -> Vec<String> {
    vec!["--data-dir".into(), dir.display().to_string()]
}

#[tokio::test]
async fn the_command_line_makes_an_administrator_who_reads_the_audit_log_and_nobody_else_does() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    assert_eq!(app.call("GET", "/users/me", Some(&ann.access), None).await.body.get("role"), None);
    assert_eq!(app.call("GET", "/admin/audit", Some(&ann.access), None).await.status, 403);

    let settings = cluster_settings(&app);
    let (code, stdout, stderr) = admin(&settings, &["grant", "ANN"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("ann") && stdout.contains("admin"), "{stdout}");
    assert_eq!(app.call("GET", "/users/me", Some(&ann.access), None).await.body["role"], "admin");
    assert_eq!(
        app.call("GET", &format!("/users/{}", ann.id), Some(&bob.access), None).await.body["role"],
        "admin"
    );

    assert_eq!(admin(&settings, &["grant", "bob"]).await.0, Some(0));
    assert_eq!(admin(&settings, &["revoke", "bob"]).await.0, Some(0));
    let page = app.call("GET", "/admin/audit?limit=2", Some(&ann.access), None).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    let entries = page.body["entries"].as_array().unwrap();
    let seen: Vec<(&Value, &Value, &Value)> =
        entries.iter().map(|e| (&e["action"], &e["target_user"], &e["actor"])).collect();
    assert_eq!(
        seen,
        [
            (&json!("admin_revoked"), &json!(bob.id), &Value::Null),
            (&json!("admin_granted"), &json!(bob.id), &Value::Null)
        ]
    );
    let next = page.body["next"].as_str().unwrap();
    let rest = app.call("GET", &format!("/admin/audit?before={next}"), Some(&ann.access), None).await;
    assert_eq!(rest.body["entries"].as_array().unwrap().len(), 1);
    assert_eq!((&rest.body["entries"][0]["target_user"], &rest.body["next"]), (&json!(ann.id), &Value::Null));

    assert_eq!(app.call("GET", "/admin/audit", Some(&bob.access), None).await.status, 403);
    assert_eq!(app.call("GET", "/admin/audit", None, None).await.status, 401);
    for (query, field) in
        [("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("before=nope", "before")]
    {
        let refused = app.call("GET", &format!("/admin/audit?{query}"), Some(&ann.access), None).await;
        assert_eq!(refused.status, 400, "{query}");
        assert!(refused.body["error"]["fields"][field].is_string(), "{query}: {:?}", refused.body);
    }
    // Nothing over HTTP makes an administrator.
    let attempt = app.call("PATCH", "/users/me", Some(&bob.access), Some(json!({"role": "admin"}))).await;
    assert_ne!(attempt.status, 200, "{:?}", attempt.body);
    assert_eq!(app.call("GET", "/users/me", Some(&bob.access), None).await.body.get("role"), None);
}

#[tokio::test]
async fn the_command_line_refuses_unknown_and_malformed_usernames_and_changes_nothing() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let settings = cluster_settings(&app);
    let (code, _, stderr) = admin(&settings, &["grant", "nobody"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no user named \"nobody\""), "{stderr}");
    let (code, _, stderr) = admin(&settings, &["grant", "a b"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is not a username"), "{stderr}");
    assert_ne!(admin(&settings, &["grant"]).await.0, Some(0), "a username is required");
    assert_ne!(admin(&settings, &["promote", "ann"]).await.0, Some(0));
    assert_eq!(app.call("GET", "/users/me", Some(&ann.access), None).await.body.get("role"), None);
    let entries: i64 =
        sqlx::query_scalar("select count(*) from audit_log").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(entries, 0);
}

#[tokio::test]
async fn an_embedded_node_is_administered_from_the_command_line_too() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let ann = app.register("ann").await;
    let (code, _, stderr) = admin(&embedded_settings(&dir.path), &["grant", "ann"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(app.call("GET", "/users/me", Some(&ann.access), None).await.body["role"], "admin");
    let page = app.call("GET", "/admin/audit", Some(&ann.access), None).await;
    assert_eq!(page.body["entries"][0]["action"], "admin_granted");
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_everywhere_within_a_second_and_stays_out_until_enabled() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (root, bob) = (app.register("root").await, app.register("bob").await);
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let mut here = WsClient::connect(app.node.addr, Some(&bob.access), Codec::Json).await.unwrap();
    let mut there = WsClient::connect(other.addr, Some(&bob.access), Codec::MsgPack).await.unwrap();
    for socket in [&mut here, &mut there] {
        assert_eq!(socket.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    }

    let disabled =
        app.call("POST", &format!("/admin/users/{}/disable", bob.id), Some(&root.access), None).await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert!(disabled.body["disabled_at"].is_string());
    for socket in [&mut here, &mut there] {
        assert_eq!(socket.close_code(Duration::from_secs(1)).await, Some(4001), "closed within a second");
    }
    for node in [&app.node, &other] {
        assert_eq!(app.call_on(node, "GET", "/users/me", Some(&bob.access), None).await.status, 401);
    }
    let login = json!({"username": "bob", "password": bob.password});
    let refused = app.call_on(&other, "POST", "/auth/login", None, Some(login.clone())).await;
    assert_eq!((refused.status, refused.code()), (403, Some("forbidden")), "{:?}", refused.body);
    let refresh = json!({"refresh_token": bob.refresh});
    assert_eq!(app.call("POST", "/auth/refresh", None, Some(refresh)).await.status, 401);
    let directory = app.call("GET", "/users?query=bo", Some(&root.access), None).await;
    assert_eq!(directory.body["users"], json!([]));
    let listed = app.call("GET", "/admin/users?query=bo", Some(&root.access), None).await;
    assert_eq!(listed.body["users"], json!([disabled.body]));

    let enabled =
        app.call("POST", &format!("/admin/users/{}/enable", bob.id), Some(&root.access), None).await;
    assert_eq!((enabled.status, enabled.body.get("disabled_at")), (200, None));
    let back = app.call_on(&other, "POST", "/auth/login", None, Some(login)).await;
    assert_eq!(back.status, 200);
    let audit = app.call("GET", "/admin/audit", Some(&root.access), None).await;
    let actions: Vec<&Value> =
        audit.body["entries"].as_array().unwrap().iter().map(|e| &e["action"]).collect();
    assert_eq!(actions, [&json!("user_enabled"), &json!("user_disabled"), &json!("admin_granted")]);
    assert_eq!(audit.body["entries"][0]["actor"], json!(root.id));
}

#[tokio::test]
async fn only_administrators_list_disable_and_enable_users_and_bad_requests_are_refused() {
    let app = TestApp::spawn().await.unwrap();
    let (root, bob) = (app.register("root").await, app.register("bob").await);
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let disable = |target: &str| format!("/admin/users/{target}/disable");
    assert_eq!(app.call("POST", &disable(&root.id), Some(&bob.access), None).await.status, 403);
    assert_eq!(
        app.call("POST", &format!("/admin/users/{}/enable", root.id), Some(&bob.access), None).await.status,
        403
    );
    assert_eq!(app.call("GET", "/admin/users?query=r", Some(&bob.access), None).await.status, 403);
    assert_eq!(
        app.call("POST", &disable(&root.id), Some(&root.access), None).await.status,
        403,
        "not oneself"
    );
    assert_eq!(
        app.call("POST", &disable(&uuid::Uuid::new_v4().to_string()), Some(&root.access), None).await.status,
        404
    );
    assert_eq!(app.call("POST", &disable("nope"), Some(&root.access), None).await.status, 400);
    assert_eq!(app.call("POST", &disable(&bob.id), None, None).await.status, 401);
    for query in ["", "?query=", "?query=b&limit=0", "?query=b&after=A%20B"] {
        let refused = app.call("GET", &format!("/admin/users{query}"), Some(&root.access), None).await;
        assert_eq!(refused.status, 400, "{query}: {:?}", refused.body);
    }
    assert_eq!(app.call("GET", "/users/me", Some(&bob.access), None).await.status, 200, "nothing was done");
}

/// Every page of `target`'s bulk deletion, `limit` at a time: the pages' `deleted` counts.
async fn delete_all_messages(app: &TestApp, admin: &Account, target: &Account, limit: u64) -> Vec<u64> {
    let path = format!("/admin/users/{}/messages/delete", target.id);
    let (mut counts, mut after) = (Vec::new(), Value::Null);
    loop {
        let body =
            if after.is_null() { json!({"limit": limit}) } else { json!({"limit": limit, "after": after}) };
        let page = app.call("POST", &path, Some(&admin.access), Some(body)).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        counts.push(page.body["deleted"].as_u64().unwrap());
        after = page.body["next"].clone();
        if after.is_null() {
            return counts;
        }
        assert!(counts.len() < 20, "the walk ends");
    }
}

#[tokio::test]
async fn an_administrator_deletes_every_message_a_user_sent_live_on_every_node_and_at_rest() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let (root, bob, carol) =
        (app.register("root").await, app.register("bob").await, app.register("carol").await);
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let carols = app.create_room(&carol, "group", &[&bob]).await;
    let bobs = app.create_room(&bob, "group", &[&carol]).await;
    let mut watcher = app.ws(&other, &carol, Codec::MsgPack).await;
    watcher.request(json!({"type": "join", "room": carols})).await.unwrap();
    let send = |account: &Account, room: &str, text: &str| {
        let path = format!("/rooms/{room}/messages");
        let (access, body) = (account.access.clone(), json!({"content": text}));
        let app = &app;
        async move { assert_eq!(app.call("POST", &path, Some(&access), Some(body)).await.status, 201) }
    };
    for n in 0..3 {
        send(&bob, &carols, &format!("spam {n}")).await;
    }
    send(&carol, &carols, "a real message").await;
    for n in 3..5 {
        send(&bob, &bobs, &format!("spam {n}")).await;
    }
    // Sent just now: perhaps not in PostgreSQL yet when the first page begins.
    send(&bob, &carols, "spam 5").await;
    let disabled =
        app.call("POST", &format!("/admin/users/{}/disable", bob.id), Some(&root.access), None).await;
    assert_eq!(disabled.status, 200);

    let counts = delete_all_messages(&app, &root, &bob, 2).await;
    assert_eq!(counts.iter().sum::<u64>(), 6, "{counts:?}");

    let mut deletions = Vec::new();
    while deletions.len() < 4 {
        let frame = watcher.next_frame(Duration::from_secs(5)).await.expect("a deletion frame");
        if frame["type"] == "message_deleted" {
            assert_eq!(frame["by"], json!(root.id));
            deletions.push(frame["message"]["seq"].clone());
        }
    }
    let history = app.call("GET", &format!("/rooms/{carols}/messages"), Some(&carol.access), None).await;
    let shown: Vec<(&Value, &Value)> =
        history.body["messages"].as_array().unwrap().iter().map(|m| (&m["content"], &m["deleted"])).collect();
    let tombstone = (&json!(""), &json!(true));
    assert_eq!(shown, [tombstone, tombstone, tombstone, (&json!("a real message"), &Value::Null), tombstone]);

    // At rest: every row of bob's is a tombstone without its text, and nothing of carol's is.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = sqlx::query_scalar(
            "select count(*) from messages where sender_id = $1::uuid and (deleted_at is null or content <> '')",
        )
        .bind(&bob.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} of bob's messages still stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let carols_rows: i64 =
        sqlx::query_scalar("select count(*) from messages where sender_id = $1::uuid and deleted_at is null")
            .bind(&carol.id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(carols_rows, 1);

    let audit = app.call("GET", "/admin/audit", Some(&root.access), None).await;
    let deleted: u64 = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "messages_deleted" && e["target_user"] == json!(bob.id))
        .map(|e| e["detail"].as_str().unwrap().split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(deleted, 6);
    assert_eq!(delete_all_messages(&app, &root, &bob, 100).await, [0], "a second walk finds nothing");
}

#[tokio::test]
async fn an_embedded_administrator_deletes_a_users_messages_too() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let (root, bob) = (app.register("root").await, app.register("bob").await);
    assert_eq!(admin(&embedded_settings(&dir.path), &["grant", "root"]).await.0, Some(0));
    let room =
        app.call("POST", "/rooms", Some(&bob.access), Some(json!({"name": "r", "type": "group"}))).await;
    let room = room.body["id"].as_str().unwrap().to_owned();
    let path = format!("/rooms/{room}/messages");
    for text in ["one", "two"] {
        let sent = app.call("POST", &path, Some(&bob.access), Some(json!({"content": text}))).await;
        assert_eq!(sent.status, 201);
    }
    let delete = format!("/admin/users/{}/messages/delete", bob.id);
    let page = app.call("POST", &delete, Some(&root.access), Some(json!({}))).await;
    assert_eq!((page.status, &page.body), (200, &json!({"deleted": 2, "next": null})));
    let history = app.call("GET", &path, Some(&bob.access), None).await;
    assert!(history.body["messages"].as_array().unwrap().iter().all(|m| m["deleted"] == true));
}

#[tokio::test]
async fn bulk_deletion_refuses_others_than_administrators_and_bad_requests() {
    let app = TestApp::spawn().await.unwrap();
    let (root, bob) = (app.register("root").await, app.register("bob").await);
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let room = app.create_room(&bob, "group", &[]).await;
    let messages = format!("/rooms/{room}/messages");
    let sent = app.call("POST", &messages, Some(&bob.access), Some(json!({"content": "x"}))).await;
    assert_eq!(sent.status, 201);
    let path = |target: &str| format!("/admin/users/{target}/messages/delete");

    let not_admin = app.call("POST", &path(&bob.id), Some(&bob.access), Some(json!({}))).await;
    assert_eq!((not_admin.status, not_admin.code()), (403, Some("forbidden")));
    assert_eq!(app.call("POST", &path(&bob.id), None, Some(json!({}))).await.status, 401);
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(app.call("POST", &path(&unknown), Some(&root.access), Some(json!({}))).await.status, 404);
    assert_eq!(app.call("POST", &path("nope"), Some(&root.access), Some(json!({}))).await.status, 400);
    let room_cursor = format!("{room}.-1");
    let huge = "x".repeat(5000);
    for (body, field) in [
        (json!({"limit": 0}), "limit"),
        (json!({"limit": 501}), "limit"),
        (json!({"limit": "ten"}), "limit"),
        (json!({"limit": -1}), "limit"),
        (json!({"after": "x"}), "after"),
        (json!({"after": room_cursor}), "after"),
        (json!({"after": huge}), "after"),
        (json!({"after": 7}), "after"),
    ] {
        let refused = app.call("POST", &path(&bob.id), Some(&root.access), Some(body.clone())).await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, Some("invalid_input")),
            "{body}: {:?}",
            refused.body
        );
        assert!(refused.body["error"]["fields"][field].is_string(), "{body}: {:?}", refused.body);
    }
    let not_json = app.call_raw("POST", &path(&bob.id), Some(&root.access), b"{limit".to_vec()).await;
    assert_eq!(not_json.status, 400);
    let history = app.call("GET", &format!("/rooms/{room}/messages"), Some(&bob.access), None).await;
    assert_eq!(history.body["messages"][0]["content"], "x", "nothing was deleted");
}

#[tokio::test]
async fn bulk_deletions_racing_each_other_delete_each_message_once() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let _persister = app.start_persister().await.unwrap();
    let (root, bob, carol) =
        (app.register("root").await, app.register("bob").await, app.register("carol").await);
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let room = app.create_room(&carol, "group", &[&bob]).await;
    let path = format!("/rooms/{room}/messages");
    for n in 0..20 {
        let sent =
            app.call("POST", &path, Some(&bob.access), Some(json!({"content": format!("spam {n}")}))).await;
        assert_eq!(sent.status, 201);
    }
    let mut watcher = app.ws(&other, &carol, Codec::Json).await;
    watcher.request(json!({"type": "join", "room": room})).await.unwrap();

    let delete = format!("/admin/users/{}/messages/delete", bob.id);
    let pages = (0..10).map(|n| {
        let node = if n % 2 == 0 { &app.node } else { &other };
        app.call_on(node, "POST", &delete, Some(&root.access), Some(json!({})))
    });
    let answers = futures::future::join_all(pages).await;
    let deleted: u64 = answers
        .iter()
        .map(|page| {
            assert_eq!(page.status, 200, "{:?}", page.body);
            page.body["deleted"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(deleted, 20, "each message counted once across the pages");

    let mut frames = 0;
    while let Some(frame) = watcher.next_frame(Duration::from_secs(2)).await {
        if frame["type"] == "message_deleted" {
            frames += 1;
        }
    }
    assert_eq!(frames, 20, "one deletion each, live");
}
