//! Sockets as the feed and moderation tests use them: opened and known to be following their
//! user's feed, and read frame by frame.

use std::time::Duration;

use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, TestNode};
use serde_json::{Value, json};

pub const WAIT: Duration = Duration::from_secs(5);

/// A socket of `account` on `node`, known to be open (and so following its feed).
pub async fn open_socket(node: &TestNode, account: &Account, codec: Codec) -> WsClient {
    let mut socket = WsClient::connect(node.addr, Some(&account.access), codec).await.unwrap();
    assert_eq!(socket.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    socket
}

/// The next frame of type `kind`, skipping pongs; panics on any other frame or none in time.
pub async fn expect_frame(socket: &mut WsClient, kind: &str) -> Value {
    loop {
        let frame = socket.next_frame(WAIT).await.unwrap_or_else(|| panic!("no {kind} frame"));
        if frame["type"] == "pong" {
            continue;
        }
        assert_eq!(frame["type"], kind, "{frame}");
        return frame;
    }
}

/// Asserts that nothing but pongs arrived: a ping's reply comes after every frame queued before it.
pub async fn expect_nothing(socket: &mut WsClient) {
    assert_eq!(socket.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    while let Some(frame) = socket.next_frame(Duration::from_millis(200)).await {
        assert_eq!(frame["type"], "pong", "unexpected {frame}");
    }
}
