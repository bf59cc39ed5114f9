//! A Socket.IO client of the peer gateway (`bench/peers/socketio`) over a raw WebSocket:
//! the Engine.IO handshake, the namespace connect, `join` with its ack, and the frames of the
//! send phase. It speaks JSON text only, like the peer.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::client_async_with_config;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Socket};
use crate::engineio::{self, Packet, SocketPacket};
use crate::target::Node;

/// How long the handshake and a `join` may take during setup.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The ack id of the `join`; sends count from 1, as on the chat path.
const JOIN_ID: u64 = 0;

/// Opens a WebSocket to the peer's Socket.IO endpoint and connects to the main namespace.
pub async fn connect(node: &Node, local: Option<IpAddr>) -> anyhow::Result<Socket> {
    let stream = client::open_tcp(node, local).await?;
    let url = format!("ws://{}{}", node.addr, engineio::WEBSOCKET_PATH);
    let (mut ws, _) = client_async_with_config(url, stream, Some(client::ws_config()))
        .await
        .with_context(|| format!("WebSocket handshake with {}", node.addr))?;
    tokio::time::timeout(SETUP_TIMEOUT, async {
        let first = next_text(&mut ws).await?;
        let Packet::Open(_) = engineio::decode(&first)? else {
            bail!("expected the open packet, got {first:?}")
        };
        ws.send(Message::text(engineio::CONNECT)).await?;
        loop {
            let text = next_text(&mut ws).await?;
            match engineio::decode(&text)? {
                Packet::Message(SocketPacket::Connect { .. }) => return Ok(()),
                Packet::Message(SocketPacket::ConnectError { data }) => bail!("connect refused: {data}"),
                Packet::Ping => ws.send(Message::text(engineio::PONG)).await?,
                _ => {}
            }
        }
    })
    .await
    .context("Socket.IO handshake timed out")??;
    Ok(ws)
}

/// Emits `join` for `room` and waits for its ack, answering pings meanwhile.
pub async fn join(ws: &mut Socket, room: &str) -> anyhow::Result<()> {
    ws.send(Message::text(engineio::encode_event("join", &RoomBody { room }, Some(JOIN_ID))?)).await?;
    tokio::time::timeout(SETUP_TIMEOUT, async {
        loop {
            let text = next_text(ws).await?;
            match engineio::decode(&text)? {
                Packet::Message(SocketPacket::Ack { id: JOIN_ID, data }) => {
                    let ack: AckBody = engineio::ack_payload(data)?;
                    return match ack.ok {
                        true => Ok(()),
                        false => bail!("join refused: {}", ack.code.unwrap_or_default()),
                    };
                }
                Packet::Ping => ws.send(Message::text(engineio::PONG)).await?,
                Packet::Close | Packet::Message(SocketPacket::Disconnect) => {
                    bail!("disconnected during join")
                }
                _ => {}
            }
        }
    })
    .await
    .context("join timed out")?
}

/// The next text frame; the peer sends nothing else.
async fn next_text(ws: &mut Socket) -> anyhow::Result<String> {
    while let Some(message) = ws.next().await {
        match message? {
            Message::Text(text) => return Ok(text.as_str().to_owned()),
            Message::Close(close) => bail!("closed: {close:?}"),
            _ => {}
        }
    }
    bail!("the connection ended")
}

#[derive(Serialize)]
struct RoomBody<'a> {
    room: &'a str,
}

/// The payload of `send`: the room and the content with the bench's tag. The peer stamps
/// nothing, so the tag (sender connection and request counter) is the message's identity.
#[derive(Serialize)]
struct SendBody<'a> {
    room: &'a str,
    content: &'a str,
}

/// `42<request>["send",{"room","content"}]`: a send asking for an ack under its request id.
pub fn send_frame(request: u64, room: &str, content: &str) -> anyhow::Result<Message> {
    Ok(Message::text(engineio::encode_event("send", &SendBody { room, content }, Some(request))?))
}

/// The pong answering a server ping.
pub fn pong() -> Message {
    Message::text(engineio::PONG)
}

#[derive(Deserialize)]
struct AckBody<'a> {
    ok: bool,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageBody<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
}

/// What a frame of the send phase means to the bench.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A `message` event of a room.
    Message { room: Cow<'a, str>, content: Cow<'a, str> },
    /// The ack of a request: `Err(code)` when the peer refused it.
    Ack { id: u64, outcome: Result<(), String> },
    /// The server's heartbeat, to be answered with [`pong`].
    Ping,
    /// The server ended the session (Engine.IO close or Socket.IO disconnect).
    Disconnected,
    /// Anything else (other events, pongs, noops).
    Other,
}

pub fn decode(text: &str) -> anyhow::Result<Incoming<'_>> {
    Ok(match engineio::decode(text)? {
        Packet::Message(SocketPacket::Event { data, .. }) => {
            let (name, body): (Cow<'_, str>, MessageBody<'_>) = engineio::event_payload(data)?;
            match name.as_ref() {
                "message" => Incoming::Message { room: body.room, content: body.content },
                _ => Incoming::Other,
            }
        }
        Packet::Message(SocketPacket::Ack { id, data }) => {
            let ack: AckBody<'_> = engineio::ack_payload(data)?;
            let outcome =
                if ack.ok { Ok(()) } else { Err(ack.code.map_or_else(|| "unknown".into(), Cow::into_owned)) };
            Incoming::Ack { id, outcome }
        }
        Packet::Ping => Incoming::Ping,
        Packet::Close | Packet::Message(SocketPacket::Disconnect) => Incoming::Disconnected,
        _ => Incoming::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_asks_for_an_ack_under_its_request_id() {
        let Message::Text(text) = send_frame(42, "room-1", "1:2:42;xx").unwrap() else { panic!("not text") };
        assert_eq!(text.as_str(), r#"4242["send",{"room":"room-1","content":"1:2:42;xx"}]"#);
    }

    #[test]
    fn messages_acks_and_pings_of_the_send_phase() {
        let message = decode(r#"42["message",{"room":"r","content":"1:2:3;x"}]"#).unwrap();
        assert_eq!(message, Incoming::Message { room: "r".into(), content: "1:2:3;x".into() });
        assert_eq!(decode(r#"4317[{"ok":true}]"#).unwrap(), Incoming::Ack { id: 17, outcome: Ok(()) });
        let refused = decode(r#"4318[{"ok":false,"code":"not_joined"}]"#).unwrap();
        assert_eq!(refused, Incoming::Ack { id: 18, outcome: Err("not_joined".into()) });
        assert_eq!(decode("2").unwrap(), Incoming::Ping);
        assert_eq!(decode("41").unwrap(), Incoming::Disconnected);
        assert_eq!(decode("1").unwrap(), Incoming::Disconnected);
    }

    #[test]
    fn a_message_without_content_is_malformed() {
        assert!(decode(r#"42["message",{"room":"r"}]"#).is_err());
        assert!(decode(r#"4317[{"okay":true}]"#).is_err());
    }
}
