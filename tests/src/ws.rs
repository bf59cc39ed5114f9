//! A WebSocket client that speaks the protocol in either codec, for tests.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Json,
    MsgPack,
}

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub codec: Codec,
    /// Frames that arrived while waiting for something else.
    pending: VecDeque<Value>,
    next_id: u64,
    /// The close code, once the server closed.
    pub closed: Option<u16>,
    /// The reason the server gave with its close frame.
    pub close_reason: Option<String>,
}

const WAIT: Duration = Duration::from_secs(10);

impl WsClient {
    /// Connects to `ws://addr/ws` with the token in the query, or none.
    pub async fn connect(
        addr: std::net::SocketAddr,
        token: Option<&str>,
        codec: Codec,
    ) -> anyhow::Result<Self> {
        let url = match token {
            Some(token) => format!("ws://{addr}/ws?token={token}"),
            None => format!("ws://{addr}/ws"),
        };
        let mut request = url.into_client_request()?;
        let protocol = match codec {
            Codec::Json => "chat.v1.json",
            Codec::MsgPack => "chat.v1.msgpack",
        };
        request.headers_mut().insert("sec-websocket-protocol", protocol.parse()?);
        let (socket, response) = tokio_tungstenite::connect_async(request).await?;
        let chosen = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
        anyhow::ensure!(chosen == Some(protocol), "server chose {chosen:?}, not {protocol}");
        Ok(Self { socket, codec, pending: VecDeque::new(), next_id: 1, closed: None, close_reason: None })
    }

    pub async fn send_value(&mut self, value: &Value) -> anyhow::Result<()> {
        let message = match self.codec {
            Codec::Json => WsMessage::Text(value.to_string().into()),
            Codec::MsgPack => WsMessage::Binary(rmp_serde::to_vec_named(value)?.into()),
        };
        self.socket.send(message).await?;
        Ok(())
    }

    pub async fn send_raw(&mut self, message: WsMessage) -> anyhow::Result<()> {
        self.socket.send(message).await?;
        Ok(())
    }

    /// The next frame from the server, or `None` once it closed (see `closed`) or after the
    /// wait.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Value> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        self.read(wait).await
    }

    async fn read(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let message = match tokio::time::timeout(wait, self.socket.next()).await {
                Ok(Some(Ok(message))) => message,
                Ok(_) => {
                    self.closed.get_or_insert(1006);
                    return None;
                }
                Err(_) => return None,
            };
            match message {
                WsMessage::Text(text) => return serde_json::from_str(&text).ok(),
                WsMessage::Binary(bytes) => return rmp_serde::from_slice(&bytes).ok(),
                WsMessage::Close(frame) => {
                    self.closed = Some(frame.as_ref().map_or(1005, |f| u16::from(f.code)));
                    self.close_reason = frame.map(|f| f.reason.to_string());
                    return None;
                }
                _ => continue,
            }
        }
    }

    /// Sends a command with a fresh id and waits for its reply; other frames are kept.
    pub async fn request(&mut self, mut command: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        command["id"] = json!(id);
        self.send_value(&command).await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(frame) = self.read(left).await else {
                anyhow::bail!("no reply to {command} (closed: {:?})", self.closed);
            };
            if frame["type"] == "reply" && frame["id"] == json!(id) {
                return Ok(frame);
            }
            self.pending.push_back(frame);
        }
    }

    /// Waits for the server to close and returns its code.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            if let Some(frame) = self.read(left).await {
                self.pending.push_back(frame);
            }
        }
        self.closed
    }

    /// Collects `message` frames of `room` until `count` arrived or nothing came for `quiet`.
    pub async fn collect_messages(&mut self, room: &str, count: usize, quiet: Duration) -> Vec<Value> {
        let mut messages = Vec::new();
        while messages.len() < count {
            let Some(frame) = self.next_frame(quiet).await else { break };
            if frame["type"] == "message" && frame["message"]["room_id"] == room {
                messages.push(frame["message"].clone());
            }
        }
        messages
    }

    pub async fn close(mut self) {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }
}
