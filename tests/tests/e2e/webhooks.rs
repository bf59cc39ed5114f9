//! Webhooks: administrators register endpoints; the changes of rooms, members and accounts made
//! on any node reach a real HTTP receiver signed, once per delivery id, retried while it
//! fails, kept when a node stops, in a cluster and embedded; and every refusal of the routes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chat_tests::embedded::{DataDir, EmbeddedApp, embedded_args};
use chat_tests::process::Process;
use chat_tests::webhook_receiver::{Received, WebhookReceiver};
use chat_tests::ws::Codec;
use chat_tests::{Account, Answer, TestApp, call_at, start_node};
use serde_json::{Value, json};

use super::admin::{admin, cluster_settings, embedded_settings};

/// Fast retries, so the tests of failing receivers wait seconds, not minutes.
const FAST_RETRIES: &[&str] = &["--webhook-retry-base", "200ms", "--webhook-timeout", "2s"];
const WAIT: Duration = Duration::from_secs(20);
const NODE: &str = env!("CARGO_BIN_EXE_chat-node-under-test");
/// The node processes killed with SIGKILL: their claims on deliveries (twice the time limit
/// and 5 s: 9 s) and on new messages (2 s) run out soon after they die.
const KILLABLE: &[&str] = &[
    "--webhook-retry-base",
    "200ms",
    "--webhook-timeout",
    "2s",
    "--webhook-ack-wait",
    "2s",
    "--send-rate",
    "0",
];

fn assert_refused(answer: &Answer, status: u16, code: &str) {
    assert_eq!((answer.status, answer.code()), (status, Some(code)), "{:?}", answer.body);
}

/// A cluster node of `app` with `root` made an administrator.
async fn with_admin(app: &TestApp) -> Account {
    let root = app.register("root").await;
    assert_eq!(admin(&cluster_settings(app), &["grant", "root"]).await.0, Some(0));
    root
}

/// Registers a webhook for `events` at `url`: its id and secret.
async fn register(app: &TestApp, root: &Account, url: &str, events: &[&str]) -> (String, String) {
    let body = json!({"url": url, "events": events});
    let made = app.call("POST", "/admin/webhooks", Some(&root.access), Some(body)).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let id = made.body["webhook"]["id"].as_str().unwrap().to_owned();
    (id, made.body["secret"].as_str().unwrap().to_owned())
}

/// The deliveries received, one per delivery id (the first of its attempts that succeeded),
/// each checked: signed with `secret`, the envelope's type what the id's first request said.
fn by_delivery_id(received: &[Received], secret: &str) -> BTreeMap<String, Value> {
    let mut deliveries = BTreeMap::new();
    for request in received {
        assert!(request.verifies_with(secret), "a valid signature: {request:?}");
        let body = request.json();
        if let Some(earlier) = deliveries.get(&request.id) {
            assert_eq!(earlier, &body, "a delivery id carries one event");
        }
        if (200..300).contains(&request.answered) {
            deliveries.insert(request.id.clone(), body);
        }
    }
    deliveries
}

#[tokio::test]
async fn changes_made_on_any_node_reach_the_receiver_signed_once_each_with_their_data() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let root = with_admin(&app).await;
    let receiver = WebhookReceiver::start().await;
    let events = ["room.created", "member.added", "member.removed", "user.disabled"];
    let (webhook, secret) = register(&app, &root, &receiver.url("/hooks/chat"), &events).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let listed = app.call_on(&other, "GET", "/admin/webhooks", Some(&root.access), None).await;
    assert_eq!(listed.body["webhooks"][0]["id"], json!(webhook));
    assert_eq!(
        listed.body["webhooks"][0]["events"],
        json!(["room.created", "member.added", "member.removed", "user.disabled"])
    );
    assert!(!listed.body.to_string().contains(&secret[6..]), "the secret is shown once");

    let (ann, bob, cid) = (app.register("ann").await, app.register("bob").await, app.register("cid").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let members = format!("/rooms/{room}/members");
    let added =
        app.call_on(&other, "POST", &members, Some(&ann.access), Some(json!({"user_id": cid.id}))).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let left = app.call_on(&other, "DELETE", &format!("{members}/{}", bob.id), Some(&bob.access), None).await;
    assert_eq!(left.status, 204, "{:?}", left.body);
    let ban = json!({"user_id": cid.id, "reason": "spam"});
    let banned = app.call("POST", &format!("/rooms/{room}/bans"), Some(&ann.access), Some(ban)).await;
    assert_eq!(banned.status, 201, "{:?}", banned.body);
    let disabled = app
        .call_on(&other, "POST", &format!("/admin/users/{}/disable", bob.id), Some(&root.access), None)
        .await;
    assert_eq!(disabled.status, 200);

    receiver.wait_for_delivered(5, WAIT).await;
    // Anything late would come within a poll or two.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = receiver.received();
    assert!(received.iter().all(|r| r.path == "/hooks/chat"));
    let deliveries = by_delivery_id(&received, &secret);
    assert_eq!(received.len(), deliveries.len(), "each delivered once: {received:#?}");
    let mut bodies: Vec<&Value> = deliveries.values().collect();
    bodies.sort_by_key(|body| {
        chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).unwrap()
    });
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["room.created", "member.added", "member.removed", "member.removed", "user.disabled"],
        "{bodies:#?}"
    );
    let ids: BTreeSet<String> = bodies.iter().map(|b| b["id"].to_string()).collect();
    assert_eq!(ids.len(), 5, "every event its own id");
    assert_eq!(bodies[0]["data"]["room"]["id"], json!(room));
    assert_eq!(bodies[0]["data"]["member_ids"], json!([ann.id, bob.id]));
    assert_eq!(
        bodies[1]["data"],
        json!({"room_id": room, "user_id": cid.id, "role": "member", "by": ann.id})
    );
    assert_eq!(
        bodies[2]["data"],
        json!({"room_id": room, "user_id": bob.id, "by": bob.id, "reason": "left"})
    );
    assert_eq!(
        bodies[3]["data"],
        json!({"room_id": room, "user_id": cid.id, "by": ann.id, "reason": "banned"})
    );
    assert_eq!(
        (&bodies[4]["data"]["user"]["id"], &bodies[4]["data"]["by"]),
        (&json!(bob.id), &json!(root.id))
    );

    let path = format!("/admin/webhooks/{webhook}/deliveries");
    let listed = app.call("GET", &path, Some(&root.access), None).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let listed = listed.body["deliveries"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 5);
    for delivery in &listed {
        assert_eq!(
            (&delivery["status"], &delivery["attempts"]),
            (&json!("delivered"), &json!(1)),
            "{delivery}"
        );
        assert!(
            deliveries.contains_key(delivery["id"].as_str().unwrap()),
            "the webhook-id is the delivery's id"
        );
        assert_eq!(delivery["last_status"], json!(200));
    }
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_delivery_again_until_it_answers_and_operators_see_why() {
    let app = TestApp::spawn_with(FAST_RETRIES).await.unwrap();
    let root = with_admin(&app).await;
    let receiver = WebhookReceiver::start().await;
    let (webhook, secret) = register(&app, &root, &receiver.url("/in"), &["room.created"]).await;
    receiver.fail_next(2);
    let ann = app.register("ann").await;
    app.create_room(&ann, "group", &[]).await;

    let received = receiver.wait_for_delivered(1, WAIT).await;
    assert_eq!(received.iter().map(|r| r.answered).collect::<Vec<_>>(), [503, 503, 200]);
    assert!(received.iter().all(|r| r.id == received[0].id), "one delivery id on every attempt");
    assert!(received.iter().all(|r| r.body == received[0].body), "the same body on every attempt");
    assert!(received.iter().all(|r| r.verifies_with(&secret)), "each attempt signed anew");

    let listed =
        app.call("GET", &format!("/admin/webhooks/{webhook}/deliveries"), Some(&root.access), None).await;
    let delivery = &listed.body["deliveries"][0];
    assert_eq!((&delivery["status"], &delivery["attempts"]), (&json!("delivered"), &json!(3)), "{delivery}");

    // Now one that keeps failing: the listing says so while it is retried.
    receiver.answer(Some(500));
    app.create_room(&ann, "group", &[]).await;
    let deadline = Instant::now() + WAIT;
    let pending = loop {
        let listed = app
            .call("GET", &format!("/admin/webhooks/{webhook}/deliveries?limit=1"), Some(&root.access), None)
            .await;
        let newest = listed.body["deliveries"][0].clone();
        if newest["attempts"].as_u64() >= Some(2) || Instant::now() >= deadline {
            break newest;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((&pending["status"], &pending["last_status"]), (&json!("pending"), &json!(500)), "{pending}");
    assert_eq!(pending["last_error"], json!("HTTP 500"));
    assert!(pending["next_attempt_at"].is_string() && pending["last_attempt_at"].is_string());

    let metrics = app.http.get(app.node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "chat_webhook_attempts_total{event=\"room.created\",outcome=\"failed\"}",
        "chat_webhook_attempts_total{event=\"room.created\",outcome=\"delivered\"}",
        "chat_webhook_attempt_seconds_count{event=\"room.created\"}",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_given_up_after_the_retry_period() {
    let app = TestApp::spawn_with(&[FAST_RETRIES, &["--webhook-retry-for", "1s"]].concat()).await.unwrap();
    let root = with_admin(&app).await;
    let receiver = WebhookReceiver::start().await;
    receiver.answer(Some(500));
    let (webhook, _) = register(&app, &root, &receiver.url("/in"), &["room.created"]).await;
    let ann = app.register("ann").await;
    app.create_room(&ann, "group", &[]).await;

    let path = format!("/admin/webhooks/{webhook}/deliveries");
    let deadline = Instant::now() + WAIT;
    let delivery = loop {
        let listed = app.call("GET", &path, Some(&root.access), None).await;
        let delivery = listed.body["deliveries"][0].clone();
        if delivery["status"] == json!("failed") || Instant::now() >= deadline {
            break delivery;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivery["status"], json!("failed"), "{delivery}");
    assert!(delivery.get("next_attempt_at").is_none(), "{delivery}");
    let attempts = delivery["attempts"].as_u64().unwrap();
    assert!(attempts >= 2, "{delivery}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len() as u64, attempts, "no attempt after giving up");
    let metrics = app.http.get(app.node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("chat_webhook_given_up_total{event=\"room.created\"}"), "{metrics}");
}

#[tokio::test]
async fn deliveries_pending_when_a_node_stops_are_made_by_another_and_none_is_lost_or_doubled() {
    let app = TestApp::spawn_with(FAST_RETRIES).await.unwrap();
    let survivor = app.add_node().await.unwrap();
    let root = with_admin(&app).await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = register(&app, &root, &receiver.url("/in"), &["room.created", "member.added"]).await;
    // The receiver is down (503) while the first node takes the changes and then stops.
    receiver.answer(Some(503));
    let ann = app.register("ann").await;
    let mut rooms = BTreeSet::new();
    for _ in 0..10 {
        rooms.insert(app.create_room(&ann, "channel", &[]).await);
    }
    let bob = app.register("bob").await;
    for room in &rooms {
        let joined = app
            .call(
                "POST",
                &format!("/rooms/{room}/members"),
                Some(&bob.access),
                Some(json!({"user_id": bob.id})),
            )
            .await;
        assert_eq!(joined.status, 201, "{:?}", joined.body);
    }
    // The first node stops (its attempts in flight end; the rest wait in the outbox), then
    // the receiver comes back: the other node delivers everything.
    let TestApp { node, stream: _stream, db: _db, .. } = app;
    node.stop().await.unwrap();
    receiver.answer(None);

    receiver.wait_for_delivered(20, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deliveries = by_delivery_id(&receiver.received(), &secret);
    assert_eq!(deliveries.len(), 20, "every event delivered");
    let created: BTreeSet<String> = deliveries
        .values()
        .filter(|b| b["type"] == "room.created")
        .map(|b| b["data"]["room"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created, rooms);
    let joined: BTreeSet<String> = deliveries
        .values()
        .filter(|b| b["type"] == "member.added")
        .map(|b| b["data"]["room_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(joined, rooms);
    let event_ids: BTreeSet<String> = deliveries.values().map(|b| b["id"].to_string()).collect();
    assert_eq!(event_ids.len(), 20, "no event twice under two delivery ids");
    drop(survivor);
}

#[tokio::test]
async fn a_receiver_that_hangs_does_not_slow_the_changes_that_feed_it() {
    let app = TestApp::spawn_with(&["--webhook-timeout", "5s"]).await.unwrap();
    let root = with_admin(&app).await;
    let receiver = WebhookReceiver::start().await;
    receiver.delay(Some(Duration::from_secs(30)));
    register(&app, &root, &receiver.url("/slow"), &["room.created"]).await;
    let ann = app.register("ann").await;
    app.create_room(&ann, "group", &[]).await;
    // The worker is now waiting on the receiver; changes and messages go on at their pace.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    for _ in 0..20 {
        let room = app.create_room(&ann, "group", &[]).await;
        let sent = app
            .call(
                "POST",
                &format!("/rooms/{room}/messages"),
                Some(&ann.access),
                Some(json!({"content": "hi"})),
            )
            .await;
        assert_eq!(sent.status, 201, "{:?}", sent.body);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "20 rooms and messages took {took:?}");
}

#[tokio::test]
async fn every_refusal_of_the_webhook_routes_is_in_the_contracts_shape_and_changes_nothing() {
    let app = TestApp::spawn_with(&["--webhook-hosts", "127.0.0.1,hooks.example.com"]).await.unwrap();
    let root = with_admin(&app).await;
    let bob = app.register("bob").await;
    let good = json!({"url": "https://hooks.example.com/in", "events": ["room.created"]});
    assert_refused(&app.call("POST", "/admin/webhooks", None, Some(good.clone())).await, 401, "unauthorized");
    assert_refused(
        &app.call("POST", "/admin/webhooks", Some(&bob.access), Some(good.clone())).await,
        403,
        "forbidden",
    );
    assert_refused(&app.call("GET", "/admin/webhooks", Some(&bob.access), None).await, 403, "forbidden");
    assert_refused(&app.call("GET", "/admin/webhooks", None, None).await, 401, "unauthorized");
    for (body, field) in [
        (json!({"events": ["room.created"]}), "url"),
        (json!({"url": "", "events": ["room.created"]}), "url"),
        (json!({"url": "ftp://hooks.example.com/", "events": ["room.created"]}), "url"),
        (json!({"url": "hooks.example.com/in", "events": ["room.created"]}), "url"),
        (json!({"url": "https://user:pw@hooks.example.com/", "events": ["room.created"]}), "url"),
        (
            json!({"url": format!("https://hooks.example.com/{}", "a".repeat(2000)), "events": ["room.created"]}),
            "url",
        ),
        (json!({"url": "https://10.0.0.1/in", "events": ["room.created"]}), "url"),
        (json!({"url": 7, "events": ["room.created"]}), "url"),
        (json!({"url": "https://hooks.example.com/in"}), "events"),
        (json!({"url": "https://hooks.example.com/in", "events": []}), "events"),
        (json!({"url": "https://hooks.example.com/in", "events": ["message.deleted"]}), "events"),
        (json!({"url": "https://hooks.example.com/in", "events": "room.created"}), "events"),
    ] {
        let refused = app.call("POST", "/admin/webhooks", Some(&root.access), Some(body.clone())).await;
        assert_refused(&refused, 400, "invalid_input");
        assert!(refused.body["error"]["fields"][field].is_string(), "{body}: {:?}", refused.body);
    }
    let huge = json!({"url": "https://hooks.example.com/in", "events": vec!["room.created"; 10_000]});
    assert_refused(
        &app.call("POST", "/admin/webhooks", Some(&root.access), Some(huge)).await,
        413,
        "payload_too_large",
    );

    let (id, _) = register(&app, &root, "https://hooks.example.com/in", &["room.created"]).await;
    let unknown = uuid::Uuid::new_v4();
    for (method, path) in [
        ("DELETE", format!("/admin/webhooks/{unknown}")),
        ("GET", format!("/admin/webhooks/{unknown}/deliveries")),
    ] {
        assert_refused(&app.call(method, &path, Some(&root.access), None).await, 404, "not_found");
        let malformed = path.replace(&unknown.to_string(), "nope");
        assert_refused(&app.call(method, &malformed, Some(&root.access), None).await, 400, "invalid_input");
        let mine = path.replace(&unknown.to_string(), &id);
        assert_refused(&app.call(method, &mine, Some(&bob.access), None).await, 403, "forbidden");
        assert_refused(&app.call(method, &mine, None, None).await, 401, "unauthorized");
    }
    for limit in ["0", "101", "x", "-1"] {
        let path = format!("/admin/webhooks/{id}/deliveries?limit={limit}");
        let refused = app.call("GET", &path, Some(&root.access), None).await;
        assert_refused(&refused, 400, "invalid_input");
        assert!(refused.body["error"]["fields"]["limit"].is_string(), "{limit}: {:?}", refused.body);
    }
    let webhooks: i64 =
        sqlx::query_scalar("select count(*) from webhooks").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(webhooks, 1, "only the one registered");

    let deleted = app.call("DELETE", &format!("/admin/webhooks/{id}"), Some(&root.access), None).await;
    assert_eq!((deleted.status, &deleted.body["id"]), (200, &json!(id)));
    let again = app.call("DELETE", &format!("/admin/webhooks/{id}"), Some(&root.access), None).await;
    assert_refused(&again, 404, "not_found");
    let audit = app.call("GET", "/admin/audit", Some(&root.access), None).await;
    let actions: Vec<&Value> =
        audit.body["entries"].as_array().unwrap().iter().map(|e| &e["action"]).collect();
    assert_eq!(actions[..2], [&json!("webhook_deleted"), &json!("webhook_created")]);
}

#[tokio::test]
async fn an_embedded_node_delivers_webhooks_in_process_and_keeps_them_across_a_restart() {
    let dir = DataDir::new();
    let args = |extra: &[&str]| embedded_args(&dir.path, &[FAST_RETRIES, extra].concat());
    let node = start_node(args(&[])).await.unwrap();
    let app = EmbeddedApp { node, http: reqwest::Client::new() };
    let (root, ann) = (app.register("root").await, app.register("ann").await);
    assert_eq!(admin(&embedded_settings(&dir.path), &["grant", "root"]).await.0, Some(0));
    let receiver = WebhookReceiver::start().await;
    let body = json!({"url": receiver.url("/in"), "events": ["room.created"]});
    let made = app.call("POST", "/admin/webhooks", Some(&root.access), Some(body)).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let secret = made.body["secret"].as_str().unwrap().to_owned();

    app.create_room(&ann, &[]).await;
    receiver.wait_for_delivered(1, WAIT).await;
    // Down while a second change is made and the node restarts: kept in the database.
    receiver.answer(Some(503));
    let second = app.create_room(&ann, &[]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.stop().await.unwrap();
    receiver.answer(None);
    let node = start_node(args(&[])).await.unwrap();
    let _app = EmbeddedApp { node, http: reqwest::Client::new() };
    receiver.wait_for_delivered(2, WAIT).await;
    let deliveries = by_delivery_id(&receiver.received(), &secret);
    assert_eq!(deliveries.len(), 2);
    let rooms: Vec<&Value> = deliveries.values().map(|b| &b["data"]["room"]["id"]).collect();
    assert!(rooms.contains(&&json!(second)), "{rooms:?}");
}

#[tokio::test]
async fn each_message_names_its_offline_members_once_from_the_stream_whichever_node_took_it() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let root = with_admin(&app).await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = register(&app, &root, &receiver.url("/push"), &["message.created"]).await;
    let (ann, bob, cid) = (app.register("ann").await, app.register("bob").await, app.register("cid").await);
    let room = app.create_room(&ann, "group", &[&bob, &cid]).await;
    let mut bobs_socket = app.ws(&other, &bob, Codec::Json).await;
    bobs_socket.request(json!({"type": "join", "room": room})).await.unwrap();
    assert!(app.is_online(&room, &ann, &bob).await);

    let path = format!("/rooms/{room}/messages");
    let mut sent = BTreeSet::new();
    for i in 0..30 {
        let body = json!({"content": format!("message {i}")});
        let node = if i % 2 == 0 { &app.node } else { &other };
        let answer = app.call_on(node, "POST", &path, Some(&ann.access), Some(body)).await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        sent.insert(answer.body["id"].as_str().unwrap().to_owned());
    }
    receiver.wait_for_delivered(30, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = receiver.received();
    let deliveries = by_delivery_id(&received, &secret);
    assert_eq!(received.len(), 30, "one request per message: {}", received.len());
    let events: BTreeSet<String> =
        deliveries.values().map(|b| b["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, sent, "one event per message, its id the message's");
    for body in deliveries.values() {
        assert_eq!(body["type"], "message.created");
        assert_eq!(body["data"]["offline_user_ids"], json!([cid.id]), "not the sender, not bob: {body}");
        assert_eq!(body["data"]["message"]["room_id"], json!(room));
        assert_eq!(body["data"]["message"]["sender_id"], json!(ann.id));
        assert_eq!(body["id"], body["data"]["message"]["id"]);
    }

    // With every member but the sender connected, a message makes no event.
    let mut cids_socket = app.ws(&app.node, &cid, Codec::Json).await;
    cids_socket.request(json!({"type": "join", "room": room})).await.unwrap();
    assert!(app.is_online(&room, &ann, &cid).await);
    let answer = app.call("POST", &path, Some(&ann.access), Some(json!({"content": "all here"}))).await;
    assert_eq!(answer.status, 201);
    // A later message from bob, whom ann (offline) has not seen, shows the stream moved on.
    let answer = app.call("POST", &path, Some(&bob.access), Some(json!({"content": "ann?"}))).await;
    receiver.wait_for_delivered(31, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let delivered = receiver.delivered();
    assert_eq!(delivered.len(), 31, "nothing for the message everyone saw");
    let last =
        delivered.iter().map(Received::json).find(|b| b["id"] == answer.body["id"]).expect("bob's message");
    assert_eq!(last["data"]["offline_user_ids"], json!([ann.id]));
}

#[tokio::test]
async fn an_embedded_node_makes_message_events_in_process_and_resumes_after_a_restart() {
    let dir = DataDir::new();
    let args = || embedded_args(&dir.path, FAST_RETRIES);
    let app = EmbeddedApp { node: start_node(args()).await.unwrap(), http: reqwest::Client::new() };
    let (root, ann, bob) = (app.register("root").await, app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, &[&bob]).await;
    let before = app
        .call(
            "POST",
            &format!("/rooms/{room}/messages"),
            Some(&ann.access),
            Some(json!({"content": "before"})),
        )
        .await;
    assert_eq!(before.status, 201);
    // Made into no event: no webhook wanted one when it was handled.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(admin(&embedded_settings(&dir.path), &["grant", "root"]).await.0, Some(0));
    let receiver = WebhookReceiver::start().await;
    let body = json!({"url": receiver.url("/push"), "events": ["message.created"]});
    let made = app.call("POST", "/admin/webhooks", Some(&root.access), Some(body)).await;
    let secret = made.body["secret"].as_str().unwrap().to_owned();

    let path = format!("/rooms/{room}/messages");
    let first = app.call("POST", &path, Some(&ann.access), Some(json!({"content": "hello bob"}))).await;
    receiver.wait_for_delivered(1, WAIT).await;
    // Stopped right after a send, before or after its event is made: after the restart it is
    // made if it was not, and not again if it was.
    let second = app.call("POST", &path, Some(&ann.access), Some(json!({"content": "again"}))).await;
    app.stop().await.unwrap();
    let _app = EmbeddedApp { node: start_node(args()).await.unwrap(), http: reqwest::Client::new() };
    receiver.wait_for_delivered(2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deliveries = by_delivery_id(&receiver.received(), &secret);
    let ids: BTreeSet<String> = deliveries.values().map(|b| b["id"].to_string()).collect();
    let sent = BTreeSet::from([first.body["id"].to_string(), second.body["id"].to_string()]);
    assert_eq!(ids, sent, "{deliveries:#?}");
    assert!(deliveries.values().all(|b| b["data"]["offline_user_ids"] == json!([bob.id])));
}

#[tokio::test]
async fn a_delivery_in_flight_when_its_node_is_killed_is_made_by_another_under_the_same_id() {
    let mut app = TestApp::spawn_with(KILLABLE).await.unwrap();
    let root = with_admin(&app).await;
    let receiver = WebhookReceiver::start().await;
    let (webhook, secret) = register(&app, &root, &receiver.url("/in"), &["room.created"]).await;
    let ann = app.register("ann").await;
    // Only the doomed node delivers: the test's own node stops, the survivor starts later.
    app.node.shut_down().await.unwrap();
    let doomed = Process::node(NODE, &app.db, &app.stream, KILLABLE).await.unwrap();

    receiver.delay(Some(Duration::from_secs(60)));
    let body = json!({"name": "launch", "type": "group", "member_ids": []});
    let created = app.call_at(doomed.addr, "POST", "/rooms", Some(&ann.access), Some(body)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let room = created.body["id"].as_str().unwrap().to_owned();
    let first = receiver.wait_for_arrivals(1, WAIT).await;
    assert_eq!(first.len(), 1, "the doomed node's attempt is in flight");
    doomed.kill().await;
    receiver.delay(None);

    let survivor = Process::node(NODE, &app.db, &app.stream, KILLABLE).await.unwrap();
    receiver.wait_for_delivered(1, WAIT).await;
    let deliveries = by_delivery_id(&receiver.received(), &secret);
    assert_eq!(deliveries.keys().collect::<Vec<_>>(), [&first[0]], "delivered under the first attempt's id");
    assert_eq!(deliveries[&first[0]]["data"]["room"]["id"], json!(room));
    let path = format!("/admin/webhooks/{webhook}/deliveries");
    let listed = app.call_at(survivor.addr, "GET", &path, Some(&root.access), None).await;
    let delivery = &listed.body["deliveries"][0];
    assert_eq!((&delivery["status"], &delivery["attempts"]), (&json!("delivered"), &json!(2)), "{delivery}");
}

#[tokio::test]
async fn messages_a_killed_node_held_unacknowledged_get_their_event_once_from_another_node() {
    let mut app = TestApp::spawn_with(KILLABLE).await.unwrap();
    let root = with_admin(&app).await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = register(&app, &root, &receiver.url("/push"), &["message.created"]).await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[&bob]).await;
    app.node.shut_down().await.unwrap();
    let doomed = Process::node(NODE, &app.db, &app.stream, KILLABLE).await.unwrap();

    // The outbox is locked: the doomed node takes the new messages from the stream and then
    // waits to record their events, holding them unacknowledged when it dies.
    let mut lock = app.db.pool.begin().await.unwrap();
    sqlx::query("lock table webhook_deliveries in share mode").execute(&mut *lock).await.unwrap();
    let mut sent = BTreeSet::new();
    for n in 0..30 {
        let path = format!("/rooms/{room}/messages");
        let body = json!({"content": format!("m{n}")});
        let answer = app.call_at(doomed.addr, "POST", &path, Some(&ann.access), Some(body)).await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        sent.insert(answer.body["id"].as_str().unwrap().to_owned());
    }
    wait_for_insert_waiting_on_lock(&app).await;
    doomed.kill().await;
    lock.rollback().await.unwrap();

    let _survivor = Process::node(NODE, &app.db, &app.stream, KILLABLE).await.unwrap();
    receiver.wait_for_delivered(sent.len(), WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deliveries = by_delivery_id(&receiver.received(), &secret);
    let messages: Vec<String> =
        deliveries.values().map(|b| b["data"]["message"]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(messages.len(), sent.len(), "one delivery per message, none twice: {messages:?}");
    assert_eq!(messages.into_iter().collect::<BTreeSet<_>>(), sent, "every message's event");
}

/// Waits until a connection of the test's database waits on a lock to insert into the outbox.
async fn wait_for_insert_waiting_on_lock(app: &TestApp) {
    let deadline = Instant::now() + WAIT;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'
               and query ilike '%insert into webhook_deliveries%'",
        )
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no node waits to record an event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_embedded_node_killed_with_events_undelivered_and_unmade_delivers_each_once_after_a_restart() {
    let dir = DataDir::new();
    let http = reqwest::Client::new();
    let node = Process::embedded_node(NODE, &dir.path).await.unwrap();
    let register = |name: &'static str| {
        let (http, addr) = (&http, node.addr);
        async move {
            let body = json!({"username": name, "password": format!("{name}-password")});
            let answer = call_at(http, addr, "POST", "/auth/register", None, Some(body)).await;
            assert_eq!(answer.status, 201, "{:?}", answer.body);
            (answer.body["user"]["id"].clone(), answer.body["access_token"].as_str().unwrap().to_owned())
        }
    };
    let ((_, root), (_, ann), (bob, _)) =
        (register("root").await, register("ann").await, register("bob").await);
    assert_eq!(admin(&embedded_settings(&dir.path), &["grant", "root"]).await.0, Some(0));
    let receiver = WebhookReceiver::start().await;
    let body = json!({"url": receiver.url("/in"), "events": ["room.created", "message.created"]});
    let made = call_at(&http, node.addr, "POST", "/admin/webhooks", Some(&root), Some(body)).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let secret = made.body["secret"].as_str().unwrap().to_owned();

    // The receiver is down; the node dies right after the last send, before it has made every
    // message's event or delivered any.
    receiver.answer(Some(503));
    let body = json!({"name": "team", "type": "group", "member_ids": [bob]});
    let room = call_at(&http, node.addr, "POST", "/rooms", Some(&ann), Some(body)).await;
    assert_eq!(room.status, 201, "{:?}", room.body);
    let room = room.body["id"].as_str().unwrap().to_owned();
    let mut sent = BTreeSet::new();
    for n in 0..20 {
        let path = format!("/rooms/{room}/messages");
        let answer =
            call_at(&http, node.addr, "POST", &path, Some(&ann), Some(json!({"content": n.to_string()})))
                .await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        sent.insert(answer.body["id"].as_str().unwrap().to_owned());
    }
    node.kill().await;
    receiver.answer(None);

    let _restarted = Process::embedded_node(NODE, &dir.path).await.unwrap();
    receiver.wait_for_delivered(21, Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deliveries = by_delivery_id(&receiver.received(), &secret);
    let created: Vec<&Value> = deliveries
        .values()
        .filter(|b| b["type"] == "room.created")
        .map(|b| &b["data"]["room"]["id"])
        .collect();
    assert_eq!(created, [&json!(room)]);
    let messages: Vec<String> = deliveries
        .values()
        .filter(|b| b["type"] == "message.created")
        .map(|b| b["data"]["message"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages.len(), sent.len(), "one delivery per message, none twice");
    assert_eq!(messages.into_iter().collect::<BTreeSet<_>>(), sent);
}
