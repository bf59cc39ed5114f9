//! Malformed, oversized, unauthorized and hostile input: each gets the contract's answer, and
//! no answer ever shows internals.

use chat_tests::{Answer, TestApp};
use serde_json::{Value, json};

fn assert_invalid(answer: &Answer, field: Option<&str>) {
    assert_eq!((answer.status, answer.code()), (400, Some("invalid_input")), "{:?}", answer.body);
    if let Some(field) = field {
        assert!(
            answer.body["error"]["fields"][field].is_string(),
            "no reason for {field}: {:?}",
            answer.body
        );
    }
}

fn assert_no_internals(answer: &Answer) {
    let text = answer.body.to_string().to_lowercase();
    for leak in ["select ", "insert ", "sqlx", "postgres", "panicked", "stack", "src/", ".rs:"] {
        assert!(!text.contains(leak), "{leak:?} leaked in {text}");
    }
}

#[tokio::test]
async fn registration_names_every_invalid_field() {
    let app = TestApp::spawn().await.unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"password": "long-enough"}), "username"),
        (json!({"username": "ann"}), "password"),
        (json!({"username": "an", "password": "long-enough"}), "username"),
        (json!({"username": "a".repeat(33), "password": "long-enough"}), "username"),
        (json!({"username": "ann smith", "password": "long-enough"}), "username"),
        (json!({"username": "<script>", "password": "long-enough"}), "username"),
        (json!({"username": "ann", "password": "short"}), "password"),
        (json!({"username": "ann", "password": "p".repeat(129)}), "password"),
        (json!({"username": "ann", "password": "long-enough", "display_name": ""}), "display_name"),
        (
            json!({"username": "ann", "password": "long-enough", "display_name": "d".repeat(65)}),
            "display_name",
        ),
        (json!({"username": 42, "password": "long-enough"}), "username"),
        (json!({"username": "ann", "password": ["long-enough"]}), "password"),
        (json!({"username": null, "password": "long-enough"}), "username"),
    ];
    for (body, field) in cases {
        let answer = app.call("POST", "/auth/register", None, Some(body.clone())).await;
        assert_invalid(&answer, Some(field));
    }
    let both =
        app.call("POST", "/auth/register", None, Some(json!({"username": "x", "password": "y"}))).await;
    assert_invalid(&both, Some("username"));
    assert_invalid(&both, Some("password"));
}

#[tokio::test]
async fn malformed_json_is_invalid_input() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    for raw in [&b"{"[..], b"not json", b"", b"[]", b"\"text\"", b"{\"username\": \"ann\",}", b"\xff\xfe"] {
        let answer = app.call_raw("POST", "/auth/login", None, raw.to_vec()).await;
        assert_invalid(&answer, None);
        let answer = app.call_raw("POST", "/rooms", Some(&ann.access), raw.to_vec()).await;
        assert_invalid(&answer, None);
    }
}

#[tokio::test]
async fn room_requests_name_every_invalid_field() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "x"}), "type"),
        (json!({"name": "x", "type": "secret"}), "type"),
        (json!({"name": "x", "type": 3}), "type"),
        (json!({"type": "group"}), "name"),
        (json!({"name": "", "type": "group"}), "name"),
        (json!({"name": "n".repeat(101), "type": "group"}), "name"),
        (json!({"name": "x", "type": "group", "member_ids": ["nope"]}), "member_ids"),
        (json!({"name": "x", "type": "group", "member_ids": "nope"}), "member_ids"),
        (json!({"name": "x", "type": "group", "member_ids": [uuid::Uuid::new_v4()]}), "member_ids"),
        (json!({"type": "direct", "member_ids": []}), "member_ids"),
        (json!({"type": "direct"}), "member_ids"),
    ];
    for (body, field) in cases {
        let answer = app.call("POST", "/rooms", Some(&ann.access), Some(body.clone())).await;
        assert_invalid(&answer, Some(field));
    }
    let room = app.create_room(&ann, "group", &[]).await;
    let members = format!("/rooms/{room}/members");
    assert_invalid(&app.call("POST", &members, Some(&ann.access), Some(json!({}))).await, Some("user_id"));
    assert_invalid(
        &app.call("POST", &members, Some(&ann.access), Some(json!({"user_id": "x"}))).await,
        Some("user_id"),
    );
    let bad_role = json!({"user_id": ann.id, "role": "owner"});
    assert_invalid(&app.call("POST", &members, Some(&ann.access), Some(bad_role)).await, Some("role"));
    let messages = format!("/rooms/{room}/messages");
    for first_attempt in [json!("yes"), json!(1)] {
        let body = json!({"content": "x", "first_attempt": first_attempt});
        assert_invalid(
            &app.call("POST", &messages, Some(&ann.access), Some(body)).await,
            Some("first_attempt"),
        );
    }
    let read = format!("/rooms/{room}/read");
    assert_invalid(&app.call("POST", &read, Some(&ann.access), Some(json!({"seq": -1}))).await, Some("seq"));
    assert_invalid(&app.call("POST", &read, Some(&ann.access), Some(json!({"seq": "7"}))).await, Some("seq"));
    assert_invalid(&app.call("POST", &read, Some(&ann.access), Some(json!({}))).await, Some("seq"));
    assert_invalid(
        &app.call("PATCH", "/users/me", Some(&ann.access), Some(json!({"display_name": "\u{7}"}))).await,
        Some("display_name"),
    );
}

#[tokio::test]
async fn a_body_that_is_json_but_not_an_object_changes_nothing() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    for body in [json!(["x", "group", null, null]), json!(null), json!("x"), json!(7)] {
        let answer = app.call("POST", "/rooms", Some(&ann.access), Some(body.clone())).await;
        assert_invalid(&answer, None);
        assert!(answer.body["error"].get("fields").is_none(), "{body}: {:?}", answer.body);
        assert_no_internals(&answer);
    }
    let rooms = app.call("GET", "/rooms", Some(&ann.access), None).await;
    assert_eq!(rooms.body["rooms"], json!([]));
}

#[tokio::test]
async fn an_oversized_body_is_payload_too_large() {
    let app = TestApp::spawn().await.unwrap();
    let big = json!({"username": "ann", "password": "x".repeat(70 * 1024)});
    let answer = app.call("POST", "/auth/register", None, Some(big)).await;
    assert_eq!((answer.status, answer.code()), (413, Some("payload_too_large")));
    // The node is still fine afterwards.
    app.register("ann").await;
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_before_it_is_sent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn().await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(app.node.addr).await.unwrap();
    let head = "POST /auth/register HTTP/1.1\r\nhost: chat\r\ncontent-type: application/json\r\n\
                content-length: 999999999\r\n\r\n{}";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer[..read.expect("an answer at once").unwrap()]).into_owned();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains(r#""code":"payload_too_large""#), "{text}");
}

#[tokio::test]
async fn a_request_past_the_time_limit_is_unavailable_in_the_contract_shape() {
    let app = TestApp::spawn_with(&["--request-timeout", "1ms"]).await.unwrap();
    // Hashing a password takes longer than a millisecond.
    let body = json!({"username": "ann", "password": "long enough password"});
    let answer = app.call("POST", "/auth/register", None, Some(body)).await;
    assert_eq!((answer.status, answer.code()), (503, Some("unavailable")), "{:?}", answer.body);
}

#[tokio::test]
async fn every_authenticated_route_refuses_a_missing_token() {
    let app = TestApp::spawn().await.unwrap();
    let id = uuid::Uuid::new_v4();
    let routes = [
        ("GET", "/users?query=ann".to_owned()),
        ("GET", "/users/me".to_owned()),
        ("GET", "/admin/audit".to_owned()),
        ("GET", "/admin/users?query=a".to_owned()),
        ("POST", format!("/admin/users/{id}/disable")),
        ("POST", format!("/admin/users/{id}/enable")),
        ("POST", format!("/admin/users/{id}/messages/delete")),
        ("GET", "/admin/api-keys".to_owned()),
        ("POST", "/admin/api-keys".to_owned()),
        ("DELETE", format!("/admin/api-keys/{id}")),
        ("GET", "/admin/webhooks".to_owned()),
        ("POST", "/admin/webhooks".to_owned()),
        ("DELETE", format!("/admin/webhooks/{id}")),
        ("GET", format!("/admin/webhooks/{id}/deliveries")),
        ("POST", format!("/server/rooms/{id}/messages")),
        ("POST", format!("/server/users/{id}/rooms")),
        ("POST", format!("/server/users/{id}/rooms/{id}/messages")),
        ("POST", format!("/server/users/{id}/rooms/{id}/members")),
        ("GET", format!("/server/users/{id}/rooms/{id}/presence")),
        ("PATCH", "/users/me".to_owned()),
        ("GET", format!("/users/{id}")),
        ("GET", "/rooms".to_owned()),
        ("POST", "/rooms".to_owned()),
        ("GET", format!("/rooms/{id}")),
        ("GET", format!("/rooms/{id}/members")),
        ("POST", format!("/rooms/{id}/members")),
        ("DELETE", format!("/rooms/{id}/members/{id}")),
        ("PATCH", format!("/rooms/{id}/members/{id}")),
        ("POST", format!("/rooms/{id}/read")),
        ("PATCH", format!("/rooms/{id}")),
        ("GET", format!("/rooms/{id}/bans")),
        ("POST", format!("/rooms/{id}/bans")),
        ("DELETE", format!("/rooms/{id}/bans/{id}")),
        ("PUT", format!("/rooms/{id}/mutes/{id}")),
        ("DELETE", format!("/rooms/{id}/mutes/{id}")),
    ];
    for (method, path) in routes {
        let answer = app.call(method, &path, None, Some(json!({}))).await;
        assert_eq!((answer.status, answer.code()), (401, Some("unauthorized")), "{method} {path}");
        let answer = app.call(method, &path, Some("Bearer-less nonsense"), Some(json!({}))).await;
        assert_eq!(answer.status, 401, "{method} {path}");
    }
}

#[tokio::test]
async fn hostile_strings_are_stored_as_data_and_never_leak_internals() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let eve = app.register("eve").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let hostile = ["'; drop table users; --", "<script>alert(1)</script>", "\u{0}", "%s%s%n", "{{7*7}}"];
    for text in hostile {
        for answer in [
            app.call("PATCH", &format!("/rooms/{room}"), Some(&ann.access), Some(json!({"topic": text})))
                .await,
            app.call(
                "POST",
                &format!("/rooms/{room}/bans"),
                Some(&ann.access),
                Some(json!({"user_id": eve.id, "reason": text})),
            )
            .await,
            app.call("POST", "/auth/login", None, Some(json!({"username": text, "password": text}))).await,
            app.call("POST", "/rooms", Some(&ann.access), Some(json!({"name": text, "type": "group"}))).await,
            app.call("PATCH", "/users/me", Some(&ann.access), Some(json!({"display_name": text}))).await,
            app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": text}))).await,
        ] {
            assert!(answer.status < 500, "{text:?}: {:?}", answer.body);
            assert_no_internals(&answer);
        }
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(users, 2);
    let bans = app.call("GET", &format!("/rooms/{room}/bans"), Some(&ann.access), None).await;
    assert_eq!(bans.body["bans"][0]["reason"], "{{7*7}}", "stored verbatim");
    let rooms = app.call("GET", "/rooms", Some(&ann.access), None).await;
    let names: Vec<&str> =
        rooms.body["rooms"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"<script>alert(1)</script>"), "stored verbatim: {names:?}");
}

#[tokio::test]
async fn a_wrong_method_is_refused_in_the_contract_shape() {
    let app = TestApp::spawn().await.unwrap();
    let answer = app.call("PUT", "/auth/login", None, None).await;
    assert_eq!(answer.status, 405);
    assert!(answer.code().is_some());
}
