//! A Socket.IO client for tests: Socket.IO v5 over Engine.IO v4 on the WebSocket transport,
//! spoken by hand so that tests can also send what no well-behaved client sends.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(10);

/// How a client authenticates at connect.
#[derive(Clone, Copy, Debug)]
pub enum Token<'a> {
    /// `auth: {token}` in the namespace's connect packet.
    Auth(&'a str),
    /// `?token=` in the URL.
    Query(&'a str),
    /// `Authorization: Bearer`.
    Header(&'a str),
    None,
}

/// What the server sent, read.
#[derive(Debug)]
enum Packet {
    Event(String, Value),
    Ack(u64, Value),
    Disconnect,
    Other,
}

pub struct SioClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Events that arrived while waiting for something else, oldest first.
    events: VecDeque<(String, Value)>,
    /// Acknowledgements that arrived while waiting for something else.
    acks: HashMap<u64, Value>,
    next_ack: u64,
    /// Whether the server disconnected the socket from the namespace, or the transport ended.
    pub disconnected: bool,
}

impl SioClient {
    /// Opens the Engine.IO session and connects to the namespace: the client, or the connect
    /// error's message parsed as JSON.
    pub async fn connect(
        addr: std::net::SocketAddr,
        token: Token<'_>,
    ) -> anyhow::Result<Result<Self, Value>> {
        let query = match token {
            Token::Query(token) => format!("&token={token}"),
            _ => String::new(),
        };
        let mut request =
            format!("ws://{addr}/socket.io/?EIO=4&transport=websocket{query}").into_client_request()?;
        if let Token::Header(token) = token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        let mut client =
            Self { socket, events: VecDeque::new(), acks: HashMap::new(), next_ack: 1, disconnected: false };
        let open = client.text(WAIT).await.ok_or_else(|| anyhow::anyhow!("no Engine.IO open packet"))?;
        anyhow::ensure!(open.starts_with('0'), "not an open packet: {open}");
        let connect = match token {
            Token::Auth(token) => format!("40{}", json!({"token": token})),
            _ => "40".to_owned(),
        };
        client.send_text(&connect).await?;
        let answer = client.text(WAIT).await.ok_or_else(|| anyhow::anyhow!("no answer to connect"))?;
        if let Some(connected) = answer.strip_prefix("40") {
            anyhow::ensure!(serde_json::from_str::<Value>(connected)?["sid"].is_string(), "{answer}");
            return Ok(Ok(client));
        }
        let error = answer.strip_prefix("44").ok_or_else(|| anyhow::anyhow!("unexpected {answer}"))?;
        let error: Value = serde_json::from_str(error)?;
        let message = error["message"].as_str().ok_or_else(|| anyhow::anyhow!("no message: {answer}"))?;
        Ok(Err(serde_json::from_str(message)?))
    }

    /// Sends a text message of the Engine.IO transport as it is.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket.send(WsMessage::Text(text.to_owned().into())).await?;
        Ok(())
    }

    /// Emits an event without an acknowledgement.
    pub async fn emit(&mut self, event: &str, data: Value) -> anyhow::Result<()> {
        self.send_text(&format!("42{}", json!([event, data]))).await
    }

    /// Emits an event with an acknowledgement; its id, for `ack`.
    pub async fn emit_with_ack(&mut self, event: &str, data: Value) -> anyhow::Result<u64> {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_text(&format!("42{id}{}", json!([event, data]))).await?;
        Ok(id)
    }

    /// Emits an event and waits for its acknowledgement.
    pub async fn call(&mut self, event: &str, data: Value) -> anyhow::Result<Value> {
        let id = self.emit_with_ack(event, data).await?;
        self.ack(id, WAIT).await.ok_or_else(|| anyhow::anyhow!("no acknowledgement of {event}"))
    }

    /// The acknowledgement `id`, when it comes within `wait`.
    pub async fn ack(&mut self, id: u64, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(ack) = self.acks.remove(&id) {
                return Some(ack);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || self.disconnected {
                return None;
            }
            match self.packet(left).await? {
                Packet::Ack(got, body) => {
                    self.acks.insert(got, body);
                }
                Packet::Event(name, payload) => self.events.push_back((name, payload)),
                Packet::Disconnect | Packet::Other => {}
            }
        }
    }

    /// The next event named `name` within `wait`; others are kept.
    pub async fn event(&mut self, name: &str, wait: Duration) -> Option<Value> {
        if let Some(at) = self.events.iter().position(|(n, _)| n == name) {
            return self.events.remove(at).map(|(_, payload)| payload);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || self.disconnected {
                return None;
            }
            match self.packet(left).await? {
                Packet::Event(got, payload) if got == name => return Some(payload),
                Packet::Event(got, payload) => self.events.push_back((got, payload)),
                Packet::Ack(id, body) => {
                    self.acks.insert(id, body);
                }
                Packet::Disconnect | Packet::Other => {}
            }
        }
    }

    /// Collects `message` events of `room` until `count` came or nothing did for `quiet`.
    pub async fn messages(&mut self, room: &str, count: usize, quiet: Duration) -> Vec<Value> {
        let mut messages = Vec::new();
        while messages.len() < count {
            let Some(frame) = self.event("message", quiet).await else { break };
            if frame["message"]["room_id"] == room {
                messages.push(frame["message"].clone());
            }
        }
        messages
    }

    /// The `close` event and the disconnection after it, within `wait`: its payload.
    pub async fn closed(&mut self, wait: Duration) -> Option<Value> {
        let close = self.event("close", wait).await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.disconnected && tokio::time::Instant::now() < deadline {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let _ = self.packet(left).await;
        }
        self.disconnected.then_some(close)
    }

    /// Ends the connection as a client does: the namespace's disconnect, then the transport.
    pub async fn disconnect(mut self) {
        let _ = self.send_text("41").await;
        let _ = self.socket.close(None).await;
    }

    /// Reads until a Socket.IO packet comes, answering Engine.IO's pings.
    async fn packet(&mut self, wait: Duration) -> Option<Packet> {
        let text = self.text(wait).await?;
        let packet = parse(&text);
        if matches!(packet, Packet::Disconnect) {
            self.disconnected = true;
        }
        Some(packet)
    }

    async fn text(&mut self, wait: Duration) -> Option<String> {
        loop {
            let message = match tokio::time::timeout(wait, self.socket.next()).await {
                Ok(Some(Ok(message))) => message,
                Ok(_) => {
                    self.disconnected = true;
                    return None;
                }
                Err(_) => return None,
            };
            match message {
                WsMessage::Text(text) if text.as_str() == "2" => {
                    let _ = self.send_text("3").await;
                }
                WsMessage::Text(text) => return Some(text.as_str().to_owned()),
                WsMessage::Close(_) => {
                    self.disconnected = true;
                    return None;
                }
                _ => continue,
            }
        }
    }
}

/// Reads an Engine.IO message packet (`4`) of Socket.IO: `2` event, `3` ack, `1` disconnect.
fn parse(text: &str) -> Packet {
    let Some(packet) = text.strip_prefix('4') else { return Packet::Other };
    let mut chars = packet.chars();
    let kind = chars.next();
    let rest = chars.as_str();
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (id, data) = rest.split_at(digits);
    let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    match kind {
        Some('2') => {
            let name = data[0].as_str().unwrap_or_default().to_owned();
            Packet::Event(name, data.get(1).cloned().unwrap_or(Value::Null))
        }
        Some('3') => Packet::Ack(id.parse().unwrap_or(0), data.get(0).cloned().unwrap_or(Value::Null)),
        Some('1') => Packet::Disconnect,
        _ => Packet::Other,
    }
}
