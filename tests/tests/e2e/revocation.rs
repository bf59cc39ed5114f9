//! Ending a login at once: logout, a replayed refresh token and a password change refuse the
//! login's access tokens on every node and close its sockets there within a second, while the
//! user's other logins go on. In a cluster (through Redis and NATS) and embedded.

use std::time::Duration;

use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::outage::PrivateRedis;
use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, Answer, JWT_SECRET, TestApp, TestNode};
use serde_json::{Value, json};

/// The guarantee: every socket of an ended login, on every node, is closed within this.
const CLOSED_WITHIN: Duration = Duration::from_secs(1);

/// Another login of `account`'s user: its tokens in place of the account's.
async fn log_in(app: &TestApp, node: &TestNode, account: &Account) -> Account {
    let body = json!({"username": account.username, "password": account.password});
    let answer = app.call_on(node, "POST", "/auth/login", None, Some(body)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    with_tokens(account, &answer)
}

fn with_tokens(account: &Account, answer: &Answer) -> Account {
    Account {
        access: answer.body["access_token"].as_str().expect("an access token").to_owned(),
        refresh: answer.body["refresh_token"].as_str().expect("a refresh token").to_owned(),
        ..account.clone()
    }
}

/// A socket of `account`'s login on `node`, known to be open.
async fn open_socket(node: &TestNode, account: &Account) -> WsClient {
    let mut socket = WsClient::connect(node.addr, Some(&account.access), Codec::Json).await.unwrap();
    assert_eq!(socket.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    socket
}

/// Asserts the socket is closed with 4001 "login ended" within the guarantee.
async fn assert_closed_as_ended(socket: &mut WsClient) {
    assert_eq!(socket.close_code(CLOSED_WITHIN).await, Some(4001), "closed within {CLOSED_WITHIN:?}");
    assert_eq!(socket.close_reason.as_deref(), Some("login ended"));
}

async fn assert_open(socket: &mut WsClient) {
    let reply = socket.request(json!({"type": "ping"})).await.expect("the socket is open");
    assert_eq!(reply["ok"], true);
}

/// `GET /users/me` with `account`'s access token on `node`: its status and error message.
async fn me(app: &TestApp, node: &TestNode, account: &Account) -> (u16, Value) {
    let answer = app.call_on(node, "GET", "/users/me", Some(&account.access), None).await;
    (answer.status, answer.body["error"]["message"].clone())
}

async fn change_password(app: &TestApp, caller: &Account, body: Value) -> Answer {
    app.call("PUT", "/users/me/password", Some(&caller.access), Some(body)).await
}

#[tokio::test]
async fn logout_refuses_the_logins_token_on_every_node_and_closes_its_sockets_there_within_a_second() {
    let app = TestApp::spawn().await.unwrap();
    let other_node = app.add_node().await.unwrap();
    let laptop = app.register("ann").await;
    let phone = log_in(&app, &other_node, &laptop).await;
    let mut laptop_here = open_socket(&app.node, &laptop).await;
    let mut laptop_there = open_socket(&other_node, &laptop).await;
    let mut phone_there = open_socket(&other_node, &phone).await;

    let logout = app.call("POST", "/auth/logout", None, Some(json!({"refresh_token": laptop.refresh}))).await;
    assert_eq!(logout.status, 204);

    assert_closed_as_ended(&mut laptop_there).await;
    assert_closed_as_ended(&mut laptop_here).await;
    for node in [&app.node, &other_node] {
        assert_eq!(me(&app, node, &laptop).await, (401, json!("login ended")));
        assert_eq!(me(&app, node, &phone).await.0, 200);
    }
    assert_open(&mut phone_there).await;
    let refused = WsClient::connect(other_node.addr, Some(&laptop.access), Codec::Json).await;
    let mut refused = refused.expect("the upgrade itself succeeds");
    assert_closed_as_ended(&mut refused).await;
}

#[tokio::test]
async fn a_replayed_refresh_token_ends_its_login_on_every_node_and_no_other() {
    let app = TestApp::spawn().await.unwrap();
    let other_node = app.add_node().await.unwrap();
    let first = app.register("ann").await;
    let refreshed =
        app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": first.refresh}))).await;
    assert_eq!(refreshed.status, 200);
    let second = with_tokens(&first, &refreshed);
    let phone = log_in(&app, &app.node, &first).await;
    let mut second_there = open_socket(&other_node, &second).await;
    let mut phone_there = open_socket(&other_node, &phone).await;

    let replay = app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": first.refresh}))).await;
    assert_eq!(replay.status, 401);

    assert_closed_as_ended(&mut second_there).await;
    for node in [&app.node, &other_node] {
        assert_eq!(me(&app, node, &second).await.0, 401);
        assert_eq!(me(&app, node, &first).await.0, 401, "the login's earlier token too");
        assert_eq!(me(&app, node, &phone).await.0, 200);
    }
    assert_open(&mut phone_there).await;
}

#[tokio::test]
async fn with_redis_down_every_node_still_refuses_a_login_it_heard_had_ended() {
    let mut redis = PrivateRedis::start().await.unwrap();
    let app = TestApp::spawn_with(&["--redis-url", &redis.url()]).await.unwrap();
    let other_node = app.add_node().await.unwrap();
    let laptop = app.register("ann").await;
    let phone = log_in(&app, &other_node, &laptop).await;
    let mut laptop_there = open_socket(&other_node, &laptop).await;
    assert_eq!(me(&app, &other_node, &laptop).await.0, 200);

    redis.stop().await.unwrap();
    let logout = app.call("POST", "/auth/logout", None, Some(json!({"refresh_token": laptop.refresh}))).await;
    assert_eq!(logout.status, 204);

    assert_closed_as_ended(&mut laptop_there).await;
    for node in [&app.node, &other_node] {
        assert_eq!(me(&app, node, &laptop).await, (401, json!("login ended")));
        assert_eq!(me(&app, node, &phone).await.0, 200, "what no node heard of is accepted");
    }
    redis.resume().await.unwrap();
}

#[tokio::test]
async fn a_password_change_ends_the_users_other_logins_on_every_node_and_keeps_the_callers() {
    let app = TestApp::spawn().await.unwrap();
    let other_node = app.add_node().await.unwrap();
    let caller = app.register("ann").await;
    let (phone, tablet) = (log_in(&app, &other_node, &caller).await, log_in(&app, &app.node, &caller).await);
    let bob = app.register("bob").await;
    let mut caller_there = open_socket(&other_node, &caller).await;
    let mut phone_there = open_socket(&other_node, &phone).await;
    let mut tablet_here = open_socket(&app.node, &tablet).await;
    let mut bob_there = open_socket(&other_node, &bob).await;

    let body = json!({"current_password": caller.password, "new_password": "a new password"});
    let changed = change_password(&app, &caller, body).await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);

    assert_closed_as_ended(&mut phone_there).await;
    assert_closed_as_ended(&mut tablet_here).await;
    assert_open(&mut caller_there).await;
    assert_open(&mut bob_there).await;
    for node in [&app.node, &other_node] {
        assert_eq!(me(&app, node, &caller).await.0, 200);
        assert_eq!(me(&app, node, &phone).await.0, 401);
        assert_eq!(me(&app, node, &tablet).await.0, 401);
    }
    let refresh = |token: &str| json!({"refresh_token": token});
    assert_eq!(app.call("POST", "/auth/refresh", None, Some(refresh(&phone.refresh))).await.status, 401);
    assert_eq!(app.call("POST", "/auth/refresh", None, Some(refresh(&caller.refresh))).await.status, 200);
    let old = json!({"username": "ann", "password": caller.password});
    assert_eq!(app.call("POST", "/auth/login", None, Some(old)).await.status, 401);
    let new = json!({"username": "ann", "password": "a new password"});
    assert_eq!(app.call("POST", "/auth/login", None, Some(new)).await.status, 200);
}

#[tokio::test]
async fn the_password_change_refuses_what_is_malformed_wrong_or_hostile_and_changes_nothing() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let mut other_login = open_socket(&app.node, &log_in(&app, &app.node, &ann).await).await;
    let current = ann.password.as_str();
    let path = "/users/me/password";

    let malformed = app.call_raw("PUT", path, Some(&ann.access), b"{\"current_password\": ".to_vec()).await;
    assert_eq!((malformed.status, malformed.code()), (400, Some("invalid_input")));
    let missing = change_password(&app, &ann, json!({})).await;
    assert_eq!((missing.status, missing.code()), (400, Some("invalid_input")));
    assert_eq!(missing.body["error"]["fields"]["current_password"], "is required");
    assert_eq!(missing.body["error"]["fields"]["new_password"], "is required");
    let wrong_type = change_password(&app, &ann, json!({"current_password": 5, "new_password": "x"})).await;
    assert_eq!(wrong_type.status, 400);
    assert!(wrong_type.body["error"]["fields"]["current_password"].is_string(), "{:?}", wrong_type.body);
    for weak in ["short", &"x".repeat(129)] {
        let refused =
            change_password(&app, &ann, json!({"current_password": current, "new_password": weak})).await;
        assert_eq!(refused.status, 400);
        assert!(refused.body["error"]["fields"]["new_password"].is_string(), "{:?}", refused.body);
    }
    let strong = "a strong new password";
    for wrong in ["not-her-password", "", "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}", &"x".repeat(60_000)] {
        let refused =
            change_password(&app, &ann, json!({"current_password": wrong, "new_password": strong})).await;
        assert_eq!((refused.status, refused.code()), (403, Some("forbidden")), "{wrong:.20?}");
    }
    let oversized = json!({"current_password": "x".repeat(70_000), "new_password": strong});
    assert_eq!(change_password(&app, &ann, oversized).await.status, 413);
    let body = json!({"current_password": current, "new_password": strong});
    let unauthorized = app.call("PUT", path, None, Some(body.clone())).await;
    assert_eq!((unauthorized.status, unauthorized.code()), (401, Some("unauthorized")));
    assert_eq!(app.call("PUT", path, Some("garbage"), Some(body)).await.status, 401);

    assert_open(&mut other_login).await;
    let login = json!({"username": "ann", "password": current});
    assert_eq!(app.call("POST", "/auth/login", None, Some(login)).await.status, 200, "unchanged");
}

#[tokio::test]
async fn a_new_password_is_kept_exactly_nul_characters_and_all() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let new = "abc\u{0}defgh\u{0}ü";
    let body = json!({"current_password": ann.password, "new_password": new});
    assert_eq!(change_password(&app, &ann, body).await.status, 204);
    let prefix = json!({"username": "ann", "password": "abc"});
    assert_eq!(app.call("POST", "/auth/login", None, Some(prefix)).await.status, 401);
    let whole = json!({"username": "ann", "password": new});
    assert_eq!(app.call("POST", "/auth/login", None, Some(whole)).await.status, 200);
}

/// An access token as nodes signed them before tokens named their login.
fn token_without_login(user_id: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims =
        json!({"sub": user_id, "exp": now + 300, "iat": now, "jti": uuid::Uuid::new_v4().to_string()});
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

#[tokio::test]
async fn a_token_issued_before_tokens_named_their_login_works_until_it_expires() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let old = Account { access: token_without_login(&ann.id), ..ann.clone() };
    let mut socket = open_socket(&app.node, &old).await;
    assert_eq!(me(&app, &app.node, &old).await.0, 200);

    // Its login cannot be told, so ending the user's logins leaves it be.
    let logout = app.call("POST", "/auth/logout", None, Some(json!({"refresh_token": ann.refresh}))).await;
    assert_eq!(logout.status, 204);
    assert_eq!(me(&app, &app.node, &old).await.0, 200);
    assert_open(&mut socket).await;
    // A password change made with it ends every login of the user, for it has none to keep.
    let fresh = log_in(&app, &app.node, &ann).await;
    let body = json!({"current_password": ann.password, "new_password": "a new password"});
    assert_eq!(change_password(&app, &old, body).await.status, 204);
    assert_eq!(me(&app, &app.node, &fresh).await.0, 401);
}

#[tokio::test]
async fn an_embedded_node_ends_a_login_at_once_and_keeps_the_others() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let laptop = app.register("ann").await;
    let login = json!({"username": "ann", "password": laptop.password});
    let phone = with_tokens(&laptop, &app.call("POST", "/auth/login", None, Some(login.clone())).await);
    let tablet = with_tokens(&laptop, &app.call("POST", "/auth/login", None, Some(login)).await);
    let mut laptop_socket = open_socket(&app.node, &laptop).await;
    let mut phone_socket = open_socket(&app.node, &phone).await;
    let mut tablet_socket = open_socket(&app.node, &tablet).await;

    let logout = app.call("POST", "/auth/logout", None, Some(json!({"refresh_token": laptop.refresh}))).await;
    assert_eq!(logout.status, 204);
    assert_closed_as_ended(&mut laptop_socket).await;
    assert_eq!(app.call("GET", "/users/me", Some(&laptop.access), None).await.status, 401);
    assert_open(&mut phone_socket).await;

    let body = json!({"current_password": laptop.password, "new_password": "a new password"});
    let changed = app.call("PUT", "/users/me/password", Some(&phone.access), Some(body)).await;
    assert_eq!(changed.status, 204);
    assert_closed_as_ended(&mut tablet_socket).await;
    assert_eq!(app.call("GET", "/users/me", Some(&tablet.access), None).await.status, 401);
    assert_eq!(app.call("GET", "/users/me", Some(&phone.access), None).await.status, 200);
    assert_open(&mut phone_socket).await;
    app.stop().await.unwrap();
}
