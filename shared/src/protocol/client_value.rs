//! A client frame written back as the map a client sends: what Rust clients and the tests that
//! feed the decoder build their frames from.

use serde_json::{Map, Value, json};

use super::client::{ClientFrame, Command};
use crate::domain::{ClientMsgId, Metadata};
use crate::ports::MessageRef;

impl ClientFrame {
    /// The frame as a map, every field it has spelled out (`null` when absent); decoding it in
    /// either codec gives this frame back.
    pub fn to_value(&self) -> Value {
        let fields = match &self.command {
            Command::Join { room, since } => json!({"room": room.to_string(), "since": since}),
            Command::Leave { room } | Command::Typing { room } => json!({"room": room.to_string()}),
            Command::Send(send) => json!({
                "room": send.room.to_string(),
                "content": send.content.as_str(),
                "client_msg_id": send.client_msg_id.as_ref().map(ClientMsgId::as_str),
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
            Command::Rooms { unread } => json!({"unread": unread}),
            Command::Auth { token } => json!({"token": token}),
            Command::Edit(edit) => with_target(
                &edit.message,
                json!({
                    "room": edit.room.to_string(),
                    "content": edit.content.as_str(),
                    "metadata": edit.metadata.as_ref().and_then(Metadata::as_object),
                    "client_change_id": edit.client_change_id.as_ref().map(ClientMsgId::as_str),
                }),
            ),
            Command::Delete { room, message, client_change_id } => with_target(
                message,
                json!({
                    "room": room.to_string(),
                    "client_change_id": client_change_id.as_ref().map(ClientMsgId::as_str),
                }),
            ),
            // `react` or `unreact`: the type says which.
            Command::React { room, message, emoji, .. } => {
                with_target(message, json!({"room": room.to_string(), "emoji": emoji.as_str()}))
            }
            Command::Thread { room, message, after, limit } => {
                with_target(message, json!({"room": room.to_string(), "after": after, "limit": limit}))
            }
        };
        let Value::Object(fields) = fields else { unreachable!("every command's fields are a map") };
        let mut map = Map::new();
        map.insert("type".into(), self.command.name().into());
        map.insert("id".into(), self.id.into());
        map.extend(fields);
        Value::Object(map)
    }
}

/// `fields` with the target message as a client names it: by id or by seq.
fn with_target(message: &MessageRef, mut fields: Value) -> Value {
    match message {
        MessageRef::Id(id) => fields["message_id"] = id.to_string().into(),
        MessageRef::Seq(seq) => fields["seq"] = (*seq).into(),
    }
    fields
}
