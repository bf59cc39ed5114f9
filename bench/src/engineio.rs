//! Engine.IO v4 / Socket.IO v5 framing over a plain WebSocket, as far as the bench speaks it:
//! the main namespace, text packets only, one packet per WebSocket frame (the WebSocket
//! transport never batches).
//!
//! An Engine.IO packet is a type digit and a payload: `0{open json}`, `1` close, `2` ping,
//! `3` pong, `4<socket.io packet>`. A Socket.IO packet is a type digit, an optional
//! `/namespace,`, an optional ack id and a JSON array: `40` connect, `42["event",{..}]`,
//! `42<id>["event",{..}]` (asks for an ack), `43<id>[..]` (the ack).

use std::borrow::Cow;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The WebSocket endpoint: Engine.IO protocol 4, no long-polling first.
pub const WEBSOCKET_PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// Connects the client to the main namespace.
pub const CONNECT: &str = "40";
/// The client's answer to the server's heartbeat ping.
pub const PONG: &str = "3";

/// The handshake fields the bench needs from the open packet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    pub sid: String,
    /// Milliseconds between the server's pings; a client that does not pong within
    /// `ping_timeout` after one is dropped.
    pub ping_interval: u64,
    pub ping_timeout: u64,
}

/// One Engine.IO packet, borrowing its payload from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Open(Open),
    Close,
    Ping,
    Pong,
    Message(SocketPacket<'a>),
    /// `5` upgrade and `6` noop belong to the polling transport; harmless if they come.
    Noop,
}

/// One Socket.IO packet of the main namespace; `data` is the raw JSON array or object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketPacket<'a> {
    Connect { data: &'a str },
    Disconnect,
    Event { id: Option<u64>, data: &'a str },
    Ack { id: u64, data: &'a str },
    ConnectError { data: &'a str },
}

/// Decodes the text of one WebSocket frame.
pub fn decode(frame: &str) -> anyhow::Result<Packet<'_>> {
    let mut chars = frame.chars();
    let kind = chars.next().context("empty Engine.IO packet")?;
    let rest = chars.as_str();
    Ok(match kind {
        '0' => Packet::Open(serde_json::from_str(rest).context("open packet")?),
        '1' => Packet::Close,
        // A ping may carry a payload ("probe" during an upgrade); the pong need not echo it here.
        '2' => Packet::Ping,
        '3' => Packet::Pong,
        '4' => Packet::Message(decode_socket_packet(rest)?),
        '5' | '6' => Packet::Noop,
        other => bail!("unknown Engine.IO packet type {other:?}"),
    })
}

fn decode_socket_packet(packet: &str) -> anyhow::Result<SocketPacket<'_>> {
    let mut chars = packet.chars();
    let kind = chars.next().context("empty Socket.IO packet")?;
    let rest = chars.as_str();
    if rest.starts_with('/') {
        bail!("a packet for namespace {:?}; the bench uses only the main one", namespace_of(rest));
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (id, data) = rest.split_at(digits);
    let id: Option<u64> = match id {
        "" => None,
        id => Some(id.parse().with_context(|| format!("ack id {id:?}"))?),
    };
    Ok(match (kind, id) {
        ('0', None) => SocketPacket::Connect { data },
        ('1', None) => SocketPacket::Disconnect,
        ('2', id) => SocketPacket::Event { id, data: json_array(data)? },
        ('3', Some(id)) => SocketPacket::Ack { id, data: json_array(data)? },
        ('3', None) => bail!("an ack without an id"),
        ('4', None) => SocketPacket::ConnectError { data },
        ('5' | '6', _) => bail!("binary Socket.IO packets are not supported"),
        (kind, Some(_)) if matches!(kind, '0' | '1' | '4') => bail!("packet type {kind} carries no ack id"),
        (other, _) => bail!("unknown Socket.IO packet type {other:?}"),
    })
}

fn namespace_of(rest: &str) -> &str {
    rest.split(',').next().unwrap_or(rest)
}

/// Events and acks carry a JSON array; anything else is a malformed packet.
fn json_array(data: &str) -> anyhow::Result<&str> {
    if data.starts_with('[') && data.ends_with(']') {
        Ok(data)
    } else {
        bail!("expected a JSON array, got {data:?}")
    }
}

/// `42["name",payload]`, or `42<id>["name",payload]` when `ack` asks the server to answer.
pub fn encode_event<T: Serialize>(name: &str, payload: &T, ack: Option<u64>) -> anyhow::Result<String> {
    let mut out = String::from("42");
    if let Some(id) = ack {
        out.push_str(&id.to_string());
    }
    out.push_str(&serde_json::to_string(&(name, payload))?);
    Ok(out)
}

/// The name and argument of an event's data, `["name", payload]`. The peer emits exactly one
/// argument per event, so more (or none) is malformed here.
pub fn event_payload<'a, T: Deserialize<'a>>(data: &'a str) -> anyhow::Result<(Cow<'a, str>, T)> {
    Ok(serde_json::from_str(data)?)
}

/// The argument of an ack's data, `[payload]`.
pub fn ack_payload<'a, T: Deserialize<'a>>(data: &'a str) -> anyhow::Result<T> {
    let (payload,): (T,) = serde_json::from_str(data)?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Body {
        room: String,
    }

    #[test]
    fn the_open_packet_gives_the_heartbeat() {
        let frame = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let Packet::Open(open) = decode(frame).unwrap() else { panic!("not open") };
        assert_eq!(open.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!((open.ping_interval, open.ping_timeout), (25_000, 20_000));
    }

    #[test]
    fn heartbeat_and_control_packets_decode() {
        assert_eq!(decode("2").unwrap(), Packet::Ping);
        assert_eq!(decode("2probe").unwrap(), Packet::Ping);
        assert_eq!(decode("3").unwrap(), Packet::Pong);
        assert_eq!(decode("1").unwrap(), Packet::Close);
        assert_eq!(decode("6").unwrap(), Packet::Noop);
        assert_eq!(decode(PONG).unwrap(), Packet::Pong);
    }

    #[test]
    fn connect_and_connect_error_of_the_main_namespace() {
        let connect = r#"40{"sid":"abc"}"#;
        assert_eq!(
            decode(connect).unwrap(),
            Packet::Message(SocketPacket::Connect { data: r#"{"sid":"abc"}"# })
        );
        assert_eq!(decode(CONNECT).unwrap(), Packet::Message(SocketPacket::Connect { data: "" }));
        let refused = r#"44{"message":"Not authorized"}"#;
        assert!(matches!(decode(refused).unwrap(), Packet::Message(SocketPacket::ConnectError { .. })));
        assert_eq!(decode("41").unwrap(), Packet::Message(SocketPacket::Disconnect));
    }

    #[test]
    fn an_event_without_an_ack_id() {
        let frame = r#"42["message",{"room":"r1","content":"x"}]"#;
        let Packet::Message(SocketPacket::Event { id: None, data }) = decode(frame).unwrap() else {
            panic!("not an event")
        };
        let (name, body): (_, Body) = event_payload(data).unwrap();
        assert_eq!((name.as_ref(), body.room.as_str()), ("message", "r1"));
    }

    #[test]
    fn events_and_acks_carry_multi_digit_ids() {
        let frame = r#"4212345["send",{"room":"r"}]"#;
        let Packet::Message(SocketPacket::Event { id, .. }) = decode(frame).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(id, Some(12_345));
        let Packet::Message(SocketPacket::Ack { id, data }) = decode(r#"43987654321[{"ok":true}]"#).unwrap()
        else {
            panic!("not an ack")
        };
        assert_eq!(id, 987_654_321);
        assert_eq!(ack_payload::<serde_json::Value>(data).unwrap(), json!({"ok": true}));
        assert_eq!(decode("430[]").unwrap(), Packet::Message(SocketPacket::Ack { id: 0, data: "[]" }));
    }

    #[test]
    fn encoding_an_event_with_and_without_an_ack() {
        let body = json!({"room": "r1", "content": "a\"b"});
        assert_eq!(
            encode_event("join", &body, None).unwrap(),
            r#"42["join",{"content":"a\"b","room":"r1"}]"#
        );
        let asked = encode_event("send", &body, Some(4711)).unwrap();
        assert!(asked.starts_with(r#"424711["send","#), "{asked}");
        let Packet::Message(SocketPacket::Event { id, data }) = decode(&asked).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(id, Some(4711));
        let (name, decoded): (_, serde_json::Value) = event_payload(data).unwrap();
        assert_eq!((name.as_ref(), decoded), ("send", body));
    }

    #[test]
    fn other_namespaces_are_refused() {
        let err = decode(r#"42/admin,["message",{}]"#).unwrap_err();
        assert!(err.to_string().contains("/admin"), "{err}");
        assert!(decode("40/admin,").is_err());
    }

    #[test]
    fn malformed_packets_are_errors() {
        for frame in [
            "",
            "9",
            "4",
            "49",
            "43",
            "43[{}]",
            "42",
            "42{}",
            "421x",
            "4099",
            "0{not json",
            "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]",
            "4299999999999999999999[\"e\"]",
        ] {
            assert!(decode(frame).is_err(), "{frame:?} decoded");
        }
    }

    #[test]
    fn payloads_of_the_wrong_shape_are_errors() {
        assert!(event_payload::<Body>(r#"["message"]"#).is_err());
        assert!(event_payload::<Body>(r#"["message",{"room":"r"},{"extra":1}]"#).is_err());
        assert!(event_payload::<Body>(r#"[1,{"room":"r"}]"#).is_err());
        assert!(ack_payload::<Body>("[]").is_err());
    }
}
