//! Frames the server sends, each encoded once into shareable bytes.

use bytes::Bytes;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::client::FrameError;
use super::codec::Codec;
use crate::domain::{
    Change, ChangeKind, Emoji, Entry, Message, MessageId, Reaction, Role, Room, RoomId, RoomSummary, Seq,
    UserId,
};
use crate::error::FieldErrors;

/// A frame from the server. Serializes as an object whose `type` is the variant's name in
/// snake case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The one answer to a client frame that had an `id`.
    Reply(Reply),
    /// A room's message. Fan-out should use [`encode_message_frame`], which skips the clone.
    Message {
        message: Message,
    },
    Presence {
        room: RoomId,
        user_id: UserId,
        state: PresenceState,
    },
    Typing {
        room: RoomId,
        user_id: UserId,
    },
    Read {
        room: RoomId,
        user_id: UserId,
        seq: Seq,
    },
    Member {
        room: RoomId,
        user_id: UserId,
        change: MemberChange,
        /// The new role, with `change: "role"` only.
        #[serde(skip_serializing_if = "Option::is_none")]
        role: Option<Role>,
    },
    /// The user became a participant of a room: the room as `GET /rooms` lists it.
    RoomAdded {
        room: RoomSummary,
    },
    /// The user is no longer a participant of the room; `banned` when a moderator banned them.
    RoomRemoved {
        room: RoomId,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        banned: bool,
    },
    /// A moderator muted the user in the room until `until`, or unmuted them (`null`).
    Muted {
        room: RoomId,
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// A room of the user's was renamed or its topic changed.
    RoomUpdated {
        room: Room,
    },
    /// The user's unread count of a room changed: messages above their read marker.
    Unread {
        room: RoomId,
        unread_count: u64,
        last_read_seq: Seq,
    },
    /// A failure of a frame that had no `id`, or that could not be read at all.
    Error {
        error: ErrorBody,
    },
    Pong,
}

impl ServerFrame {
    /// `{"type": "reply", "id", "ok": true, ...result}`.
    pub fn reply_ok(id: u64, result: Map<String, Value>) -> Self {
        ServerFrame::Reply(Reply { id, outcome: Ok(result) })
    }

    /// `{"type": "reply", "id", "ok": false, "error": {...}}`.
    pub fn reply_err(id: u64, error: ErrorBody) -> Self {
        ServerFrame::Reply(Reply { id, outcome: Err(error) })
    }
}

/// A reply: on success the result's fields sit beside `type`, `id` and `ok` (so they must not
/// use those names), on failure an `error` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub id: u64,
    pub outcome: Result<Map<String, Value>, ErrorBody>,
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The enclosing `ServerFrame` adds `type`.
        match &self.outcome {
            Ok(result) => ReplyOkFields { id: self.id, ok: true, result }.serialize(serializer),
            Err(error) => ReplyErrFields { id: self.id, ok: false, error }.serialize(serializer),
        }
    }
}

#[derive(Serialize)]
struct ReplyOkFields<'a, R: ?Sized> {
    id: u64,
    ok: bool,
    #[serde(flatten)]
    result: &'a R,
}

#[derive(Serialize)]
struct ReplyErrFields<'a> {
    id: u64,
    ok: bool,
    error: &'a ErrorBody,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    Online,
    Offline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberChange {
    Added,
    Removed,
    /// Their role changed.
    Role,
}

/// `{"code", "message", "fields"?}`: the error object of replies and `error` frames, the same
/// as REST's. `fields` is left out when empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// One of the contract's codes (`invalid_input`, `forbidden`, ...).
    pub code: &'static str,
    pub message: String,
    /// The reason for each field at fault, by field name.
    #[serde(skip_serializing_if = "FieldErrors::is_empty", serialize_with = "field_map")]
    #[schema(required = false, value_type = std::collections::BTreeMap<String, String>)]
    pub fields: FieldErrors,
}

impl ErrorBody {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ErrorBody { code, message: message.into(), fields: FieldErrors::default() }
    }

    pub fn invalid_input(message: impl Into<String>, fields: FieldErrors) -> Self {
        ErrorBody { code: "invalid_input", message: message.into(), fields }
    }

    /// What is sent when a frame could not be encoded: nothing about why.
    fn internal() -> Self {
        ErrorBody::new("internal", "internal error")
    }
}

impl From<FrameError> for ErrorBody {
    fn from(err: FrameError) -> Self {
        ErrorBody { code: err.code.as_str(), message: err.message, fields: err.fields }
    }
}

impl FrameError {
    /// The answer to a refused frame: a failed `reply` when its id is known, else an `error`.
    pub fn into_frame(self) -> ServerFrame {
        match self.id {
            Some(id) => ServerFrame::reply_err(id, self.into()),
            None => ServerFrame::Error { error: self.into() },
        }
    }
}

fn field_map<S: Serializer>(fields: &FieldErrors, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(fields.iter())
}

/// Encodes a frame for one codec.
pub fn encode(codec: Codec, frame: &ServerFrame) -> Bytes {
    let reply_id = match frame {
        ServerFrame::Reply(reply) => Some(reply.id),
        _ => None,
    };
    codec.to_vec(frame).map(Bytes::from).unwrap_or_else(|_| encode_failure(codec, reply_id))
}

/// Encodes `{"type": "message", "message": ...}` straight from a borrowed message, the same
/// bytes as `encode(codec, &ServerFrame::Message { .. })` without cloning it. Fan-out calls this
/// once per codec and hands every recipient a clone of the `Bytes`.
pub fn encode_message_frame(codec: Codec, message: &Message) -> Bytes {
    codec
        .to_vec(&MessageFrame { kind: "message", message })
        .map(Bytes::from)
        .unwrap_or_else(|_| encode_failure(codec, None))
}

/// A message as clients receive it live: `{"type": "message", "message"}`.
#[derive(Serialize)]
pub struct MessageFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a Message,
}

/// A change to a message as clients receive it: `{"type": "message_edited" | "message_deleted",
/// "room", "seq", "by", "message"}`, the message as the change left it. Live, and in a `join`
/// reply's `changes`.
#[derive(Serialize)]
pub struct ChangeFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room: RoomId,
    /// The change's own seq in the room.
    seq: Seq,
    by: UserId,
    message: &'a Message,
}

impl<'a> ChangeFrame<'a> {
    pub fn of(change: &'a Change) -> Self {
        let kind = match change.kind {
            ChangeKind::Edited => "message_edited",
            ChangeKind::Deleted => "message_deleted",
        };
        ChangeFrame {
            kind,
            room: change.message.room_id,
            seq: change.seq,
            by: change.actor,
            message: &change.message,
        }
    }
}

/// A reaction added or removed, as clients receive it: `{"type": "reaction", "room", "seq",
/// "by", "message_id", "message_seq", "emoji", "added"}`. Live, and in a `join` reply's
/// `changes`.
#[derive(Serialize)]
pub struct ReactionFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room: RoomId,
    /// The reaction entry's own seq in the room.
    seq: Seq,
    by: UserId,
    message_id: MessageId,
    message_seq: Seq,
    emoji: &'a Emoji,
    added: bool,
}

impl<'a> ReactionFrame<'a> {
    pub fn of(reaction: &'a Reaction) -> Self {
        ReactionFrame {
            kind: "reaction",
            room: reaction.room_id,
            seq: reaction.seq,
            by: reaction.user,
            message_id: reaction.message_id,
            message_seq: reaction.message_seq,
            emoji: &reaction.emoji,
            added: reaction.added,
        }
    }
}

/// What a `join` reply's `changes` holds for a change or reaction entry: its live frame.
#[derive(Serialize)]
#[serde(untagged)]
pub enum EntryFrame<'a> {
    Message(MessageFrame<'a>),
    Change(ChangeFrame<'a>),
    Reaction(ReactionFrame<'a>),
}

impl<'a> EntryFrame<'a> {
    pub fn of(entry: &'a Entry) -> Self {
        match entry {
            Entry::Message(message) => EntryFrame::Message(MessageFrame { kind: "message", message }),
            Entry::Change(change) => EntryFrame::Change(ChangeFrame::of(change)),
            Entry::Reaction(reaction) => EntryFrame::Reaction(ReactionFrame::of(reaction)),
        }
    }
}

/// Encodes an entry of a room's log as its frame: a `message`, a change's or a reaction's.
pub fn encode_entry_frame(codec: Codec, entry: &Entry) -> Bytes {
    codec.to_vec(&EntryFrame::of(entry)).map(Bytes::from).unwrap_or_else(|_| encode_failure(codec, None))
}

/// Encodes a successful reply whose result is any value that serializes as a struct or map, its
/// fields flattened beside `type`, `id` and `ok`, without first building a `serde_json::Value`.
/// A result of any other shape becomes a failed reply (`internal`), so the id still gets exactly
/// one answer.
pub fn encode_reply<R: Serialize + ?Sized>(codec: Codec, id: u64, result: &R) -> Bytes {
    #[derive(Serialize)]
    struct ReplyOkFrame<'a, R: ?Sized> {
        #[serde(rename = "type")]
        kind: &'static str,
        id: u64,
        ok: bool,
        #[serde(flatten)]
        result: &'a R,
    }
    let frame = ReplyOkFrame { kind: "reply", id, ok: true, result };
    codec.to_vec(&frame).map(Bytes::from).unwrap_or_else(|_| encode_failure(codec, Some(id)))
}

/// Only a reply result that is not an object can fail to encode; the client still learns that
/// its request got an answer.
fn encode_failure(codec: Codec, reply_id: Option<u64>) -> Bytes {
    let frame = match reply_id {
        Some(id) => ServerFrame::reply_err(id, ErrorBody::internal()),
        None => ServerFrame::Error { error: ErrorBody::internal() },
    };
    codec.to_vec(&frame).map(Bytes::from).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;
    use crate::domain::{ClientMsgId, Content, MessageId, MessageKind, Metadata};
    use crate::protocol::decode_client_frame;

    fn message() -> Message {
        Message {
            id: MessageId::generate(),
            room_id: RoomId::generate(),
            seq: 42,
            sender_id: UserId::generate(),
            content: Content::parse("hello").unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::parse(Some(json!({"k": [1, "two"]}))).unwrap(),
            client_msg_id: Some(ClientMsgId::parse("c-1").unwrap()),
            created_at: DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap(),
            edited_at: None,
            deleted: false,
            deleted_by: None,
            deleted_at: None,
            changed_seq: 0,
            reactions: Vec::new(),
            reactions_seq: 0,
            reply_to: None,
            reply_count: 0,
        }
    }

    fn message_json(m: &Message) -> Value {
        json!({
            "id": m.id.to_string(), "room_id": m.room_id.to_string(), "seq": 42,
            "sender_id": m.sender_id.to_string(), "content": "hello", "kind": "text",
            "metadata": {"k": [1, "two"]}, "client_msg_id": "c-1",
            "created_at": "2023-11-14T22:13:20.123Z"
        })
    }

    fn as_json(bytes: &Bytes) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn as_msgpack(bytes: &Bytes) -> Value {
        rmp_serde::from_slice(bytes).unwrap()
    }

    fn invalid_room() -> FieldErrors {
        let mut fields = FieldErrors::default();
        fields.add("room", "must be a UUID");
        fields
    }

    /// One of every frame, with the JSON it must become.
    fn every_frame() -> Vec<(ServerFrame, Value)> {
        use chrono::TimeZone;
        let (room, user) = (RoomId::generate(), UserId::generate());
        let m = message();
        let mut result = Map::new();
        result.insert("message".into(), serde_json::to_value(&m).unwrap());
        vec![
            (
                ServerFrame::reply_ok(3, result),
                json!({"type": "reply", "id": 3, "ok": true, "message": message_json(&m)}),
            ),
            (ServerFrame::reply_ok(4, Map::new()), json!({"type": "reply", "id": 4, "ok": true})),
            (
                ServerFrame::reply_err(5, ErrorBody::new("forbidden", "not a participant")),
                json!({"type": "reply", "id": 5, "ok": false, "error": {"code": "forbidden", "message": "not a participant"}}),
            ),
            (
                ServerFrame::reply_err(
                    6,
                    ErrorBody::invalid_input("the frame has invalid fields", invalid_room()),
                ),
                json!({"type": "reply", "id": 6, "ok": false, "error": {
                    "code": "invalid_input", "message": "the frame has invalid fields",
                    "fields": {"room": "must be a UUID"}
                }}),
            ),
            (
                ServerFrame::Message { message: m.clone() },
                json!({"type": "message", "message": message_json(&m)}),
            ),
            (
                ServerFrame::Presence { room, user_id: user, state: PresenceState::Online },
                json!({"type": "presence", "room": room.to_string(), "user_id": user.to_string(), "state": "online"}),
            ),
            (
                ServerFrame::Presence { room, user_id: user, state: PresenceState::Offline },
                json!({"type": "presence", "room": room.to_string(), "user_id": user.to_string(), "state": "offline"}),
            ),
            (
                ServerFrame::Typing { room, user_id: user },
                json!({"type": "typing", "room": room.to_string(), "user_id": user.to_string()}),
            ),
            (
                ServerFrame::Read { room, user_id: user, seq: 9 },
                json!({"type": "read", "room": room.to_string(), "user_id": user.to_string(), "seq": 9}),
            ),
            (
                ServerFrame::Member { room, user_id: user, change: MemberChange::Added, role: None },
                json!({"type": "member", "room": room.to_string(), "user_id": user.to_string(), "change": "added"}),
            ),
            (
                ServerFrame::Member { room, user_id: user, change: MemberChange::Removed, role: None },
                json!({"type": "member", "room": room.to_string(), "user_id": user.to_string(), "change": "removed"}),
            ),
            (
                ServerFrame::Error { error: ErrorBody::new("rate_limited", "sending too fast; slow down") },
                json!({"type": "error", "error": {"code": "rate_limited", "message": "sending too fast; slow down"}}),
            ),
            (ServerFrame::Pong, json!({"type": "pong"})),
            (
                ServerFrame::RoomAdded {
                    room: RoomSummary {
                        room: room_of(room, user),
                        role: crate::domain::Role::Admin,
                        last_read_seq: 4,
                        unread_count: 2,
                        muted_until: None,
                    },
                },
                json!({"type": "room_added", "room": {
                    "id": room.to_string(), "name": "team", "topic": "plans", "post_policy": "everyone", "type": "group",
                    "created_by": user.to_string(), "created_at": "2026-01-02T03:04:05Z", "is_active": true,
                    "role": "admin", "last_read_seq": 4, "unread_count": 2
                }}),
            ),
            (
                ServerFrame::RoomRemoved { room, banned: false },
                json!({"type": "room_removed", "room": room.to_string()}),
            ),
            (
                ServerFrame::RoomRemoved { room, banned: true },
                json!({"type": "room_removed", "room": room.to_string(), "banned": true}),
            ),
            (
                ServerFrame::Muted {
                    room,
                    until: Some(chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()),
                },
                json!({"type": "muted", "room": room.to_string(), "until": "2026-01-02T03:04:05Z"}),
            ),
            (
                ServerFrame::Muted { room, until: None },
                json!({"type": "muted", "room": room.to_string(), "until": null}),
            ),
            (
                ServerFrame::Unread { room, unread_count: 3, last_read_seq: 7 },
                json!({"type": "unread", "room": room.to_string(), "unread_count": 3, "last_read_seq": 7}),
            ),
            (
                ServerFrame::RoomUpdated { room: Room { topic: None, ..room_of(room, user) } },
                json!({"type": "room_updated", "room": {
                    "id": room.to_string(), "name": "team", "topic": null, "post_policy": "everyone", "type": "group",
                    "created_by": user.to_string(), "created_at": "2026-01-02T03:04:05Z", "is_active": true
                }}),
            ),
        ]
    }

    fn room_of(id: RoomId, creator: UserId) -> Room {
        use chrono::TimeZone;
        Room {
            id,
            name: crate::domain::RoomName::parse("team").unwrap(),
            topic: Some(crate::domain::RoomTopic::parse("plans").unwrap()),
            post_policy: crate::domain::PostPolicy::Everyone,
            room_type: crate::domain::RoomType::Group,
            created_by: creator,
            created_at: chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            is_active: true,
        }
    }

    #[test]
    fn every_frame_encodes_to_the_contracts_json() {
        for (frame, expected) in every_frame() {
            assert_eq!(as_json(&encode(Codec::Json, &frame)), expected);
        }
    }

    #[test]
    fn msgpack_encodes_the_same_structures_as_maps_with_string_keys() {
        for (frame, expected) in every_frame() {
            let bytes = encode(Codec::MsgPack, &frame);
            // fixmap, map16 or map32: never an array, whatever the frame.
            assert!(matches!(bytes[0], 0x80..=0x8f | 0xde | 0xdf), "{expected}");
            // Ids are UUID strings here too, not 16 raw bytes; a non-string key would not decode.
            assert_eq!(as_msgpack(&bytes), expected);
        }
    }

    #[test]
    fn the_message_frame_for_fan_out_equals_the_encoded_message_variant() {
        let m = message();
        for codec in [Codec::Json, Codec::MsgPack] {
            assert_eq!(
                encode_message_frame(codec, &m),
                encode(codec, &ServerFrame::Message { message: m.clone() })
            );
        }
    }

    #[test]
    fn a_typed_reply_flattens_its_fields_like_a_map_result() {
        #[derive(Serialize)]
        struct Page<'a> {
            messages: &'a [Message],
            has_more: bool,
        }
        let m = message();
        let page = Page { messages: std::slice::from_ref(&m), has_more: true };
        let map = match serde_json::to_value(&page).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let expected =
            json!({"type": "reply", "id": 8, "ok": true, "messages": [message_json(&m)], "has_more": true});
        assert_eq!(as_json(&encode_reply(Codec::Json, 8, &page)), expected);
        assert_eq!(as_msgpack(&encode_reply(Codec::MsgPack, 8, &page)), expected);
        for codec in [Codec::Json, Codec::MsgPack] {
            assert_eq!(encode_reply(codec, 8, &map), encode(codec, &ServerFrame::reply_ok(8, map.clone())));
        }
        assert_eq!(
            as_json(&encode_reply(Codec::Json, 1, &json!({}))),
            json!({"type": "reply", "id": 1, "ok": true})
        );
    }

    #[test]
    fn a_reply_whose_result_is_not_an_object_still_answers_its_id() {
        for codec in [Codec::Json, Codec::MsgPack] {
            let bytes = encode_reply(codec, 11, &json!([1, 2]));
            let value = if codec.is_binary() { as_msgpack(&bytes) } else { as_json(&bytes) };
            assert_eq!(
                value,
                json!({"type": "reply", "id": 11, "ok": false, "error": {"code": "internal", "message": "internal error"}})
            );
        }
    }

    #[test]
    fn a_refused_frame_with_an_id_becomes_a_failed_reply() {
        let err = decode_client_frame(Codec::Json, br#"{"type":"leave","id":12,"room":"x"}"#).unwrap_err();
        let expected = json!({"type": "reply", "id": 12, "ok": false, "error": {
            "code": "invalid_input", "message": "the frame has invalid fields", "fields": {"room": "must be a UUID"}
        }});
        assert_eq!(as_json(&encode(Codec::Json, &err.into_frame())), expected);
    }

    #[test]
    fn an_unreadable_frame_becomes_an_error_frame_without_fields() {
        let err = decode_client_frame(Codec::Json, b"[1]").unwrap_err();
        let value = as_json(&encode(Codec::Json, &err.into_frame()));
        assert_eq!(value["type"], "error");
        assert_eq!(value["error"]["code"], "invalid_input");
        assert!(value["error"].get("fields").is_none());
    }

    mod properties {
        use proptest::prelude::*;
        use serde::Deserialize;
        use serde::de::DeserializeOwned;

        use super::*;
        use crate::protocol::arbitrary::{json_value, message, room};

        /// Reads MessagePack as a client does: ids are strings here, as in JSON.
        fn from_msgpack<T: DeserializeOwned>(bytes: &[u8]) -> T {
            let mut de = rmp_serde::Deserializer::new(bytes).with_human_readable();
            T::deserialize(&mut de).unwrap()
        }

        fn decoded<T: DeserializeOwned>(codec: Codec, bytes: &[u8]) -> T {
            match codec {
                Codec::Json => serde_json::from_slice(bytes).unwrap(),
                Codec::MsgPack => from_msgpack(bytes),
            }
        }

        fn result_map() -> impl Strategy<Value = Map<String, Value>> {
            // `type`, `id` and `ok` are the reply's own (see `Reply`).
            prop::collection::btree_map("[a-z_]{1,10}", json_value(), 0..5).prop_map(|map| {
                map.into_iter().filter(|(key, _)| !matches!(key.as_str(), "type" | "id" | "ok")).collect()
            })
        }

        fn error_body() -> impl Strategy<Value = ErrorBody> {
            let code = prop::sample::select(vec![
                "invalid_input",
                "forbidden",
                "not_found",
                "rate_limited",
                "internal",
            ]);
            (code, "\\PC{0,40}", prop::collection::vec(("[a-z_]{1,10}", "\\PC{1,20}"), 0..3)).prop_map(
                |(code, message, named)| {
                    let mut fields = FieldErrors::default();
                    named.iter().for_each(|(name, reason)| fields.add(name, reason.as_str()));
                    ErrorBody { code, message, fields }
                },
            )
        }

        fn server_frame() -> impl Strategy<Value = ServerFrame> {
            let user = any::<u128>().prop_map(|n| UserId::from_uuid(uuid::Uuid::from_u128(n)));
            prop_oneof![
                (any::<u64>(), result_map()).prop_map(|(id, result)| ServerFrame::reply_ok(id, result)),
                (any::<u64>(), error_body()).prop_map(|(id, error)| ServerFrame::reply_err(id, error)),
                message().prop_map(|message| ServerFrame::Message { message }),
                (room(), user.clone(), any::<bool>()).prop_map(|(room, user_id, online)| {
                    ServerFrame::Presence {
                        room,
                        user_id,
                        state: if online { PresenceState::Online } else { PresenceState::Offline },
                    }
                }),
                (room(), user.clone()).prop_map(|(room, user_id)| ServerFrame::Typing { room, user_id }),
                (room(), user.clone(), any::<u64>()).prop_map(|(room, user_id, seq)| ServerFrame::Read {
                    room,
                    user_id,
                    seq
                }),
                (room(), user, 0u8..4).prop_map(|(room, user_id, which)| {
                    let (change, role) = match which {
                        0 => (MemberChange::Added, None),
                        1 => (MemberChange::Removed, None),
                        2 => (MemberChange::Role, Some(Role::Admin)),
                        _ => (MemberChange::Role, Some(Role::Member)),
                    };
                    ServerFrame::Member { room, user_id, change, role }
                }),
                error_body().prop_map(|error| ServerFrame::Error { error }),
                Just(ServerFrame::Pong),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            #[test]
            fn a_message_frame_decodes_to_the_message_it_carries(m in message()) {
                #[derive(Deserialize)]
                struct MessageFrame {
                    #[serde(rename = "type")]
                    kind: String,
                    message: Message,
                }
                for codec in [Codec::Json, Codec::MsgPack] {
                    let frame: MessageFrame = decoded(codec, &encode_message_frame(codec, &m));
                    prop_assert_eq!(frame.kind, "message");
                    prop_assert_eq!(&frame.message, &m);
                }
            }

            #[test]
            fn a_page_of_messages_in_a_reply_decodes_to_the_same_page(
                id in any::<u64>(),
                messages in prop::collection::vec(message(), 0..4),
                has_more in any::<bool>(),
            ) {
                #[derive(Serialize)]
                struct Page<'a> {
                    messages: &'a [Message],
                    has_more: bool,
                }
                #[derive(Deserialize)]
                struct PageReply {
                    #[serde(rename = "type")]
                    kind: String,
                    id: u64,
                    ok: bool,
                    messages: Vec<Message>,
                    has_more: bool,
                }
                for codec in [Codec::Json, Codec::MsgPack] {
                    let reply: PageReply = decoded(codec, &encode_reply(codec, id, &Page { messages: &messages, has_more }));
                    prop_assert_eq!((reply.kind.as_str(), reply.id, reply.ok), ("reply", id, true));
                    prop_assert_eq!(&reply.messages, &messages);
                    prop_assert_eq!(reply.has_more, has_more);
                }
            }

            #[test]
            fn a_reply_carries_its_results_fields_beside_type_id_and_ok(id in any::<u64>(), result in result_map()) {
                for codec in [Codec::Json, Codec::MsgPack] {
                    let Value::Object(mut fields) = decoded(codec, &encode(codec, &ServerFrame::reply_ok(id, result.clone()))) else {
                        panic!("a reply is a map");
                    };
                    prop_assert_eq!(fields.remove("type"), Some(json!("reply")));
                    prop_assert_eq!(fields.remove("id"), Some(json!(id)));
                    prop_assert_eq!(fields.remove("ok"), Some(json!(true)));
                    prop_assert_eq!(&fields, &result);
                }
            }

            #[test]
            fn both_codecs_carry_the_same_structure(frame in server_frame()) {
                let bytes = encode(Codec::MsgPack, &frame);
                prop_assert!(matches!(bytes[0], 0x80..=0x8f | 0xde | 0xdf), "a map, never an array");
                prop_assert_eq!(as_json(&encode(Codec::Json, &frame)), as_msgpack(&bytes));
            }
        }
    }
}
