//! The two encodings a connection can speak, chosen once per connection by its subprotocol.

use serde::Serialize;
use serde_json::Value;

/// How the frames of one connection are encoded. Both carry the same structures: JSON objects
/// in text frames, or MessagePack maps with string keys in binary frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// `chat.v1.json`, the default when a client names no subprotocol.
    #[default]
    Json,
    /// `chat.v1.msgpack`.
    MsgPack,
}

/// The subprotocols the server offers, in order of preference.
pub const SUBPROTOCOLS: [&str; 2] = [Codec::Json.subprotocol(), Codec::MsgPack.subprotocol()];

/// How deep a client frame may nest. serde_json stops at 128 on its own; MessagePack gets the same
/// limit so a frame of nested arrays cannot exhaust a task's stack (rmp-serde allows 1024).
const MAX_DEPTH: usize = 128;

impl Codec {
    /// The codec a negotiated subprotocol names. Subprotocol tokens are case-sensitive.
    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        match name {
            "chat.v1.json" => Some(Codec::Json),
            "chat.v1.msgpack" => Some(Codec::MsgPack),
            _ => None,
        }
    }

    pub const fn subprotocol(&self) -> &'static str {
        match self {
            Codec::Json => "chat.v1.json",
            Codec::MsgPack => "chat.v1.msgpack",
        }
    }

    /// Whether frames travel as WebSocket binary frames (else text frames, always UTF-8).
    pub const fn is_binary(&self) -> bool {
        matches!(self, Codec::MsgPack)
    }

    /// Parses one frame into a loosely typed value, so both codecs share one validation path.
    /// The error is a reason fit to show the client.
    pub(super) fn parse(self, bytes: &[u8]) -> Result<Value, String> {
        match self {
            Codec::Json => {
                serde_json::from_slice(bytes).map_err(|err| format!("the frame is not valid JSON: {err}"))
            }
            Codec::MsgPack => {
                let mut rest = bytes;
                let mut de = rmp_serde::Deserializer::new(&mut rest);
                de.set_max_depth(MAX_DEPTH);
                let value = serde::Deserialize::deserialize(&mut de)
                    .map_err(|err| format!("the frame is not valid MessagePack: {err}"))?;
                drop(de);
                if !rest.is_empty() {
                    return Err("the frame is not valid MessagePack: trailing bytes after the map".into());
                }
                Ok(value)
            }
        }
    }

    /// Serializes a server frame. MessagePack writes structs as maps keyed by field name, and
    /// in human-readable mode so ids are UUID strings as in JSON rather than 16 raw bytes.
    pub(super) fn to_vec<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, String> {
        match self {
            Codec::Json => serde_json::to_vec(value).map_err(|err| err.to_string()),
            Codec::MsgPack => {
                let mut buf = Vec::with_capacity(128);
                let mut ser = rmp_serde::Serializer::new(&mut buf).with_struct_map().with_human_readable();
                value.serialize(&mut ser).map_err(|err| err.to_string())?;
                Ok(buf)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_subprotocol_names_its_codec_and_back() {
        for name in SUBPROTOCOLS {
            assert_eq!(Codec::from_subprotocol(name).unwrap().subprotocol(), name);
        }
        assert_eq!(SUBPROTOCOLS, ["chat.v1.json", "chat.v1.msgpack"]);
    }

    #[test]
    fn unknown_subprotocols_name_no_codec() {
        assert_eq!(Codec::from_subprotocol("chat.v2.json"), None);
        assert_eq!(Codec::from_subprotocol("CHAT.V1.JSON"), None);
        assert_eq!(Codec::from_subprotocol(""), None);
    }

    #[test]
    fn json_is_the_default_and_travels_in_text_frames() {
        assert_eq!(Codec::default(), Codec::Json);
        assert!(!Codec::Json.is_binary());
        assert!(Codec::MsgPack.is_binary());
    }

    #[test]
    fn msgpack_with_trailing_bytes_is_rejected() {
        let mut bytes = rmp_serde::to_vec_named(&serde_json::json!({"type": "ping"})).unwrap();
        bytes.push(0xc0);
        assert!(Codec::MsgPack.parse(&bytes).is_err());
    }
}
