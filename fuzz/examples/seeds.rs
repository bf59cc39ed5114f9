//! Writes seed inputs for every target into `<dir>/<target>/`: valid frames of every client
//! type in both codecs, valid REST bodies, and messages written by the real stream encoder.
//!
//! `cargo +nightly run --example seeds -- corpus` (from `fuzz/`).

use std::path::Path;

use chat_adapters::jetstream::{encode_change, encode_reaction, encode_stored};
use chat_shared::domain::{
    Change, ChangeKind, ClientMsgId, Content, Emoji, Message, MessageId, MessageKind, Metadata, Reaction, ReplyTo,
    RoomId, UserId,
};
use chrono::{DateTime, NaiveDate};
use serde_json::{Value, json};

const ROOM: &str = "5b0f7a9e-3c1d-4e2f-8a6b-9c0d1e2f3a4b";
const USER: &str = "0e6c1f4a-9b2d-4c3e-8f5a-6b7c8d9e0f1a";

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let dir = Path::new(&dir);

    for (name, frame) in client_frames() {
        write(dir, "client_frame_json", &name, &serde_json::to_vec(&frame)?)?;
        let packed = rmp_serde::to_vec_named(&frame).expect("a map always encodes");
        write(dir, "client_frame_msgpack", &name, &packed)?;
    }
    for (name, body) in rest_bodies() {
        write(dir, "rest_bodies", name, body.as_bytes())?;
    }
    let messages = stored_messages();
    for (name, message) in &messages {
        write(dir, "stored_message", name, &encode_stored(message))?;
    }
    for (name, change) in stored_changes(&messages[1].1) {
        write(dir, "stored_message", name, &encode_change(&change))?;
    }
    write(dir, "stored_message", "reaction", &encode_reaction(&stored_reaction(&messages[1].1)))?;
    Ok(())
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("seed-{name}")), bytes)
}

/// Every client frame of docs/API.md, with its aliases and optional fields, and a few refusals.
fn client_frames() -> Vec<(String, Value)> {
    let frames = [
        ("join", json!({"type": "join", "id": 1, "room": ROOM})),
        ("join-since", json!({"type": "join", "id": 2, "room": ROOM, "since": 41})),
        ("join-room-alias", json!({"type": "joinRoom", "room": ROOM, "since": null})),
        ("leave", json!({"type": "leave", "id": 3, "room": ROOM})),
        ("send", json!({"type": "send", "id": 4, "room": ROOM, "content": "hello"})),
        (
            "send-every-field",
            json!({
                "type": "send", "id": 5, "room": ROOM, "content": "a picture 📷",
                "client_msg_id": "c-7f3a", "kind": "image", "first_attempt": true,
                "metadata": {"url": "https://example.com/a.png", "size": [640, 480], "ratio": 1.5,
                             "alt": null, "tags": {"nested": [true, false, -3]}}
            }),
        ),
        (
            "send-message-alias",
            json!({"type": "sendMessage", "room": ROOM, "content": "hi", "client_msg_id": "x", "first_attempt": false}),
        ),
        ("history", json!({"type": "history", "id": 6, "room": ROOM})),
        (
            "history-bounds",
            json!({"type": "history", "id": 7, "room": ROOM, "before": 100, "after": 10, "limit": 200}),
        ),
        ("typing", json!({"type": "typing", "room": ROOM})),
        ("read", json!({"type": "read", "id": 8, "room": ROOM, "seq": 42})),
        ("ping", json!({"type": "ping"})),
        ("ping-id", json!({"type": "ping", "id": 18446744073709551615u64})),
        ("auth", json!({"type": "auth", "id": 9, "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"})),
        (
            "send-invalid",
            json!({"type": "send", "id": 10, "room": "nope", "content": " ", "kind": "Image",
                   "client_msg_id": "", "metadata": [1], "first_attempt": "no"}),
        ),
        (
            "edit",
            json!({"type": "edit", "id": 12, "room": ROOM, "message_id": USER, "content": "fixed",
                   "metadata": {"a": 1}, "client_change_id": "e-1"}),
        ),
        ("delete", json!({"type": "delete", "id": 13, "room": ROOM, "seq": 41, "client_change_id": "d-1"})),
        ("react", json!({"type": "react", "id": 14, "room": ROOM, "message_id": USER, "emoji": "👩‍👩‍👧"})),
        ("unreact", json!({"type": "unreact", "id": 15, "room": ROOM, "seq": 41, "emoji": "🇫🇷"})),
        (
            "send-reply",
            json!({"type": "send", "id": 14, "room": ROOM, "content": "agreed", "reply_to": USER}),
        ),
        ("thread", json!({"type": "thread", "id": 15, "room": ROOM, "seq": 41, "after": 3, "limit": 20})),
        ("thread-by-id", json!({"type": "thread", "id": 16, "room": ROOM, "message_id": USER})),
        ("unknown-type", json!({"type": "explode", "id": 11})),
        ("bad-id", json!({"type": "ping", "id": -1})),
        ("not-a-map", json!([{"type": "ping"}])),
    ];
    frames.into_iter().map(|(name, frame)| (name.to_owned(), frame)).collect()
}

/// A valid body of every REST route that takes one, and the shapes each refuses.
fn rest_bodies() -> Vec<(&'static str, String)> {
    let bodies = [
        ("register", json!({"username": "ann", "password": "correct horse", "display_name": "Ann"})),
        ("register-minimal", json!({"username": "Bob_1.x-y", "password": "12345678"})),
        ("login", json!({"username": "ann", "password": "correct horse"})),
        ("refresh", json!({"refresh_token": "rt_3kq9Zx0c1mB7v2L5d8F4"})),
        ("update-me", json!({"display_name": "Ann Smith"})),
        ("change-password", json!({"current_password": "correct horse", "new_password": "battery staple"})),
        ("create-room", json!({"name": "general", "type": "group", "member_ids": [USER]})),
        ("create-direct", json!({"type": "direct", "member_ids": [USER]})),
        ("create-channel", json!({"name": "news", "type": "channel"})),
        ("add-member", json!({"user_id": USER, "role": "admin"})),
        ("add-member-default-role", json!({"user_id": USER})),
        ("read", json!({"seq": 42})),
        ("send", json!({"content": "hello"})),
        (
            "send-every-field",
            json!({"content": "a picture", "client_msg_id": "c-1", "kind": "image",
                   "metadata": {"url": "https://example.com/a.png", "w": 640}, "first_attempt": true}),
        ),
        ("send-reply", json!({"content": "agreed", "reply_to": USER})),
        ("send-reply-not-a-uuid", json!({"content": "agreed", "reply_to": 5})),
        ("wrong-types", json!({"username": 5, "type": ["group"], "seq": -1, "member_ids": "x"})),
        ("empty", json!({})),
    ];
    bodies.into_iter().map(|(name, body)| (name, body.to_string())).collect()
}

/// Messages as nodes store them, with every optional part and timestamps of every shape the
/// encoder writes (fractions of 0, 3, 6 and 9 digits; a leap second; a year past 9999).
fn stored_messages() -> Vec<(&'static str, Message)> {
    let at = |secs, nanos| DateTime::from_timestamp(secs, nanos).expect("a valid instant");
    let base = Message {
        id: MessageId::generate(),
        room_id: ROOM.parse::<RoomId>().expect("a UUID"),
        seq: 0,
        sender_id: USER.parse::<UserId>().expect("a UUID"),
        content: Content::parse("hello").expect("valid content"),
        kind: MessageKind::text(),
        metadata: Metadata::default(),
        client_msg_id: None,
        created_at: at(1_700_000_000, 0),
        edited_at: None,
        deleted: false,
        deleted_by: None,
        deleted_at: None,
        changed_seq: 0,
        reactions: Vec::new(),
        reactions_seq: 0,
        reply_to: None,
        reply_count: 0,
    };
    let full = Message {
        content: Content::parse("a picture 📷 with\nlines").expect("valid content"),
        kind: MessageKind::parse("image").expect("a valid kind"),
        metadata: Metadata::parse(Some(json!({"url": "https://example.com/a.png", "size": [640, 480],
                                               "ratio": 1.5, "alt": null, "n": -3})))
        .expect("valid metadata"),
        client_msg_id: Some(ClientMsgId::parse("c-7f3a").expect("a valid id")),
        created_at: at(1_700_000_000, 123_000_000),
        ..base.clone()
    };
    let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        .expect("a leap second")
        .and_utc();
    vec![
        ("plain", base.clone()),
        ("every-field", full),
        (
            "reply",
            Message {
                reply_to: Some(ReplyTo::to(&Message { seq: 12, ..base.clone() })),
                ..base.clone()
            },
        ),
        ("micros", Message { created_at: at(1_700_000_000, 123_456_000), ..base.clone() }),
        ("nanos", Message { created_at: at(1_700_000_000, 123_456_789), ..base.clone() }),
        ("leap-second", Message { created_at: leap, ..base.clone() }),
        ("year-12026", Message { created_at: at(317_321_000_000, 0), ..base }),
    ]
}

/// An edit and a deletion of `message`, as nodes store them.
fn stored_changes(message: &Message) -> Vec<(&'static str, Change)> {
    let at = DateTime::from_timestamp(1_700_000_100, 0).expect("a valid instant");
    let edited = message.edited(Content::parse("edited").expect("valid content"), None, at);
    let edit = Change {
        kind: ChangeKind::Edited,
        seq: 0,
        actor: message.sender_id,
        client_change_id: Some(ClientMsgId::parse("e-1").expect("a valid id")),
        message: edited,
    };
    let deletion = Change {
        kind: ChangeKind::Deleted,
        client_change_id: None,
        message: message.tombstone(message.sender_id, at),
        ..edit.clone()
    };
    vec![("change-edit", edit), ("change-delete", deletion)]
}

/// A reaction to `message`, as nodes store it.
fn stored_reaction(message: &Message) -> Reaction {
    Reaction {
        emoji: Emoji::parse("👍🏽").expect("a valid emoji"),
        added: true,
        version: 1,
        user: message.sender_id,
        room_id: message.room_id,
        message_id: message.id,
        message_seq: message.seq,
        seq: 0,
    }
}
