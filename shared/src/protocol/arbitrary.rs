//! Property-test strategies for what travels in frames: valid domain values, messages, and
//! client frames with the map a client would send for each.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::client::{ClientFrame, Command, EditCommand, SendCommand};
use crate::domain::{ClientMsgId, Content, Emoji, Message, MessageId, MessageKind, Metadata, RoomId, UserId};
use crate::ports::MessageRef;

pub fn room() -> impl Strategy<Value = RoomId> {
    any::<u128>().prop_map(|n| RoomId::from_uuid(Uuid::from_u128(n)))
}

pub fn content() -> impl Strategy<Value = Content> {
    prop_oneof![".{1,40}", "\\PC{1,200}", " *[a-z]{1,3}\n* *"]
        .prop_filter_map("invalid content", |raw| Content::parse(&raw).ok())
}

pub fn client_msg_id() -> impl Strategy<Value = ClientMsgId> {
    "\\PC{1,64}".prop_filter_map("invalid client_msg_id", |raw| ClientMsgId::parse(&raw).ok())
}

pub fn kind() -> impl Strategy<Value = MessageKind> {
    "[a-z0-9_.-]{1,32}".prop_map(|raw| MessageKind::parse(&raw).expect("a valid kind"))
}

/// Any JSON value a few levels deep. Floats are multiples of 1/64 with few digits, which JSON
/// text carries exactly: serde_json reads other floats to the nearest value only with its
/// `float_roundtrip` feature, which this workspace does not enable.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1_000_000i64..1_000_000).prop_map(|n| Value::from(n as f64 / 64.0)),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

pub fn metadata() -> impl Strategy<Value = Metadata> {
    prop_oneof![
        1 => Just(Metadata::default()),
        3 => prop::collection::btree_map("\\PC{1,10}", json_value(), 0..5)
            .prop_filter_map("invalid metadata", |map| {
                Metadata::parse(Some(Value::Object(map.into_iter().collect()))).ok()
            }),
    ]
}

/// Any instant in years 0 to 9999 (the common shape) or beyond, leap seconds included.
pub fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let secs = prop_oneof![
        -62_167_219_200i64..253_402_300_800,
        DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
    ];
    let nanos = prop_oneof![
        Just(0u32),
        (0u32..1000).prop_map(|ms| ms * 1_000_000),
        0u32..1_000_000_000,
        1_000_000_000u32..2_000_000_000,
    ];
    (secs, nanos).prop_filter_map("no such instant", |(secs, nanos)| {
        // A leap second's nanoseconds (1e9 and up) are only valid in a minute's last second.
        let secs = if nanos >= 1_000_000_000 { secs - secs.rem_euclid(60) + 59 } else { secs };
        DateTime::from_timestamp(secs, nanos)
    })
}

pub fn message() -> impl Strategy<Value = Message> {
    (
        (any::<u128>(), room(), any::<u64>(), any::<u128>()),
        (content(), kind(), metadata(), prop::option::of(client_msg_id()), instant()),
    )
        .prop_map(
            |((id, room_id, seq, sender), (content, kind, metadata, client_msg_id, created_at))| Message {
                id: MessageId::from_uuid(Uuid::from_u128(id)),
                room_id,
                seq,
                sender_id: UserId::from_uuid(Uuid::from_u128(sender)),
                content,
                kind,
                metadata,
                client_msg_id,
                created_at,
                edited_at: None,
                deleted: false,
                deleted_by: None,
                deleted_at: None,
                changed_seq: 0,
                reactions: Vec::new(),
                reactions_seq: 0,
                reply_to: None,
                reply_count: 0,
            },
        )
}

pub fn message_ref() -> impl Strategy<Value = MessageRef> {
    prop_oneof![
        any::<u128>().prop_map(|n| MessageRef::Id(MessageId::from_uuid(Uuid::from_u128(n)))),
        any::<u64>().prop_map(MessageRef::Seq),
    ]
}

pub fn command() -> impl Strategy<Value = Command> {
    let seq = prop::option::of(any::<u64>());
    prop_oneof![
        (room(), seq.clone()).prop_map(|(room, since)| Command::Join { room, since }),
        room().prop_map(|room| Command::Leave { room }),
        (
            room(),
            content(),
            prop::option::of(client_msg_id()),
            any::<bool>(),
            kind(),
            metadata(),
            prop::option::of(any::<u128>().prop_map(|n| MessageId::from_uuid(Uuid::from_u128(n)))),
        )
            .prop_map(|(room, content, client_msg_id, first_attempt, kind, metadata, reply_to)| {
                Command::Send(SendCommand {
                    room,
                    content,
                    client_msg_id,
                    first_attempt,
                    kind,
                    metadata,
                    reply_to,
                })
            }),
        (room(), seq.clone(), seq, prop::option::of(1u32..=200))
            .prop_map(|(room, before, after, limit)| Command::History { room, before, after, limit }),
        room().prop_map(|room| Command::Typing { room }),
        (room(), any::<u64>()).prop_map(|(room, seq)| Command::Read { room, seq }),
        Just(Command::Ping),
        any::<bool>().prop_map(|unread| Command::Rooms { unread }),
        "\\PC{1,100}".prop_map(|token| Command::Auth { token }),
        (
            room(),
            message_ref(),
            content(),
            // A null `metadata` reads as absent: only an object replaces the message's.
            prop::option::of(metadata().prop_filter("an object", |m| m.as_object().is_some())),
            prop::option::of(client_msg_id()),
        )
            .prop_map(|(room, message, content, metadata, client_change_id)| {
                Command::Edit(EditCommand { room, message, content, metadata, client_change_id })
            }),
        (room(), message_ref(), prop::option::of(client_msg_id())).prop_map(
            |(room, message, client_change_id)| { Command::Delete { room, message, client_change_id } }
        ),
        (room(), message_ref(), emoji(), any::<bool>())
            .prop_map(|(room, message, emoji, add)| Command::React { room, message, emoji, add }),
        (room(), message_ref(), prop::option::of(any::<u64>()), prop::option::of(1u32..=200))
            .prop_map(|(room, message, after, limit)| Command::Thread { room, message, after, limit }),
    ]
}

/// Valid emojis: up to four symbols, pictographs and letters among them.
pub fn emoji() -> impl Strategy<Value = Emoji> {
    "[👍🎉❤️🇫🇷a-z0-9+_-]{1,4}".prop_filter_map("a valid emoji", |raw| Emoji::parse(&raw).ok())
}

pub fn client_frame() -> impl Strategy<Value = ClientFrame> {
    (prop::option::of(any::<u64>()), command()).prop_map(|(id, command)| ClientFrame { id, command })
}

/// The map a client sends for `frame`: with `nulls`, every field, `null` when absent; else
/// only those that differ from their default.
pub fn frame_value(frame: &ClientFrame, nulls: bool) -> Value {
    let Value::Object(mut map) = frame.to_value() else { unreachable!("a frame is a map") };
    if !nulls {
        // Left out, as a client may: absent fields, and those with their default value.
        map.retain(|name, value| {
            !(value.is_null()
                || (name == "first_attempt" && *value == false)
                || (name == "kind" && *value == "text"))
        });
    }
    Value::Object(map)
}

/// A map shaped like a client frame, valid or not: a valid frame's map with some fields
/// removed and others set to values of any type, some right for another field.
pub fn frame_like_map() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "type",
        "id",
        "room",
        "since",
        "content",
        "client_msg_id",
        "kind",
        "metadata",
        "first_attempt",
        "before",
        "after",
        "limit",
        "seq",
        "message_id",
        "client_change_id",
        "token",
        "extra",
    ]);
    let values = prop_oneof![
        prop::sample::select(vec![
            "join",
            "joinRoom",
            "leave",
            "send",
            "sendMessage",
            "history",
            "typing",
            "read",
            "ping",
            "auth",
            "PING",
            "",
        ])
        .prop_map(Value::from),
        room().prop_map(|room| Value::from(room.to_string())),
        content().prop_map(|c| Value::from(c.as_str())),
        kind().prop_map(|k| Value::from(k.as_str())),
        prop::sample::select(vec![
            json!(null),
            json!(0),
            json!(200),
            json!(201),
            json!(-1),
            json!(1.0),
            json!(""),
            json!("   "),
            json!("\u{0}"),
            json!(true),
            json!(false),
            json!([]),
            json!({}),
            json!(u64::MAX),
        ]),
        json_value(),
    ];
    let edit = prop_oneof![
        names.clone().prop_map(|name| (name, None)),
        (names, values).prop_map(|(n, v)| (n, Some(v)))
    ];
    (client_frame(), any::<bool>(), prop::collection::vec(edit, 0..4)).prop_map(|(frame, nulls, edits)| {
        let Value::Object(mut map) = frame_value(&frame, nulls) else { unreachable!("a frame is a map") };
        for (name, value) in edits {
            match value {
                Some(value) => map.insert(name.to_owned(), value),
                None => map.remove(name),
            };
        }
        Value::Object(map)
    })
}
