//! A Socket.IO client over a raw WebSocket, of the peer gateway (`bench/peers/socketio`) and of
//! the chat cluster's `/socket.io/`: the Engine.IO handshake, the namespace connect (with the
//! chat cluster's token), `join` with its ack, and the frames of the send phase. It speaks JSON
//! text only, like both servers.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::client_async_with_config;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, ServerFrame, Socket, WireError, WireMessage};
use crate::engineio::{self, Packet, SocketPacket};
use crate::target::Node;

/// How long the handshake and a `join` may take during setup.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The ack id of the `join`; sends count from 1, as on the chat path.
const JOIN_ID: u64 = 0;

/// Opens a WebSocket to a Socket.IO endpoint and connects to the main namespace, with
/// `auth: {token}` when given (the chat cluster's sockets are its users').
pub async fn connect(node: &Node, local: Option<IpAddr>, token: Option<&str>) -> anyhow::Result<Socket> {
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
        let connect = match token {
            Some(token) => format!("{}{}", engineio::CONNECT, serde_json::json!({ "token": token })),
            None => engineio::CONNECT.to_owned(),
        };
        ws.send(Message::text(connect)).await?;
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

/// The data of the chat cluster's `send` event: the fields of its `send` frame.
#[derive(Serialize)]
pub struct ChatSend<'a> {
    pub room: &'a str,
    pub content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub first_attempt: bool,
}

/// `42<request>["send",{"room","content","client_msg_id"?,"first_attempt"?}]` to the chat cluster.
pub fn chat_send_frame(request: u64, body: &ChatSend<'_>) -> anyhow::Result<Message> {
    Ok(Message::text(engineio::encode_event("send", body, Some(request))?))
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

/// The acknowledgement of the chat cluster: its `/ws` reply without `type` and `id`.
#[derive(Deserialize)]
struct ChatAck<'a> {
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default, borrow)]
    message: Option<WireMessage<'a>>,
    #[serde(default, borrow)]
    error: Option<WireError<'a>>,
}

/// What a packet of the chat cluster's Socket.IO endpoint means to the bench. Each lives on the
/// stack for one packet: boxing the reply would cost an allocation per acknowledgement.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ChatIncoming<'a> {
    /// An event: its payload is the `/ws` frame of the same type.
    Frame(&'a str),
    /// An acknowledgement, as the `/ws` reply to the request with its id.
    Reply(ServerFrame<'a>),
    /// The server's heartbeat, to be answered with [`pong`].
    Ping,
    /// The server ended the session (Engine.IO close or Socket.IO disconnect).
    Disconnected,
    Other,
}

pub fn decode_chat(text: &str) -> anyhow::Result<ChatIncoming<'_>> {
    Ok(match engineio::decode(text)? {
        Packet::Message(SocketPacket::Event { data, .. }) => {
            let (_, frame): (Cow<'_, str>, &serde_json::value::RawValue) = engineio::event_payload(data)?;
            ChatIncoming::Frame(frame.get())
        }
        Packet::Message(SocketPacket::Ack { id, data }) => {
            let ack: ChatAck<'_> = engineio::ack_payload(data)?;
            ChatIncoming::Reply(ServerFrame {
                kind: Cow::Borrowed("reply"),
                id: Some(id),
                ok: ack.ok,
                seq: None,
                room: None,
                message_id: None,
                message: ack.message,
                error: ack.error,
            })
        }
        Packet::Ping => ChatIncoming::Ping,
        Packet::Close | Packet::Message(SocketPacket::Disconnect) => ChatIncoming::Disconnected,
        _ => ChatIncoming::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_send_is_the_send_frames_fields_under_the_send_event() {
        let body =
            ChatSend { room: "r", content: "1:2:3;x", client_msg_id: Some("p-1"), first_attempt: true };
        let Message::Text(text) = chat_send_frame(7, &body).unwrap() else { panic!("not text") };
        assert_eq!(
            text.as_str(),
            r#"427["send",{"room":"r","content":"1:2:3;x","client_msg_id":"p-1","first_attempt":true}]"#
        );
        let body = ChatSend { room: "r", content: "c", client_msg_id: None, first_attempt: false };
        let Message::Text(text) = chat_send_frame(8, &body).unwrap() else { panic!("not text") };
        assert_eq!(text.as_str(), r#"428["send",{"room":"r","content":"c"}]"#);
    }

    #[test]
    fn the_chat_clusters_events_carry_frames_and_its_acks_replies() {
        let frame = r#"{"type":"message","message":{"id":"i","room_id":"r","seq":3,"content":"c"}}"#;
        let packet = format!(r#"42["message",{frame}]"#);
        let ChatIncoming::Frame(read) = decode_chat(&packet).unwrap() else { panic!("not a frame") };
        assert_eq!(read, frame);
        let ack = r#"4312[{"ok":true,"message":{"id":"i","room_id":"r","seq":3,"content":"c"}}]"#;
        let ChatIncoming::Reply(reply) = decode_chat(ack).unwrap() else { panic!("not a reply") };
        assert_eq!((reply.kind.as_ref(), reply.id, reply.ok), ("reply", Some(12), Some(true)));
        assert_eq!(reply.message.unwrap().seq, 3);
        let refused = r#"4313[{"ok":false,"error":{"code":"rate_limited","message":"m"}}]"#;
        let ChatIncoming::Reply(reply) = decode_chat(refused).unwrap() else { panic!("not a reply") };
        assert_eq!(reply.error.unwrap().code, "rate_limited");
        assert!(matches!(decode_chat("2").unwrap(), ChatIncoming::Ping));
        assert!(matches!(decode_chat("41").unwrap(), ChatIncoming::Disconnected));
        assert!(matches!(decode_chat("3").unwrap(), ChatIncoming::Other));
    }

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
