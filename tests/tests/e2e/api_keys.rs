//! The server-to-server API: administrators make and revoke API keys; an application backend
//! acts as its users with one, on any node, within the key's scopes, with every rule of the
//! user routes, in a cluster and embedded.

use std::time::Duration;

use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::ws::Codec;
use chat_tests::{Account, Answer, TestApp};
use serde_json::{Value, json};

use super::admin::{admin, cluster_settings, embedded_settings};

/// Makes a key with `scopes` as `root`: the secret and the key's id.
async fn new_key(app: &TestApp, root: &Account, scopes: &[&str]) -> (String, String) {
    let body = json!({"name": "backend", "scopes": scopes});
    let made = app.call("POST", "/admin/api-keys", Some(&root.access), Some(body)).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    (made.body["secret"].as_str().unwrap().to_owned(), made.body["key"]["id"].as_str().unwrap().to_owned())
}

fn assert_refused(answer: &Answer, status: u16, code: &str) {
    assert_eq!((answer.status, answer.code()), (status, Some(code)), "{:?}", answer.body);
}

#[tokio::test]
async fn a_backend_acts_as_its_users_on_any_node_until_its_key_is_revoked() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (root, ann, bob) = (app.register("root").await, app.register("ann").await, app.register("bob").await);
    let carol = app.register("carol").await;
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let (secret, id) = new_key(&app, &root, &["messages:publish", "rooms:write", "users:read"]).await;
    assert!(secret.starts_with("ck_") && secret.len() == 46, "{secret}");
    let listed = app.call("GET", "/admin/api-keys", Some(&root.access), None).await;
    assert_eq!(listed.body["keys"][0]["id"], json!(id));
    assert_eq!(listed.body["keys"][0]["scopes"], json!(["messages:publish", "rooms:write", "users:read"]));
    assert!(!listed.body.to_string().contains(&secret[3..]), "the secret is shown once");
    let stored: i64 =
        sqlx::query_scalar("select count(*) from api_keys where secret_hash = sha256($1::bytea)")
            .bind(secret.as_bytes())
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(stored, 1, "only the hash is stored");

    let mut bobs_socket = app.ws(&app.node, &bob, Codec::MsgPack).await;
    let body = json!({"name": "Order 1234", "type": "group", "member_usernames": ["bob"]});
    let made = app
        .call_on(&other, "POST", &format!("/server/users/{}/rooms", ann.id), Some(&secret), Some(body))
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let room = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(made.body["created_by"], json!(ann.id), "made by ann, who owns it");
    let added = bobs_socket.next_frame(Duration::from_secs(5)).await.expect("room_added");
    assert_eq!((&added["type"], &added["room"]["id"]), (&json!("room_added"), &json!(room)));
    bobs_socket.request(json!({"type": "join", "room": room})).await.unwrap();

    let publish = format!("/server/users/{}/rooms/{room}/messages", ann.id);
    let body = json!({"content": "Your order shipped", "client_msg_id": "order-1234-shipped"});
    let sent = app.call_on(&other, "POST", &publish, Some(&secret), Some(body.clone())).await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    assert_eq!(sent.body["sender_id"], json!(ann.id));
    let live = bobs_socket.collect_messages(&room, 1, Duration::from_secs(5)).await;
    assert_eq!(live[0]["seq"], sent.body["seq"], "delivered live on the other node");
    let again = app.call("POST", &publish, Some(&secret), Some(body)).await;
    assert_eq!((again.status, &again.body["seq"]), (200, &sent.body["seq"]), "idempotent by client_msg_id");

    let members = format!("/server/users/{}/rooms/{room}/members", ann.id);
    let joined = app.call("POST", &members, Some(&secret), Some(json!({"username": "carol"}))).await;
    assert_eq!(joined.status, 201, "{:?}", joined.body);
    let presence = format!("/server/users/{}/rooms/{room}/presence", carol.id);
    let online = app.call("GET", &presence, Some(&secret), None).await;
    assert_eq!((online.status, &online.body["online"]), (200, &json!([bob.id])), "{:?}", online.body);

    let revoked = app.call("DELETE", &format!("/admin/api-keys/{id}"), Some(&root.access), None).await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].is_string());
    let refused = app.call_on(&other, "POST", &publish, Some(&secret), Some(json!({"content": "x"}))).await;
    assert_refused(&refused, 401, "unauthorized");
    let audit = app.call("GET", "/admin/audit", Some(&root.access), None).await;
    let actions: Vec<&Value> =
        audit.body["entries"].as_array().unwrap().iter().map(|e| &e["action"]).collect();
    assert_eq!(actions[..2], [&json!("api_key_revoked"), &json!("api_key_created")]);
}

#[tokio::test]
async fn every_refusal_of_a_server_route_is_in_the_contracts_shape_and_changes_nothing() {
    let app = TestApp::spawn().await.unwrap();
    let (root, ann, bob) = (app.register("root").await, app.register("ann").await, app.register("bob").await);
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let room = app.create_room(&ann, "group", &[]).await;
    let (publisher, _) = new_key(&app, &root, &["messages:publish"]).await;
    let publish = |user: &str| format!("/server/users/{user}/rooms/{room}/messages");
    let hello = Some(json!({"content": "hello"}));

    assert_refused(&app.call("POST", &publish(&ann.id), None, hello.clone()).await, 401, "unauthorized");
    let user_token = app.call("POST", &publish(&ann.id), Some(&ann.access), hello.clone()).await;
    assert_refused(&user_token, 401, "unauthorized");
    let forged = format!("ck_{}", "A".repeat(43));
    assert_refused(
        &app.call("POST", &publish(&ann.id), Some(&forged), hello.clone()).await,
        401,
        "unauthorized",
    );
    assert_refused(&app.call("GET", "/rooms", Some(&publisher), None).await, 401, "unauthorized");

    let rooms = format!("/server/users/{}/rooms", ann.id);
    let scope = app.call("POST", &rooms, Some(&publisher), Some(json!({}))).await;
    assert_refused(&scope, 403, "forbidden");
    assert!(scope.body["error"]["message"].as_str().unwrap().contains("rooms:write"), "{:?}", scope.body);
    let outsider = app.call("POST", &publish(&bob.id), Some(&publisher), hello.clone()).await;
    assert_refused(&outsider, 403, "forbidden");
    let nobody = publish(&uuid::Uuid::new_v4().to_string());
    assert_refused(&app.call("POST", &nobody, Some(&publisher), hello.clone()).await, 404, "not_found");
    assert_refused(
        &app.call("POST", &publish("nope"), Some(&publisher), hello.clone()).await,
        400,
        "invalid_input",
    );
    let empty = app.call("POST", &publish(&ann.id), Some(&publisher), Some(json!({"content": ""}))).await;
    assert_refused(&empty, 400, "invalid_input");
    assert!(empty.body["error"]["fields"]["content"].is_string());
    let big = json!({"content": "x".repeat(70 * 1024)});
    assert_refused(
        &app.call("POST", &publish(&ann.id), Some(&publisher), Some(big)).await,
        413,
        "payload_too_large",
    );

    let disabled =
        app.call("POST", &format!("/admin/users/{}/disable", ann.id), Some(&root.access), None).await;
    assert_eq!(disabled.status, 200);
    let as_disabled = app.call("POST", &publish(&ann.id), Some(&publisher), hello).await;
    assert_refused(&as_disabled, 403, "forbidden");
    let history: i64 =
        sqlx::query_scalar("select count(*) from messages").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(history, 0, "nothing was sent");
}

#[tokio::test]
async fn only_administrators_make_and_revoke_keys_and_bad_requests_name_the_field() {
    let app = TestApp::spawn().await.unwrap();
    let (root, bob) = (app.register("root").await, app.register("bob").await);
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let body = json!({"name": "mine", "scopes": ["users:read"]});
    assert_refused(
        &app.call("POST", "/admin/api-keys", Some(&bob.access), Some(body.clone())).await,
        403,
        "forbidden",
    );
    assert_refused(&app.call("GET", "/admin/api-keys", Some(&bob.access), None).await, 403, "forbidden");
    assert_refused(&app.call("POST", "/admin/api-keys", None, Some(body)).await, 401, "unauthorized");
    for (body, field) in [
        (json!({"scopes": ["users:read"]}), "name"),
        (json!({"name": "", "scopes": ["users:read"]}), "name"),
        (json!({"name": "x".repeat(101), "scopes": ["users:read"]}), "name"),
        (json!({"name": "a\u{7}b", "scopes": ["users:read"]}), "name"),
        (json!({"name": "k"}), "scopes"),
        (json!({"name": "k", "scopes": []}), "scopes"),
        (json!({"name": "k", "scopes": ["admin"]}), "scopes"),
        (json!({"name": "k", "scopes": "users:read"}), "scopes"),
        (json!({"name": "k", "scopes": [1]}), "scopes[0]"),
    ] {
        let refused = app.call("POST", "/admin/api-keys", Some(&root.access), Some(body.clone())).await;
        assert_refused(&refused, 400, "invalid_input");
        assert!(refused.body["error"]["fields"][field].is_string(), "{body}: {:?}", refused.body);
    }
    let unknown = format!("/admin/api-keys/{}", uuid::Uuid::new_v4());
    assert_refused(&app.call("DELETE", &unknown, Some(&root.access), None).await, 404, "not_found");
    assert_refused(
        &app.call("DELETE", "/admin/api-keys/nope", Some(&root.access), None).await,
        400,
        "invalid_input",
    );
    let (_, id) = new_key(&app, &root, &["users:read"]).await;
    let path = format!("/admin/api-keys/{id}");
    assert_refused(&app.call("DELETE", &path, Some(&bob.access), None).await, 403, "forbidden");
    let keys: i64 = sqlx::query_scalar("select count(*) from api_keys where revoked_at is null")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(keys, 1, "only the administrator's one key, not revoked");
}

#[tokio::test]
async fn an_embedded_node_takes_api_keys_too() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let (root, ann) = (app.register("root").await, app.register("ann").await);
    assert_eq!(admin(&embedded_settings(&dir.path), &["grant", "root"]).await.0, Some(0));
    let body = json!({"name": "backend", "scopes": ["rooms:write", "messages:publish"]});
    let made = app.call("POST", "/admin/api-keys", Some(&root.access), Some(body)).await;
    let secret = made.body["secret"].as_str().unwrap().to_owned();
    let room = app
        .call(
            "POST",
            &format!("/server/users/{}/rooms", ann.id),
            Some(&secret),
            Some(json!({"name": "r", "type": "group"})),
        )
        .await;
    assert_eq!(room.status, 201, "{:?}", room.body);
    let path = format!("/server/users/{}/rooms/{}/messages", ann.id, room.body["id"].as_str().unwrap());
    let sent = app.call("POST", &path, Some(&secret), Some(json!({"content": "hi"}))).await;
    assert_eq!((sent.status, &sent.body["sender_id"]), (201, &json!(ann.id)));
}

#[tokio::test]
async fn the_system_posts_in_any_room_live_on_every_node_once_per_client_id() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (root, ann, bob) = (app.register("root").await, app.register("ann").await, app.register("bob").await);
    assert_eq!(admin(&cluster_settings(&app), &["grant", "root"]).await.0, Some(0));
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let announcements = json!({"post_policy": "admins"});
    let policy = app.call("PATCH", &format!("/rooms/{room}"), Some(&ann.access), Some(announcements)).await;
    assert_eq!(policy.status, 200, "{:?}", policy.body);
    let (secret, _) = new_key(&app, &root, &["messages:publish"]).await;
    let mut bobs_socket = app.ws(&app.node, &bob, Codec::Json).await;
    bobs_socket.request(json!({"type": "join", "room": room})).await.unwrap();

    let path = format!("/server/rooms/{room}/messages");
    let body = json!({"content": "Maintenance at 22:00", "kind": "notice", "client_msg_id": "maint-1"});
    let sent = app.call_on(&other, "POST", &path, Some(&secret), Some(body.clone())).await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    assert_eq!(sent.body["sender_id"], json!("00000000-0000-0000-0000-000000000000"));
    let live = bobs_socket.collect_messages(&room, 1, Duration::from_secs(5)).await;
    assert_eq!((&live[0]["seq"], &live[0]["kind"]), (&sent.body["seq"], &json!("notice")));
    let again = app.call("POST", &path, Some(&secret), Some(body)).await;
    assert_eq!((again.status, &again.body["seq"]), (200, &sent.body["seq"]));
    let history = app.call("GET", &format!("/rooms/{room}/messages"), Some(&bob.access), None).await;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 1);
    let nil = app.call("GET", "/users/00000000-0000-0000-0000-000000000000", Some(&bob.access), None).await;
    assert_eq!(nil.status, 404, "no account is the system");

    let nowhere = format!("/server/rooms/{}/messages", uuid::Uuid::new_v4());
    let refused = app.call("POST", &nowhere, Some(&secret), Some(json!({"content": "x"}))).await;
    assert_refused(&refused, 404, "not_found");
    let (reader, _) = new_key(&app, &root, &["users:read"]).await;
    let scopeless = app.call("POST", &path, Some(&reader), Some(json!({"content": "x"}))).await;
    assert_refused(&scopeless, 403, "forbidden");
    assert_refused(
        &app.call("POST", &path, Some(&ann.access), Some(json!({"content": "x"}))).await,
        401,
        "unauthorized",
    );
    let malformed = app.call("POST", &path, Some(&secret), Some(json!({"content": 7}))).await;
    assert_refused(&malformed, 400, "invalid_input");
}
