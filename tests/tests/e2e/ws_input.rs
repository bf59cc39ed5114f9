//! Malformed, oversized, unauthorized and hostile WebSocket input: each gets the contract's
//! answer, the connection survives what it should, and the node keeps serving.

use std::time::Duration;

use chat_tests::TestApp;
use chat_tests::ws::{Codec, WsClient};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn malformed_frames_get_an_error_and_the_connection_stays_open() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    for raw in ["{", "not json", "[1,2,3]", "\"text\"", "{\"type\": 5}", "{\"no\": \"type\"}"] {
        client.send_raw(WsMessage::Text(raw.into())).await.unwrap();
        let frame = client.next_frame(WAIT).await.expect("an error frame");
        assert_eq!(frame["type"], "error", "{raw}: {frame}");
        assert_eq!(frame["error"]["code"], "invalid_input");
    }
    let pong = client.request(json!({"type": "ping"})).await.unwrap();
    assert_eq!(pong["ok"], true);
}

#[tokio::test]
async fn a_bad_command_with_an_id_gets_a_failed_reply_naming_the_field() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    let cases = [
        (json!({"type": "teleport"}), None),
        (json!({"type": "join"}), Some("room")),
        (json!({"type": "join", "room": "not-a-uuid"}), Some("room")),
        (json!({"type": "send", "room": room}), Some("content")),
        (json!({"type": "send", "room": room, "content": ""}), Some("content")),
        (json!({"type": "send", "room": room, "content": "x".repeat(4001)}), Some("content")),
        (json!({"type": "send", "room": room, "content": 7}), Some("content")),
        (json!({"type": "send", "room": room, "content": "x", "metadata": [1]}), Some("metadata")),
        (json!({"type": "history", "room": room, "limit": 0}), Some("limit")),
        (json!({"type": "read", "room": room, "seq": -1}), Some("seq")),
    ];
    for (command, field) in cases {
        let reply = client.request(command.clone()).await.unwrap();
        assert_eq!(reply["ok"], false, "{command}: {reply}");
        assert_eq!(reply["error"]["code"], "invalid_input", "{command}: {reply}");
        if let Some(field) = field {
            assert!(reply["error"]["fields"][field].is_string(), "{command}: {reply}");
        }
    }
    assert!(client.closed.is_none());
    let send = json!({"type": "send", "room": room, "content": "x", "first_attempt": "yes"});
    let reply = client.request(send).await.unwrap();
    assert_eq!(reply["error"]["fields"]["first_attempt"], "must be a boolean", "{reply}");
}

#[tokio::test]
async fn a_burst_of_malformed_frames_closes_with_1008() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    for _ in 0..30 {
        if client.send_raw(WsMessage::Text("garbage".into())).await.is_err() {
            break;
        }
    }
    assert_eq!(client.close_code(WAIT).await, Some(1008));
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009_and_the_node_keeps_serving() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    let huge = json!({"type": "ping", "padding": "x".repeat(70 * 1024)}).to_string();
    let _ = client.send_raw(WsMessage::Text(huge.into())).await;
    assert_eq!(client.close_code(WAIT).await, Some(1009));
    let mut fresh = app.ws(&app.node, &ann, Codec::Json).await;
    assert_eq!(fresh.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
}

#[tokio::test]
async fn sending_past_the_rate_limit_is_refused_and_a_sustained_flood_closes_with_4008() {
    let app = TestApp::spawn_with(&["--send-rate", "5", "--send-burst", "5"]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    let mut limited = 0;
    for n in 0..10 {
        let reply =
            client.request(json!({"type": "send", "room": room, "content": format!("m{n}")})).await.unwrap();
        if reply["error"]["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(limited >= 4, "only {limited} of 10 were limited");
    for n in 0..400 {
        let frame = json!({"type": "send", "room": room, "content": format!("flood {n}")});
        if client.send_value(&frame).await.is_err() {
            break;
        }
    }
    assert_eq!(client.close_code(WAIT).await, Some(4008));
}

#[tokio::test]
async fn a_bad_or_expired_token_closes_with_4001() {
    let app = TestApp::spawn_with(&["--access-token-ttl", "2s"]).await.unwrap();
    let ann = app.register("ann").await;
    let mut forged = WsClient::connect(app.node.addr, Some("not-a-token"), Codec::Json).await.unwrap();
    assert_eq!(forged.close_code(WAIT).await, Some(4001));
    let mut expiring = app.ws(&app.node, &ann, Codec::Json).await;
    assert_eq!(expiring.close_code(WAIT).await, Some(4001));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut late = WsClient::connect(app.node.addr, Some(&ann.access), Codec::Json).await.unwrap();
    assert_eq!(late.close_code(WAIT).await, Some(4001));
}

#[tokio::test]
async fn renewing_the_token_keeps_the_session_open() {
    // Token expiry has whole-second precision: the margins below are half a second or more.
    let app = TestApp::spawn_with(&["--access-token-ttl", "5s"]).await.unwrap();
    let ann = app.register("ann").await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let renewed = app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": ann.refresh}))).await;
    let token = renewed.body["access_token"].as_str().unwrap();
    let reply = client.request(json!({"type": "auth", "token": token})).await.unwrap();
    assert_eq!(reply["ok"], true);
    // Past the first token's expiry, within the second's.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(client.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
}

#[tokio::test]
async fn a_token_for_a_deleted_user_closes_with_4001() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    sqlx::query("delete from users").execute(&app.db.pool).await.unwrap();
    let mut client = WsClient::connect(app.node.addr, Some(&ann.access), Codec::Json).await.unwrap();
    assert_eq!(client.close_code(WAIT).await, Some(4001));
}

#[tokio::test]
async fn a_first_auth_frame_authenticates_and_silence_does_not() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let mut client = WsClient::connect(app.node.addr, None, Codec::MsgPack).await.unwrap();
    client.send_value(&json!({"type": "auth", "token": ann.access})).await.unwrap();
    assert_eq!(client.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    let mut wrong = WsClient::connect(app.node.addr, None, Codec::Json).await.unwrap();
    wrong.send_value(&json!({"type": "ping"})).await.unwrap();
    assert_eq!(wrong.close_code(WAIT).await, Some(4001));
}

#[tokio::test]
async fn hostile_content_is_stored_verbatim_and_nothing_crashes() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let mut client = app.ws(&app.node, &ann, Codec::Json).await;
    for content in ["<script>alert(1)</script>", "'; drop table messages; --", "🙂\u{202e}rtl", "a\u{0}b"] {
        let reply = client.request(json!({"type": "send", "room": room, "content": content})).await.unwrap();
        if content.contains('\u{0}') {
            assert_eq!(reply["error"]["code"], "invalid_input", "{reply}");
        } else {
            assert_eq!(reply["message"]["content"], content, "{reply}");
        }
    }
    let nested = "[".repeat(10_000) + &"]".repeat(10_000);
    client.send_raw(WsMessage::Text(nested.into())).await.unwrap();
    let frame = client.next_frame(WAIT).await.unwrap();
    assert_eq!(frame["type"], "error");
    client.send_raw(WsMessage::Binary(vec![0xc1, 0xff, 0x00].into())).await.unwrap();
    assert_eq!(client.next_frame(WAIT).await.unwrap()["type"], "error");
    assert_eq!(client.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
}
