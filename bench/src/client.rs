//! A WebSocket client of `GET /ws` in either codec: connects (optionally from a chosen local
//! address), encodes the client frames the bench sends and decodes the server frames it reads.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::cli::Codec;
use crate::target::Node;

pub type Socket = WebSocketStream<TcpStream>;

/// How long a `join` may take to be answered during setup.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a WebSocket to `node` authenticated by `token` (in the query) and speaking `codec`,
/// from the source address `local` if given.
pub async fn connect(
    node: &Node,
    token: &str,
    codec: Codec,
    local: Option<IpAddr>,
) -> anyhow::Result<Socket> {
    let stream = open_tcp(node, local).await?;
    let mut request = node.ws_url(token).into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(codec.subprotocol()));
    let (ws, response) = client_async_with_config(request, stream, Some(ws_config()))
        .await
        .with_context(|| format!("WebSocket handshake with {}", node.addr))?;
    let chosen = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
    if chosen != Some(codec.subprotocol()) {
        bail!("the server chose subprotocol {chosen:?}, not {}", codec.subprotocol());
    }
    Ok(ws)
}

/// What every bench socket reads with. tungstenite zero-fills the free part of its read buffer
/// before each read; at its default of 128 KiB that fill was a tenth of the bench's CPU at
/// 100k deliveries/s, for frames of a few hundred bytes. The buffer still grows for a large one.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)
}

const READ_BUFFER_BYTES: usize = 4 * 1024;

/// A TCP connection to `node` with Nagle off, from `local` if given: more than the ~28k
/// connections one source address allows towards one port need several.
pub async fn open_tcp(node: &Node, local: Option<IpAddr>) -> anyhow::Result<TcpStream> {
    let socket = if node.addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("binding {ip}"))?;
    }
    let stream = socket.connect(node.addr).await.with_context(|| format!("connecting to {}", node.addr))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends `join` for `room` with request id 0 and waits for its reply, skipping anything else.
pub async fn join(ws: &mut Socket, codec: Codec, room: &str) -> anyhow::Result<()> {
    ws.send(encode(codec, &JoinFrame { kind: "join", id: 0, room })?).await?;
    let reply = tokio::time::timeout(JOIN_TIMEOUT, async {
        while let Some(message) = ws.next().await {
            let message = message?;
            let Some(bytes) = payload(&message) else {
                if let Message::Close(close) = message {
                    bail!("closed during join: {close:?}");
                }
                continue;
            };
            let frame = decode(codec, bytes)?;
            if frame.kind == "reply" && frame.id == Some(0) {
                if frame.ok == Some(true) {
                    return Ok(());
                }
                let code = frame.error.map(|e| e.code.into_owned()).unwrap_or_default();
                bail!("join refused: {code}");
            }
        }
        bail!("the connection ended during join")
    })
    .await;
    reply.context("join timed out")?
}

#[derive(Serialize)]
struct JoinFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    room: &'a str,
}

/// `{"type": "send", "id", "room", "content", "client_msg_id"?, "first_attempt"?}`
#[derive(Serialize)]
pub struct SendFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: u64,
    pub room: &'a str,
    pub content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub first_attempt: bool,
}

/// `{"type": "edit"|"delete"|"react"|"unreact", "id", "room", "seq", "content"?, "emoji"?}`: a
/// change to the message with `seq` in the room.
#[derive(Serialize)]
pub struct ChangeFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: u64,
    pub room: &'a str,
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji: Option<&'a str>,
}

/// Encodes a client frame: JSON text, or a MessagePack map with string keys.
/// `{"type":"auth","token"}`: a fresh access token for an open socket, before the one it
/// authenticated with expires. The server sends no reply.
#[derive(Serialize)]
pub struct AuthFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub token: &'a str,
}

pub fn encode<T: Serialize>(codec: Codec, frame: &T) -> anyhow::Result<Message> {
    Ok(match codec {
        Codec::Json => Message::Text(serde_json::to_string(frame)?.into()),
        Codec::Msgpack => Message::Binary(rmp_serde::to_vec_named(frame)?.into()),
    })
}

/// The bytes of a data frame.
pub fn payload(message: &Message) -> Option<&[u8]> {
    match message {
        Message::Text(text) => Some(text.as_bytes()),
        Message::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

/// The fields of server frames the bench reads; everything else is skipped. Strings borrow
/// from the frame where the codec allows.
#[derive(Debug, Deserialize)]
pub struct ServerFrame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub ok: Option<bool>,
    /// The entry's own seq, on `message_edited`, `message_deleted` and `reaction`.
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default, borrow)]
    pub room: Option<RoomField<'a>>,
    /// The message a `reaction` is to.
    #[serde(default, borrow)]
    pub message_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub message: Option<WireMessage<'a>>,
    #[serde(default, borrow)]
    pub error: Option<WireError<'a>>,
}

/// A frame's `room`: a room id on live events, but the whole room object in a `join` reply,
/// which is read past.
#[derive(Debug, PartialEq, Eq)]
pub enum RoomField<'a> {
    Id(Cow<'a, str>),
    Object,
}

impl<'de: 'a, 'a> Deserialize<'de> for RoomField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RoomField<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a room id or a room")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RoomField::Id(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RoomField::Id(Cow::Owned(v.to_owned())))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(RoomField::Object)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
pub struct WireMessage<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub room_id: Cow<'a, str>,
    pub seq: u64,
    #[serde(borrow)]
    pub content: Cow<'a, str>,
    /// The seq of the latest edit or deletion this state includes; 0 while none.
    #[serde(default)]
    pub changed_seq: u64,
    /// The seq of the latest reaction entry its reactions count; 0 while none.
    #[serde(default)]
    pub reactions_seq: u64,
}

#[derive(Debug, Deserialize)]
pub struct WireError<'a> {
    #[serde(borrow)]
    pub code: Cow<'a, str>,
}

pub fn decode(codec: Codec, bytes: &[u8]) -> anyhow::Result<ServerFrame<'_>> {
    Ok(match codec {
        Codec::Json => serde_json::from_slice(bytes)?,
        Codec::Msgpack => rmp_serde::from_slice(bytes)?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ROOM: &str = "0190f5a4-7d2e-7c3a-9a9b-1d2e3f405060";

    fn message_frame() -> serde_json::Value {
        json!({"type": "message", "message": {
            "id": "0190f5a4-7d2e-7c3a-9a9b-1d2e3f405061", "room_id": ROOM, "seq": 17,
            "sender_id": "0190f5a4-7d2e-7c3a-9a9b-1d2e3f405062", "content": "1:2:3;xx", "kind": "text",
            "metadata": null, "client_msg_id": "c", "created_at": "2024-01-01T00:00:00Z"}})
    }

    #[test]
    fn a_message_frame_decodes_in_both_codecs() {
        let value = message_frame();
        let json_bytes = serde_json::to_vec(&value).unwrap();
        let msgpack_bytes = rmp_serde::to_vec_named(&value).unwrap();
        for (codec, bytes) in [(Codec::Json, &json_bytes), (Codec::Msgpack, &msgpack_bytes)] {
            let frame = decode(codec, bytes).unwrap();
            assert_eq!(frame.kind, "message");
            let message = frame.message.unwrap();
            assert_eq!((message.room_id.as_ref(), message.seq), (ROOM, 17));
            assert_eq!(message.content, "1:2:3;xx");
        }
    }

    #[test]
    fn replies_decode_with_their_outcome() {
        let ok =
            serde_json::to_vec(&json!({"type": "reply", "id": 4, "ok": true, "room": {}, "messages": []}))
                .unwrap();
        let frame = decode(Codec::Json, &ok).unwrap();
        assert_eq!((frame.id, frame.ok), (Some(4), Some(true)));
        let refused = json!({"type": "reply", "id": 5, "ok": false, "error": {"code": "rate_limited", "message": "slow down"}});
        let bytes = rmp_serde::to_vec_named(&refused).unwrap();
        let frame = decode(Codec::Msgpack, &bytes).unwrap();
        assert_eq!(frame.error.unwrap().code, "rate_limited");
    }

    #[test]
    fn change_and_reaction_frames_decode_with_their_own_seq() {
        let edited = json!({"type": "message_edited", "room": ROOM, "seq": 30, "by": "u",
            "message": {"id": "m", "room_id": ROOM, "seq": 17, "content": "4:5:6;", "changed_seq": 30}});
        let reaction = json!({"type": "reaction", "room": ROOM, "seq": 31, "by": "u",
            "message_id": "m", "message_seq": 17, "emoji": "👍", "added": true});
        for codec in [Codec::Json, Codec::Msgpack] {
            let bytes = match codec {
                Codec::Json => serde_json::to_vec(&edited).unwrap(),
                Codec::Msgpack => rmp_serde::to_vec_named(&edited).unwrap(),
            };
            let frame = decode(codec, &bytes).unwrap();
            assert_eq!((frame.seq, frame.room), (Some(30), Some(RoomField::Id(ROOM.into()))));
            let message = frame.message.unwrap();
            assert_eq!((message.seq, message.changed_seq, message.reactions_seq), (17, 30, 0));
            let bytes = match codec {
                Codec::Json => serde_json::to_vec(&reaction).unwrap(),
                Codec::Msgpack => rmp_serde::to_vec_named(&reaction).unwrap(),
            };
            let frame = decode(codec, &bytes).unwrap();
            assert_eq!((frame.seq, frame.message_id.as_deref()), (Some(31), Some("m")));
        }
    }

    #[test]
    fn a_join_reply_with_its_room_object_still_decodes() {
        let reply = json!({"type": "reply", "id": 0, "ok": true, "room": {"id": ROOM, "name": "r",
            "members": [{"user_id": "u"}]}, "online": [], "messages": [], "recovered": true});
        for bytes in [serde_json::to_vec(&reply).unwrap(), rmp_serde::to_vec_named(&reply).unwrap()] {
            let codec = if bytes[0] == b'{' { Codec::Json } else { Codec::Msgpack };
            let frame = decode(codec, &bytes).unwrap();
            assert_eq!((frame.id, frame.ok, frame.room), (Some(0), Some(true), Some(RoomField::Object)));
        }
    }

    #[test]
    fn a_change_frame_names_the_message_by_seq() {
        let frame =
            ChangeFrame { kind: "react", id: 3, room: ROOM, seq: 17, content: None, emoji: Some("👍") };
        let Message::Text(text) = encode(Codec::Json, &frame).unwrap() else { panic!("not text") };
        let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(value, json!({"type": "react", "id": 3, "room": ROOM, "seq": 17, "emoji": "👍"}));
    }

    #[test]
    fn a_send_frame_is_a_map_with_string_keys() {
        let frame = SendFrame {
            kind: "send",
            id: 9,
            room: ROOM,
            content: "hi",
            client_msg_id: None,
            first_attempt: false,
        };
        let Message::Binary(bytes) = encode(Codec::Msgpack, &frame).unwrap() else { panic!("not binary") };
        let value: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(value, json!({"type": "send", "id": 9, "room": ROOM, "content": "hi"}));
        let Message::Text(text) = encode(Codec::Json, &frame).unwrap() else { panic!("not text") };
        assert_eq!(serde_json::from_str::<serde_json::Value>(text.as_str()).unwrap()["id"], 9);
    }

    #[test]
    fn a_first_attempt_says_so_and_other_sends_say_nothing() {
        let frame = |first_attempt| SendFrame {
            kind: "send",
            id: 1,
            room: ROOM,
            content: "hi",
            client_msg_id: Some("c"),
            first_attempt,
        };
        let fields = |first_attempt| {
            let Message::Text(text) = encode(Codec::Json, &frame(first_attempt)).unwrap() else { panic!() };
            serde_json::from_str::<serde_json::Value>(text.as_str()).unwrap()
        };
        assert_eq!(fields(true)["first_attempt"], true);
        assert!(fields(false).get("first_attempt").is_none());
    }
}
