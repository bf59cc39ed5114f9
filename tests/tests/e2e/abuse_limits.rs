//! Abuse limits on the REST edge: 429 with Retry-After past a limit, on the node that counted
//! and on every other, counted per client address (behind trusted proxies only) and per
//! username or user; login failures alone count; and a wrong password and an unknown username
//! cost the same time.

use std::net::SocketAddr;
use std::time::Instant;

use chat_tests::embedded::{DataDir, EmbeddedApp, embedded_args};
use chat_tests::outage::PrivateRedis;
use chat_tests::{Answer, TestApp, start_node};
use serde_json::{Value, json};

/// A request to `node` carrying `forwarded_for` as `X-Forwarded-For`, if any.
async fn post(
    node: SocketAddr,
    path: &str,
    token: Option<&str>,
    forwarded_for: Option<&str>,
    body: Value,
) -> Answer {
    let mut request = reqwest::Client::new().post(format!("http://{node}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    let response = request.send().await.expect("the node answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, body, headers }
}

async fn login(node: SocketAddr, username: &str, password: &str, forwarded_for: Option<&str>) -> Answer {
    post(node, "/auth/login", None, forwarded_for, json!({"username": username, "password": password})).await
}

/// The answer is the contract's 429, and names a wait of at least a second.
fn assert_limited(answer: &Answer) -> u64 {
    assert_eq!((answer.status, answer.code()), (429, Some("rate_limited")), "{:?}", answer.body);
    let wait: u64 = answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1, "Retry-After: {wait}");
    wait
}

#[tokio::test]
async fn failed_logins_from_one_address_are_limited_on_every_node_of_the_cluster() {
    let app = TestApp::spawn_with(&["--login-limit-per-ip", "3/1h"]).await.unwrap();
    let other = app.add_node().await.unwrap();
    let ann = app.register("ann").await;
    for node in [app.node.addr, other.addr, app.node.addr] {
        assert_eq!(login(node, "ann", "wrong password", None).await.status, 401);
    }
    // The fourth failure would be one too many, on either node: even the right password waits.
    let refused = login(other.addr, "ann", &ann.password, None).await;
    assert_eq!(assert_limited(&refused), 1200, "one interval of 3/1h");
    assert_limited(&login(app.node.addr, "bob", "anything at all", None).await);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("retry in 1200 s"));
}

#[tokio::test]
async fn successful_logins_use_up_nothing() {
    let app = TestApp::spawn_with(&["--login-limit-per-ip", "2/1h", "--login-limit-per-username", "2/1h"])
        .await
        .unwrap();
    let ann = app.register("ann").await;
    for _ in 0..5 {
        assert_eq!(login(app.node.addr, "ann", &ann.password, None).await.status, 200);
    }
    assert_eq!(login(app.node.addr, "ann", "wrong password", None).await.status, 401);
    assert_eq!(login(app.node.addr, "ann", &ann.password, None).await.status, 200);
}

#[tokio::test]
async fn wrong_current_passwords_on_a_password_change_count_as_failed_logins_of_the_user() {
    let app = TestApp::spawn_with(&["--login-limit-per-username", "2/1h"]).await.unwrap();
    let ann = app.register("ann").await;
    let change = |current: &str| {
        let body = json!({"current_password": current, "new_password": "a brand new password"});
        app.call("PUT", "/users/me/password", Some(&ann.access), Some(body))
    };
    assert_eq!(change("a guess").await.status, 403);
    assert_eq!(login(app.node.addr, "ann", "another guess", None).await.status, 401);
    assert_limited(&change(&ann.password).await);
    assert_limited(&login(app.node.addr, "ann", &ann.password, None).await);
    // Nothing of the refused change was done: the old password is still the one.
    let stored: String =
        sqlx::query_scalar("select password_hash from users").fetch_one(&app.db.pool).await.unwrap();
    assert!(stored.starts_with("$argon2id$"));
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_counts_apart_but_one_username_counts_for_all() {
    let app = TestApp::spawn_with(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--login-limit-per-ip",
        "2/1h",
        "--login-limit-per-username",
        "3/1h",
    ])
    .await
    .unwrap();
    let node = app.node.addr;
    let ann = app.register("ann").await;
    // Two failures from one forwarded client spend its quota; another client is unaffected.
    for _ in 0..2 {
        assert_eq!(login(node, "bob", "guess", Some("198.51.100.1")).await.status, 401);
    }
    assert_limited(&login(node, "bob", "guess", Some("198.51.100.1")).await);
    assert_eq!(login(node, "ann", "guess", Some("198.51.100.2")).await.status, 401);
    // A client cannot pose as another by writing the header itself: the proxy appends the
    // address it saw, and that, the rightmost untrusted one, is the client.
    let spoofed = login(node, "ann", "guess", Some("198.51.100.2, 198.51.100.1")).await;
    assert_limited(&spoofed);
    // Guesses at one username from many addresses meet its own limit.
    assert_eq!(login(node, "ann", "guess", Some("198.51.100.3")).await.status, 401);
    assert_eq!(login(node, "ANN", "guess", Some("198.51.100.4")).await.status, 401);
    assert_limited(&login(node, "ann", &ann.password, Some("198.51.100.5")).await);
}

#[tokio::test]
async fn forwarding_headers_from_a_peer_that_is_not_a_trusted_proxy_are_ignored() {
    let app = TestApp::spawn_with(&["--login-limit-per-ip", "2/1h"]).await.unwrap();
    let node = app.node.addr;
    assert_eq!(login(node, "ann", "guess", Some("198.51.100.1")).await.status, 401);
    assert_eq!(login(node, "bob", "guess", Some("198.51.100.2")).await.status, 401);
    let forwarded = reqwest::Client::new()
        .post(format!("http://{node}/auth/login"))
        .header("forwarded", "for=198.51.100.3")
        .json(&json!({"username": "cid", "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 429, "all three came from 127.0.0.1");
}

#[tokio::test]
async fn registrations_and_refreshes_are_limited_per_address() {
    let app = TestApp::spawn_with(&["--register-limit-per-ip", "2/1h", "--refresh-limit-per-ip", "2/1h"])
        .await
        .unwrap();
    let ann = app.register("ann").await;
    app.register("bob").await;
    let third = json!({"username": "cid", "password": "cid-password"});
    assert_limited(&post(app.node.addr, "/auth/register", None, None, third.clone()).await);
    // Input that is invalid is answered 400 and not counted.
    let invalid = post(app.node.addr, "/auth/register", None, None, json!({"username": "x"})).await;
    assert_eq!(invalid.status, 400, "{:?}", invalid.body);

    let refresh =
        |token: &str| post(app.node.addr, "/auth/refresh", None, None, json!({"refresh_token": token}));
    let renewed = refresh(&ann.refresh).await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    assert_eq!(refresh("a token never issued").await.status, 401);
    assert_limited(&refresh(renewed.body["refresh_token"].as_str().unwrap()).await);
}

#[tokio::test]
async fn room_changes_and_rest_sends_are_limited_per_user() {
    let app = TestApp::spawn_with(&["--write-limit-per-user", "2/1h", "--rest-send-limit-per-user", "2/1h"])
        .await
        .unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = app.create_room(&ann, "group", &[]).await;
    let add = post(
        app.node.addr,
        &format!("/rooms/{room}/members"),
        Some(&ann.access),
        None,
        json!({"user_id": bob.id}),
    )
    .await;
    assert_eq!(add.status, 201, "{:?}", add.body);
    let group = json!({"name": "one more", "type": "group"});
    assert_limited(&post(app.node.addr, "/rooms", Some(&ann.access), None, group.clone()).await);
    let rename =
        app.call("PATCH", "/users/me", Some(&ann.access), Some(json!({"display_name": "Ann"}))).await;
    assert_limited(&rename);
    // Bob's quota is his own.
    assert_eq!(post(app.node.addr, "/rooms", Some(&bob.access), None, group).await.status, 201);

    let messages = format!("/rooms/{room}/messages");
    let send = |n: u32| {
        let body = json!({"content": format!("hello {n}"), "client_msg_id": format!("m{n}")});
        post(app.node.addr, &messages, Some(&bob.access), None, body)
    };
    assert_eq!(send(1).await.status, 201);
    assert_eq!(send(2).await.status, 201);
    let refused = send(3).await;
    assert_limited(&refused);
    let stored = app.call("GET", &format!("/rooms/{room}/messages"), Some(&bob.access), None).await;
    assert_eq!(stored.body["messages"].as_array().unwrap().len(), 2, "the refused send was not stored");
}

#[tokio::test]
async fn an_embedded_node_limits_logins_in_its_own_memory() {
    let dir = DataDir::new();
    let node = start_node(embedded_args(&dir.path, &["--login-limit-per-username", "2/1h"])).await.unwrap();
    let app = EmbeddedApp { node, http: reqwest::Client::new() };
    let ann = app.register("ann").await;
    for _ in 0..2 {
        assert_eq!(login(app.node.addr, "ann", "guess", None).await.status, 401);
    }
    assert_limited(&login(app.node.addr, "ann", &ann.password, None).await);
    assert_eq!(login(app.node.addr, "bob", "guess", None).await.status, 401);
}

#[tokio::test]
async fn while_redis_is_down_each_node_still_counts_on_its_own() {
    let mut redis = PrivateRedis::start().await.unwrap();
    let app = TestApp::spawn_with(&["--redis-url", &redis.url(), "--login-limit-per-username", "2/1h"])
        .await
        .unwrap();
    let ann = app.register("ann").await;
    redis.stop().await.unwrap();
    for _ in 0..2 {
        assert_eq!(login(app.node.addr, "ann", "guess", None).await.status, 401);
    }
    assert_limited(&login(app.node.addr, "ann", &ann.password, None).await);
}

/// The time a login with an unknown username and one with a wrong password take, at the
/// production hashing cost, in pairs that take turns going first (so drift in the machine's
/// load, and whatever the first of two requests pays, touch both alike). Compared by the median
/// of the pairs' differences, which a burst of load elsewhere during a few pairs cannot move.
#[tokio::test]
async fn a_wrong_password_and_an_unknown_username_take_the_same_time() {
    let app =
        TestApp::spawn_with(&["--argon2-memory-kib", "19456", "--argon2-iterations", "2"]).await.unwrap();
    app.register("ann").await;
    let attempt = async |username: &str| {
        let started = Instant::now();
        let answer = login(app.node.addr, username, "not the password", None).await;
        assert_eq!((answer.status, answer.code()), (401, Some("unauthorized")));
        assert_eq!(answer.body["error"]["message"], "invalid credentials");
        started.elapsed().as_secs_f64()
    };
    // The first pair warms the connection pool and the hasher up.
    attempt("nobody").await;
    attempt("ann").await;
    let (mut unknown, mut wrong, mut differences) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..150 {
        let (u, w) = if i % 2 == 0 {
            let u = attempt("nobody").await;
            (u, attempt("ann").await)
        } else {
            let w = attempt("ann").await;
            (attempt("nobody").await, w)
        };
        unknown.push(u);
        wrong.push(w);
        differences.push(u - w);
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (unknown, wrong, difference) = (median(unknown), median(wrong), median(differences));
    let gap = difference.abs() / unknown.max(wrong);
    println!(
        "login medians: unknown username {:.2} ms, wrong password {:.2} ms; median difference {:.2} ms ({:.1} %)",
        unknown * 1e3,
        wrong * 1e3,
        difference * 1e3,
        gap * 100.0
    );
    // Skipping the hash for an unknown username makes that answer ~100 times faster; a bound
    // of 15 % catches that with room for a loaded two-core machine, where the paired medians
    // were seen 0.1 to 5.6 % apart.
    assert!(
        gap < 0.15,
        "unknown username {unknown} s, wrong password {wrong} s, median difference {difference} s"
    );
}
