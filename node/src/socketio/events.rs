//! A Socket.IO event as the session reads it: the client frame of the event's name, with the
//! id the bridge gave it.

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// What an event becomes for the session.
#[derive(Debug, PartialEq)]
pub(super) enum Inbound {
    /// `{...data, "type": event, "id": id}`: the data's own `type` and `id`, if any, give way.
    Frame(Bytes),
    /// Data that is no object (or no JSON), handed on as it came: the session refuses it as
    /// input that is no frame, with an `error` frame, and counts it toward a malformed burst.
    Malformed(Bytes),
    /// An event larger than a frame may be, by this many bytes in all.
    TooBig(usize),
}

/// The frame of one event: its packet data is `["name", data?, ...]` (further arguments are
/// ignored), and no longer than `max_bytes`, as a frame of `/ws`.
pub(super) fn inbound(packet: &str, max_bytes: usize, id: u64) -> Inbound {
    if packet.len() > max_bytes {
        return Inbound::TooBig(packet.len());
    }
    let Ok(Packet { name, data }) = serde_json::from_str::<Packet>(packet) else {
        return Inbound::Malformed(Bytes::copy_from_slice(packet.as_bytes()));
    };
    let map = match data {
        None => Map::new(),
        // Parsed as the session parses a frame, so what fails here would fail there.
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            _ => return Inbound::Malformed(Bytes::copy_from_slice(raw.get().as_bytes())),
        },
    };
    Inbound::Frame(frame(map, frame_type(&name), id))
}

/// The frame's `type` for an event name: the names of `/ws` and their aliases are the session's
/// to know; `leaveRoom`, the Socket.IO twin of `joinRoom`, is one more.
fn frame_type(event: &str) -> &str {
    match event {
        "leaveRoom" => "leave",
        other => other,
    }
}

fn frame(mut map: Map<String, Value>, kind: &str, id: u64) -> Bytes {
    map.insert("type".into(), Value::String(kind.into()));
    map.insert("id".into(), Value::from(id));
    Bytes::from(serde_json::to_vec(&map).expect("a map of JSON values serializes"))
}

/// `["name", data?, ...]`, read without building the data: it is parsed once, as the frame.
struct Packet<'a> {
    name: std::borrow::Cow<'a, str>,
    data: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Packet<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PacketVisitor;
        impl<'de> Visitor<'de> for PacketVisitor {
            type Value = Packet<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event: [name, data...]")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Packet<'de>, A::Error> {
                let name = seq.next_element()?.ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                let data = seq.next_element()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Packet { name, data })
            }
        }
        deserializer.deserialize_seq(PacketVisitor)
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::protocol::{Codec, Command, decode_client_frame};
    use serde_json::json;

    use super::*;

    const MAX: usize = 64 * 1024;
    const ROOM: &str = "0190d2a6-6b7e-7c3b-9d59-2f8a1f4c7e01";

    fn frame_of(packet: &str, id: u64) -> Value {
        match inbound(packet, MAX, id) {
            Inbound::Frame(bytes) => serde_json::from_slice(&bytes).unwrap(),
            other => panic!("{packet} made {other:?}"),
        }
    }

    #[test]
    fn an_event_becomes_a_frame_of_its_name_with_the_bridges_id() {
        let packet = json!(["sendMessage", {"room": ROOM, "content": "hi", "client_msg_id": "c1"}]);
        let frame = frame_of(&packet.to_string(), 7);
        assert_eq!(
            frame,
            json!({"type": "sendMessage", "id": 7, "room": ROOM, "content": "hi", "client_msg_id": "c1"})
        );
        let decoded = decode_client_frame(Codec::Json, &serde_json::to_vec(&frame).unwrap()).unwrap();
        assert_eq!(decoded.id, Some(7));
        assert!(matches!(decoded.command, Command::Send(_)));
    }

    #[test]
    fn the_datas_own_type_and_id_give_way_to_the_events() {
        let packet = json!(["typing", {"room": ROOM, "type": "send", "id": 99}]);
        assert_eq!(frame_of(&packet.to_string(), 3), json!({"type": "typing", "id": 3, "room": ROOM}));
    }

    #[test]
    fn an_event_without_data_or_with_null_is_a_frame_of_its_name_alone() {
        assert_eq!(frame_of(r#"["rooms"]"#, 1), json!({"type": "rooms", "id": 1}));
        assert_eq!(frame_of(r#"["ping",null]"#, 2), json!({"type": "ping", "id": 2}));
    }

    #[test]
    fn arguments_after_the_first_are_ignored() {
        let packet = json!(["join", {"room": ROOM, "since": 4}, "extra", {"more": [1, 2]}]);
        assert_eq!(
            frame_of(&packet.to_string(), 5),
            json!({"type": "join", "id": 5, "room": ROOM, "since": 4})
        );
    }

    #[test]
    fn leave_room_is_leave_and_other_names_pass_as_they_are() {
        assert_eq!(frame_of(r#"["leaveRoom",{}]"#, 1)["type"], "leave");
        assert_eq!(frame_of(r#"["joinRoom",{}]"#, 1)["type"], "joinRoom");
        assert_eq!(frame_of(r#"["no such event",{}]"#, 1)["type"], "no such event");
    }

    #[test]
    fn data_that_is_no_object_goes_to_the_session_as_it_came() {
        assert_eq!(
            inbound(r#"["sendMessage","hello"]"#, MAX, 1),
            Inbound::Malformed(Bytes::from(r#""hello""#))
        );
        assert_eq!(inbound(r#"["sendMessage", [1, 2]]"#, MAX, 1), Inbound::Malformed(Bytes::from("[1, 2]")));
        assert_eq!(inbound(r#"["join",12]"#, MAX, 1), Inbound::Malformed(Bytes::from("12")));
    }

    #[test]
    fn a_packet_that_is_no_event_goes_to_the_session_as_it_came() {
        for packet in [r#"[]"#, r#"{"a":1}"#, r#"[1,{}]"#, "[\"send\",{\"room\":"] {
            assert_eq!(
                inbound(packet, MAX, 1),
                Inbound::Malformed(Bytes::copy_from_slice(packet.as_bytes()))
            );
        }
    }

    #[test]
    fn what_the_bridge_calls_malformed_the_session_refuses_without_an_id() {
        for data in [r#""hello""#, "[1, 2]", "12", "true"] {
            let Inbound::Malformed(bytes) = inbound(&format!(r#"["send",{data}]"#), MAX, 1) else {
                panic!("{data} is malformed")
            };
            let refused = decode_client_frame(Codec::Json, &bytes).unwrap_err();
            assert_eq!(refused.id, None, "{data}");
        }
    }

    #[test]
    fn data_nested_deeper_than_a_frame_may_be_is_malformed_for_the_session_too() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let Inbound::Malformed(bytes) = inbound(&format!(r#"["send",{{"a":{deep}}}]"#), MAX, 1) else {
            panic!("too deep")
        };
        assert_eq!(decode_client_frame(Codec::Json, &bytes).unwrap_err().id, None);
    }

    #[test]
    fn an_event_over_the_frame_limit_is_too_big() {
        let packet = json!(["sendMessage", {"room": ROOM, "content": "x".repeat(100)}]).to_string();
        assert_eq!(inbound(&packet, 50, 1), Inbound::TooBig(packet.len()));
        assert!(matches!(inbound(&packet, packet.len(), 1), Inbound::Frame(_)));
    }
}
