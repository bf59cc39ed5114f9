//! What the fuzz targets share: a client frame written back as the map a client would send,
//! and the checks the two client-frame targets make of a decoded frame.

use chat_shared::domain::ClientMsgId;
use chat_shared::ports::MessageRef;
use chat_shared::protocol::{ClientFrame, Codec, Command, FrameError, decode_client_frame};
use serde_json::{Map, Value, json};

/// The map a client sends for `frame`, every field it carries spelled out.
pub fn frame_value(frame: &ClientFrame) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), frame.command.name().into());
    if let Some(id) = frame.id {
        map.insert("id".into(), id.into());
    }
    let fields = match &frame.command {
        Command::Join { room, since } => json!({"room": room.to_string(), "since": since}),
        Command::Leave { room } | Command::Typing { room } => json!({"room": room.to_string()}),
        Command::Send(send) => json!({
            "room": send.room.to_string(),
            "content": send.content.as_str(),
            "client_msg_id": send.client_msg_id.as_ref().map(|id| id.as_str()),
            "first_attempt": send.first_attempt,
            "kind": send.kind.as_str(),
            "metadata": send.metadata.as_object(),
            "reply_to": send.reply_to.map(|id| id.to_string()),
        }),
        Command::History { room, before, after, limit } => {
            json!({"room": room.to_string(), "before": before, "after": after, "limit": limit})
        }
        Command::Read { room, seq } => json!({"room": room.to_string(), "seq": seq}),
        Command::Ping => json!({}),
        Command::Auth { token } => json!({"token": token}),
        Command::Edit(edit) => json!({
            "room": edit.room.to_string(),
            "content": edit.content.as_str(),
            "metadata": edit.metadata.as_ref().and_then(|m| m.as_object()),
            "client_change_id": edit.client_change_id.as_ref().map(ClientMsgId::as_str),
        }),
        Command::Delete { room, client_change_id, .. } => json!({
            "room": room.to_string(),
            "client_change_id": client_change_id.as_ref().map(ClientMsgId::as_str),
        }),
        Command::React { room, emoji, .. } => json!({"room": room.to_string(), "emoji": emoji.as_str()}),
        Command::Thread { room, after, limit, .. } => json!({
            "room": room.to_string(), "after": after, "limit": limit,
        }),
    };
    let Value::Object(fields) = fields else { unreachable!("every command's fields are a map") };
    map.extend(fields);
    if let Command::Edit(chat_shared::protocol::EditCommand { message, .. })
    | Command::Delete { message, .. }
    | Command::React { message, .. }
    | Command::Thread { message, .. } = &frame.command
    {
        match message {
            MessageRef::Id(id) => map.insert("message_id".into(), id.to_string().into()),
            MessageRef::Seq(seq) => map.insert("seq".into(), (*seq).into()),
        };
    }
    Value::Object(map)
}

/// Whether a float appears anywhere in `value`. serde_json reads floats to the nearest value only
/// with its `float_roundtrip` feature, off here: one written and read back as JSON text may come
/// back one unit in the last place off, which is no fault of the decoder.
pub fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

/// A decoded frame, written back as a client would write it, decodes to the same frame in
/// both codecs.
pub fn assert_round_trips(frame: &ClientFrame) {
    let value = frame_value(frame);
    let packed = rmp_serde::to_vec_named(&value).expect("a map always encodes");
    assert_eq!(decode_client_frame(Codec::MsgPack, &packed).as_ref(), Ok(frame), "MessagePack of {value}");
    if !has_float(&value) {
        let text = serde_json::to_vec(&value).expect("a map always encodes");
        assert_eq!(decode_client_frame(Codec::Json, &text).as_ref(), Ok(frame), "JSON of {value}");
    }
}

/// Two decodings of the same map, one per codec, agree: the same frame, or the same refusal.
pub fn assert_codecs_agree(
    value: &Value,
    json: &Result<ClientFrame, FrameError>,
    msgpack: &Result<ClientFrame, FrameError>,
) {
    assert_eq!(json, msgpack, "the codecs disagree on {value}");
}
