//! Frames a client sends, and their decoding: bytes to a loosely typed map, then every field
//! checked through the domain constructors, so both codecs accept and refuse exactly the same.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::codec::Codec;
use crate::domain::{ClientMsgId, Content, Emoji, MessageId, MessageKind, Metadata, RoomId, Seq};
use crate::error::FieldErrors;
use crate::ports::MessageRef;

/// One client frame: a command, and the `id` its reply will carry, if the client wants one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFrame {
    pub id: Option<u64>,
    pub command: Command,
}

/// What a client asks for. Every value in here has passed its domain constructor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `join` (alias `joinRoom`): subscribe to the room; with `since`, replay what came after it.
    Join { room: RoomId, since: Option<Seq> },
    /// `leave`: unsubscribe this connection; membership is unchanged.
    Leave { room: RoomId },
    /// `send` (alias `sendMessage`).
    Send(SendCommand),
    /// `history`: a page, as `GET /rooms/{id}/messages`. `limit` is already within 1–200.
    History { room: RoomId, before: Option<Seq>, after: Option<Seq>, limit: Option<u32> },
    /// `typing`: relayed to the others subscribed, never stored.
    Typing { room: RoomId },
    /// `read`: moves the read marker forward.
    Read { room: RoomId, seq: Seq },
    /// `ping`: answered with a `pong` frame.
    Ping,
    /// `rooms`: the caller's room list, as `GET /rooms`; the start of the feed's re-sync rule.
    /// With `unread: true`, the socket is also sent `unread` events from then on.
    Rooms { unread: bool },
    /// `auth`: the first frame of an unauthenticated connection, or a renewal.
    Auth { token: String },
    /// `edit`: new content for the author's own message.
    Edit(EditCommand),
    /// `delete`: deletes a message (its author, or a room owner or admin).
    Delete { room: RoomId, message: MessageRef, client_change_id: Option<ClientMsgId> },
    /// `react` (`add`) and `unreact`: adds or removes the caller's reaction.
    React { room: RoomId, message: MessageRef, emoji: Emoji, add: bool },
    /// `thread`: a page of a message's replies, as `GET .../thread`. `limit` is already within
    /// 1–200.
    Thread { room: RoomId, message: MessageRef, after: Option<Seq>, limit: Option<u32> },
}

impl Command {
    /// Every [`Command::name`].
    pub const NAMES: [&'static str; 14] = [
        "join", "leave", "send", "history", "typing", "read", "ping", "auth", "edit", "delete", "react",
        "unreact", "thread", "rooms",
    ];

    /// The canonical `type` of the command (aliases resolved), for logs and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Join { .. } => "join",
            Command::Leave { .. } => "leave",
            Command::Send(_) => "send",
            Command::History { .. } => "history",
            Command::Typing { .. } => "typing",
            Command::Read { .. } => "read",
            Command::Ping => "ping",
            Command::Rooms { .. } => "rooms",
            Command::Auth { .. } => "auth",
            Command::Edit(_) => "edit",
            Command::Delete { .. } => "delete",
            Command::React { add: true, .. } => "react",
            Command::React { add: false, .. } => "unreact",
            Command::Thread { .. } => "thread",
        }
    }
}

/// A `send` command: the WebSocket twin of `POST /rooms/{id}/messages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendCommand {
    pub room: RoomId,
    pub content: Content,
    pub client_msg_id: Option<ClientMsgId>,
    /// The client never sent this `client_msg_id` before (see `NewMessage::first_attempt`).
    pub first_attempt: bool,
    /// `text` when the client names none.
    pub kind: MessageKind,
    pub metadata: Metadata,
    /// The message of the room this one replies to.
    pub reply_to: Option<MessageId>,
}

/// An `edit` command: the WebSocket twin of `PATCH /rooms/{id}/messages/{message}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditCommand {
    pub room: RoomId,
    pub message: MessageRef,
    pub content: Content,
    /// New metadata; `None` (absent or null) keeps the message's.
    pub metadata: Option<Metadata>,
    pub client_change_id: Option<ClientMsgId>,
}

/// Why a frame was refused. With an `id` the server answers with a `reply` (`ok: false`) for
/// that id; without one (the bytes were not a frame at all, or the id itself was bad), with an
/// `error` frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FrameError {
    pub id: Option<u64>,
    pub code: FrameErrorCode,
    pub message: String,
    /// Every field found wrong, by name; empty when the frame could not be read at all.
    pub fields: FieldErrors,
}

/// The contract's code for a refused frame. Only one today, but named so callers need not
/// spell the string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameErrorCode {
    InvalidInput,
}

impl FrameErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameErrorCode::InvalidInput => "invalid_input",
        }
    }
}

impl FrameError {
    fn invalid(id: Option<u64>, message: impl Into<String>, fields: FieldErrors) -> Self {
        FrameError { id, code: FrameErrorCode::InvalidInput, message: message.into(), fields }
    }
}

const TYPES: &str = "must be one of join, leave, send, history, typing, read, ping, auth, edit, delete, react, unreact, thread, rooms";

/// Decodes one client frame. Never panics, whatever the bytes: input that is not a map, or whose
/// `id` is not a non-negative integer, is refused without an id; anything else wrong is refused
/// with the frame's id and every bad field named. Unknown fields are ignored, and a field set to
/// `null` counts as absent.
pub fn decode_client_frame(codec: Codec, bytes: &[u8]) -> Result<ClientFrame, FrameError> {
    if codec == Codec::Json
        && let Some(frame) = well_formed_json_send(bytes)
    {
        return Ok(frame);
    }
    decode_in_general(codec, bytes)
}

/// The one path every frame can take: a map of loosely typed values first, then each field.
fn decode_in_general(codec: Codec, bytes: &[u8]) -> Result<ClientFrame, FrameError> {
    let value =
        codec.parse(bytes).map_err(|reason| FrameError::invalid(None, reason, FieldErrors::default()))?;
    let Value::Object(map) = value else {
        return Err(FrameError::invalid(
            None,
            "a frame must be an object with a \"type\"",
            FieldErrors::default(),
        ));
    };
    from_map(map)
}

/// A `send` in JSON as clients send it, read straight into its fields: the frame that comes most
/// often skips the map of values the general path builds. `None` for anything that does not
/// fit (another type, a field of another type or invalid, a repeated key), which the general
/// path then reads and names every problem of, so both accept and refuse the same frames.
fn well_formed_json_send(bytes: &[u8]) -> Option<ClientFrame> {
    #[derive(serde::Deserialize)]
    struct Send<'a> {
        #[serde(rename = "type", borrow)]
        frame_type: Cow<'a, str>,
        id: Option<u64>,
        #[serde(borrow)]
        room: Option<Cow<'a, str>>,
        #[serde(borrow)]
        content: Option<Cow<'a, str>>,
        #[serde(borrow)]
        client_msg_id: Option<Cow<'a, str>>,
        #[serde(borrow)]
        kind: Option<Cow<'a, str>>,
        metadata: Option<Value>,
        first_attempt: Option<bool>,
        #[serde(borrow)]
        reply_to: Option<Cow<'a, str>>,
    }
    // serde would read the struct from an array too, field by field in order; a frame is an
    // object, and anything else goes to the general path to be refused.
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let send: Send = serde_json::from_slice(bytes).ok()?;
    if !matches!(&*send.frame_type, "send" | "sendMessage") {
        return None;
    }
    let command = SendCommand {
        room: send.room?.parse().ok()?,
        content: Content::parse(&send.content?).ok()?,
        client_msg_id: match send.client_msg_id {
            Some(raw) => Some(ClientMsgId::parse(&raw).ok()?),
            None => None,
        },
        first_attempt: send.first_attempt.unwrap_or(false),
        kind: match send.kind {
            Some(raw) => MessageKind::parse(&raw).ok()?,
            None => MessageKind::text(),
        },
        metadata: Metadata::parse(send.metadata).ok()?,
        reply_to: match send.reply_to {
            Some(raw) => Some(raw.parse().ok()?),
            None => None,
        },
    };
    Some(ClientFrame { id: send.id, command: Command::Send(command) })
}

fn from_map(map: Map<String, Value>) -> Result<ClientFrame, FrameError> {
    let mut f = Fields { map, errors: FieldErrors::default() };
    let id = match f.take("id") {
        None => None,
        Some(value) => match value.as_u64() {
            Some(id) => Some(id),
            None => {
                f.errors.add("id", "must be a non-negative integer");
                return Err(FrameError::invalid(None, "the frame's id is invalid", f.errors));
            }
        },
    };
    let mut message = "the frame has invalid fields";
    let command = match f.take("type") {
        None => {
            f.errors.add("type", "is required");
            message = "the frame has no type";
            None
        }
        Some(Value::String(kind)) => match kind.as_str() {
            "join" | "joinRoom" => join(&mut f),
            "leave" => f.room().map(|room| Command::Leave { room }),
            "send" | "sendMessage" => send(&mut f),
            "history" => history(&mut f),
            "typing" => f.room().map(|room| Command::Typing { room }),
            "read" => read(&mut f),
            "ping" => Some(Command::Ping),
            "rooms" => f.opt_bool("unread").map(|unread| Command::Rooms { unread }),
            "auth" => auth(&mut f),
            "edit" => edit(&mut f),
            "delete" => delete(&mut f),
            "react" => react(&mut f, true),
            "unreact" => react(&mut f, false),
            "thread" => thread(&mut f),
            // The type is not echoed: it may be anything up to the frame limit.
            _ => {
                f.errors.add("type", TYPES);
                message = "unknown frame type";
                None
            }
        },
        Some(_) => {
            f.errors.add("type", TYPES);
            message = "unknown frame type";
            None
        }
    };
    match command {
        Some(command) if f.errors.is_empty() => Ok(ClientFrame { id, command }),
        _ => Err(FrameError::invalid(id, message, f.errors)),
    }
}

// Each reads every field before `?`, so one answer names all that is wrong.

fn join(f: &mut Fields) -> Option<Command> {
    let room = f.room();
    let since = f.opt_seq("since");
    Some(Command::Join { room: room?, since })
}

fn send(f: &mut Fields) -> Option<Command> {
    let room = f.room();
    let content = f.required_str("content").and_then(|raw| f.errors.check("content", Content::parse(&raw)));
    let client_msg_id =
        f.opt_str("client_msg_id").and_then(|raw| f.errors.check("client_msg_id", ClientMsgId::parse(&raw)));
    let kind = match f.opt_str("kind") {
        Some(raw) => f.errors.check("kind", MessageKind::parse(&raw)),
        None => Some(MessageKind::text()),
    };
    let raw_metadata = f.take("metadata");
    let metadata = f.errors.check("metadata", Metadata::parse(raw_metadata));
    let first_attempt = f.opt_bool("first_attempt");
    let reply_to = f.opt_message_id("reply_to");
    Some(Command::Send(SendCommand {
        room: room?,
        content: content?,
        client_msg_id,
        first_attempt: first_attempt?,
        kind: kind?,
        metadata: metadata?,
        reply_to: reply_to?,
    }))
}

fn history(f: &mut Fields) -> Option<Command> {
    let room = f.room();
    let before = f.opt_seq("before");
    let after = f.opt_seq("after");
    let limit = f.opt_limit();
    Some(Command::History { room: room?, before, after, limit })
}

fn thread(f: &mut Fields) -> Option<Command> {
    let room = f.room();
    let message = f.message_ref();
    let after = f.opt_seq("after");
    let limit = f.opt_limit();
    Some(Command::Thread { room: room?, message: message?, after, limit })
}

fn read(f: &mut Fields) -> Option<Command> {
    let room = f.room();
    let seq = f.required("seq").and_then(|value| f.seq("seq", &value));
    Some(Command::Read { room: room?, seq: seq? })
}

fn edit(f: &mut Fields) -> Option<Command> {
    let room = f.room();
    let message = f.message_ref();
    let content = f.required_str("content").and_then(|raw| f.errors.check("content", Content::parse(&raw)));
    let metadata = match f.take("metadata") {
        Some(raw) => f.errors.check("metadata", Metadata::parse(Some(raw))).map(Some),
        None => Some(None),
    };
    let client_change_id = f.client_change_id();
    Some(Command::Edit(EditCommand {
        room: room?,
        message: message?,
        content: content?,
        metadata: metadata?,
        client_change_id: client_change_id?,
    }))
}

fn delete(f: &mut Fields) -> Option<Command> {
    let room = f.room();
    let message = f.message_ref();
    let client_change_id = f.client_change_id();
    Some(Command::Delete { room: room?, message: message?, client_change_id: client_change_id? })
}

fn react(f: &mut Fields, add: bool) -> Option<Command> {
    let room = f.room();
    let message = f.message_ref();
    let emoji = f.required_str("emoji").and_then(|raw| f.errors.check("emoji", Emoji::parse(&raw)));
    Some(Command::React { room: room?, message: message?, emoji: emoji?, add })
}

fn auth(f: &mut Fields) -> Option<Command> {
    let token = f.required_str("token")?;
    if token.is_empty() {
        f.errors.add("token", "must not be empty");
        return None;
    }
    Some(Command::Auth { token })
}

/// The frame's remaining fields, and what was found wrong with them so far. Fields are taken
/// out, so large values (metadata) move rather than copy.
struct Fields {
    map: Map<String, Value>,
    errors: FieldErrors,
}

impl Fields {
    /// The field's value; `null` counts as absent.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|value| !value.is_null())
    }

    fn required(&mut self, name: &str) -> Option<Value> {
        let value = self.take(name);
        if value.is_none() {
            self.errors.add(name, "is required");
        }
        value
    }

    fn string(&mut self, name: &str, value: Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s),
            _ => {
                self.errors.add(name, "must be a string");
                None
            }
        }
    }

    fn required_str(&mut self, name: &str) -> Option<String> {
        let value = self.required(name)?;
        self.string(name, value)
    }

    fn opt_str(&mut self, name: &str) -> Option<String> {
        let value = self.take(name)?;
        self.string(name, value)
    }

    /// `false` when absent; `None` (and an error) when not a boolean.
    fn opt_bool(&mut self, name: &str) -> Option<bool> {
        match self.take(name) {
            None => Some(false),
            Some(Value::Bool(value)) => Some(value),
            Some(_) => {
                self.errors.add(name, "must be a boolean");
                None
            }
        }
    }

    /// The message a change names: `message_id` (its id) or `seq`, exactly one of them.
    fn message_ref(&mut self) -> Option<MessageRef> {
        let id = self.take("message_id");
        let seq = self.take("seq");
        match (id, seq) {
            (Some(Value::String(raw)), None) => {
                self.errors.check("message_id", raw.parse::<MessageId>()).map(MessageRef::Id)
            }
            (Some(_), None) => {
                self.errors.add("message_id", "must be a UUID");
                None
            }
            (None, Some(value)) => self.seq("seq", &value).map(MessageRef::Seq),
            (Some(_), Some(_)) => {
                self.errors.add("message_id", "give either message_id or seq, not both");
                None
            }
            (None, None) => {
                self.errors.add("message_id", "is required (or seq)");
                None
            }
        }
    }

    /// A page's `limit`, 1–200, when given.
    fn opt_limit(&mut self) -> Option<u32> {
        self.take("limit").and_then(|value| match value.as_u64() {
            Some(limit @ 1..=200) => u32::try_from(limit).ok(),
            _ => {
                self.errors.add("limit", "must be 1 to 200");
                None
            }
        })
    }

    /// A message's id; `Some(None)` when absent, `None` (and an error) when not a UUID.
    fn opt_message_id(&mut self, name: &str) -> Option<Option<MessageId>> {
        match self.take(name) {
            None => Some(None),
            Some(Value::String(raw)) => self.errors.check(name, raw.parse::<MessageId>()).map(Some),
            Some(_) => {
                self.errors.add(name, "must be a UUID");
                None
            }
        }
    }

    /// `Some(None)` when absent; `None` (and an error) when invalid.
    fn client_change_id(&mut self) -> Option<Option<ClientMsgId>> {
        let Some(value) = self.take("client_change_id") else { return Some(None) };
        let raw = self.string("client_change_id", value)?;
        self.errors.check("client_change_id", ClientMsgId::parse(&raw)).map(Some)
    }

    fn room(&mut self) -> Option<RoomId> {
        match self.required("room")? {
            Value::String(raw) => self.errors.check("room", raw.parse()),
            _ => {
                self.errors.add("room", "must be a UUID");
                None
            }
        }
    }

    fn seq(&mut self, name: &str, value: &Value) -> Option<Seq> {
        let seq = value.as_u64();
        if seq.is_none() {
            self.errors.add(name, "must be a non-negative integer");
        }
        seq
    }

    fn opt_seq(&mut self, name: &str) -> Option<Seq> {
        let value = self.take(name)?;
        self.seq(name, &value)
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::json;

    use super::*;
    use crate::domain::Invalid;

    const ROOM: &str = "0b9e3f5e-8a55-4c55-9f0e-6d2d3c1b2a10";

    fn room() -> RoomId {
        ROOM.parse().unwrap()
    }

    /// Decodes the frame through both codecs, which must agree exactly.
    fn decode(frame: Value) -> Result<ClientFrame, FrameError> {
        let json = decode_client_frame(Codec::Json, &serde_json::to_vec(&frame).unwrap());
        let msgpack = decode_client_frame(Codec::MsgPack, &rmp_serde::to_vec_named(&frame).unwrap());
        assert_eq!(json, msgpack, "the codecs disagree on {frame}");
        json
    }

    fn command(frame: Value) -> Command {
        decode(frame).unwrap().command
    }

    /// The refusal of a frame, with the reason given for each named field.
    fn refusal(frame: Value) -> (Option<u64>, Vec<(String, String)>) {
        let err = decode(frame).unwrap_err();
        assert_eq!(err.code, FrameErrorCode::InvalidInput);
        (err.id, err.fields.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    fn field(name: &str, reason: &str) -> (String, String) {
        (name.to_owned(), reason.to_owned())
    }

    fn unreadable(codec: Codec, bytes: &[u8]) -> FrameError {
        let err = decode_client_frame(codec, bytes).unwrap_err();
        assert_eq!(err.id, None, "{err}");
        assert_eq!(err.code, FrameErrorCode::InvalidInput);
        err
    }

    #[test]
    fn join_decodes_from_both_codecs_with_and_without_since() {
        let frame = decode(json!({"type": "join", "id": 1, "room": ROOM, "since": 42})).unwrap();
        assert_eq!(
            frame,
            ClientFrame { id: Some(1), command: Command::Join { room: room(), since: Some(42) } }
        );
        assert_eq!(
            command(json!({"type": "join", "room": ROOM})),
            Command::Join { room: room(), since: None }
        );
    }

    #[test]
    fn join_room_is_an_alias_of_join() {
        assert_eq!(
            command(json!({"type": "joinRoom", "room": ROOM, "since": 0})),
            Command::Join { room: room(), since: Some(0) }
        );
    }

    #[test]
    fn the_json_send_shortcut_answers_only_as_the_general_path_does() {
        let room = ROOM;
        let frames = [
            format!(
                r#"{{"type":"send","id":7,"room":"{room}","content":"hi","client_msg_id":"c1","first_attempt":true}}"#
            ),
            format!(
                r#"{{"type":"sendMessage","room":"{room}","content":"caf\u00e9 \"q\"","kind":"image","metadata":{{"w":1}}}}"#
            ),
            format!(
                r#"{{"type":"send","id":null,"room":"{room}","content":"x","kind":null,"metadata":null,"first_attempt":null,"extra":[1]}}"#
            ),
            format!(r#"{{"type":"send","room":"{room}","content":"one","content":"two"}}"#),
            format!(r#"{{"type":"send","id":1.0,"room":"{room}","content":"x"}}"#),
            format!(r#"{{"type":"send","id":-1,"room":"{room}","content":"x"}}"#),
            format!(r#"{{"type":"send","room":"{room}","content":"   "}}"#),
            format!(r#"{{"type":"send","room":"{room}","content":null}}"#),
            format!(r#"{{"type":"send","room":"{room}","content":5}}"#),
            format!(r#"{{"type":"send","room":"{room}","content":"x","kind":"Bad Kind"}}"#),
            format!(r#"{{"type":"send","room":"{room}","content":"x","metadata":[1]}}"#),
            format!(r#"{{"type":"send","room":"{room}","content":"x","first_attempt":"yes"}}"#),
            format!(r#"{{"type":"send","room":"{room}","content":"x","client_msg_id":""}}"#),
            format!(r#"{{"type":"send","room":"{room}","content":"x"}} trailing"#),
            r#"{"type":"send","room":"not-a-uuid","content":"x"}"#.to_owned(),
            r#"{"type":"send","content":"x"}"#.to_owned(),
            format!(r#"{{"type":"join","room":"{room}"}}"#),
            format!(r#"{{"type":null,"room":"{room}","content":"x"}}"#),
            format!(r#"[{{"type":"send","room":"{room}","content":"x"}}]"#),
            // serde reads a struct from an array by position; a frame is an object only.
            format!(r#"["send",null,"{room}","x",null,null,null,null,null]"#),
            format!(r#" ["send",7,"{room}","x","c1","text",{{}},true,null]"#),
        ];
        let mut shortcuts = 0;
        for frame in &frames {
            if let Some(fast) = well_formed_json_send(frame.as_bytes()) {
                shortcuts += 1;
                assert_eq!(Ok(fast), decode_in_general(Codec::Json, frame.as_bytes()), "{frame}");
            }
        }
        assert_eq!(shortcuts, 3, "the well-formed sends take the shortcut, nothing else does");
    }

    #[test]
    fn a_send_written_as_an_array_is_refused_as_in_messagepack() {
        let fields = json!(["send", 7, ROOM, "hi", null, null, null, null, null]);
        let json = decode_client_frame(Codec::Json, fields.to_string().as_bytes());
        let msgpack = decode_client_frame(Codec::MsgPack, &rmp_serde::to_vec(&fields).unwrap());
        assert_eq!(
            json.as_ref().map_err(|err| err.message.as_str()),
            Err("a frame must be an object with a \"type\"")
        );
        assert_eq!(json, msgpack);
    }

    #[test]
    fn every_command_is_named_in_names() {
        let frames = [
            json!({"type": "join", "room": ROOM}),
            json!({"type": "leave", "room": ROOM}),
            json!({"type": "send", "room": ROOM, "content": "hi"}),
            json!({"type": "history", "room": ROOM}),
            json!({"type": "typing", "room": ROOM}),
            json!({"type": "read", "room": ROOM, "seq": 1}),
            json!({"type": "ping"}),
            json!({"type": "auth", "token": "t"}),
            json!({"type": "edit", "room": ROOM, "seq": 3, "content": "hi"}),
            json!({"type": "delete", "room": ROOM, "seq": 3}),
            json!({"type": "react", "room": ROOM, "seq": 3, "emoji": "👍"}),
            json!({"type": "unreact", "room": ROOM, "seq": 3, "emoji": "👍"}),
            json!({"type": "thread", "room": ROOM, "seq": 3}),
            json!({"type": "rooms"}),
        ];
        let names: Vec<&str> = frames.into_iter().map(|f| command(f).name()).collect();
        assert_eq!(names, Command::NAMES);
    }

    const MESSAGE: &str = "0195f4e2-8a7c-7d3e-9b1a-00000000000a";

    #[test]
    fn an_edit_names_its_message_by_id_or_seq_and_keeps_metadata_unless_given() {
        let by_id = json!({"type": "edit", "room": ROOM, "message_id": MESSAGE, "content": "new",
                           "client_change_id": "e-1", "metadata": null});
        assert_eq!(
            command(by_id),
            Command::Edit(EditCommand {
                room: room(),
                message: MessageRef::Id(MESSAGE.parse().unwrap()),
                content: Content::parse("new").unwrap(),
                metadata: None,
                client_change_id: Some(ClientMsgId::parse("e-1").unwrap()),
            })
        );
        let by_seq = json!({"type": "edit", "room": ROOM, "seq": 7, "content": "new", "metadata": {"a": 1}});
        let Command::Edit(edit) = command(by_seq) else { panic!("an edit") };
        assert_eq!(edit.message, MessageRef::Seq(7));
        assert_eq!(edit.metadata, Some(Metadata::parse(Some(json!({"a": 1}))).unwrap()));
        assert_eq!(
            command(json!({"type": "delete", "room": ROOM, "seq": 7})),
            Command::Delete { room: room(), message: MessageRef::Seq(7), client_change_id: None }
        );
    }

    #[test]
    fn a_change_frame_with_bad_fields_names_each_of_them() {
        let (id, fields) = refusal(json!({"type": "edit", "id": 4, "room": "nope", "content": " ",
                                          "metadata": [1], "client_change_id": ""}));
        assert_eq!(id, Some(4));
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["client_change_id", "content", "message_id", "metadata", "room"]);
        let (_, both) =
            refusal(json!({"type": "delete", "id": 1, "room": ROOM, "message_id": MESSAGE, "seq": 2}));
        assert_eq!(both, [field("message_id", "give either message_id or seq, not both")]);
        let (_, bad_id) = refusal(json!({"type": "delete", "id": 1, "room": ROOM, "message_id": 12}));
        assert_eq!(bad_id, [field("message_id", "must be a UUID")]);
        let (_, bad_seq) = refusal(json!({"type": "delete", "id": 1, "room": ROOM, "seq": -1}));
        assert_eq!(bad_seq, [field("seq", "must be a non-negative integer")]);
        let long = "x".repeat(4001);
        let (_, too_long) =
            refusal(json!({"type": "edit", "id": 1, "room": ROOM, "seq": 1, "content": long}));
        assert_eq!(too_long, [field("content", "must be at most 4000 characters")]);
    }

    #[test]
    fn a_reaction_frame_names_its_message_and_a_valid_emoji() {
        assert_eq!(
            command(json!({"type": "react", "room": ROOM, "message_id": MESSAGE, "emoji": "🇫🇷"})),
            Command::React {
                room: room(),
                message: MessageRef::Id(MESSAGE.parse().unwrap()),
                emoji: Emoji::parse("🇫🇷").unwrap(),
                add: true,
            }
        );
        let Command::React { add, .. } =
            command(json!({"type": "unreact", "room": ROOM, "seq": 2, "emoji": "x"}))
        else {
            panic!("a reaction")
        };
        assert!(!add);
        let (id, fields) = refusal(json!({"type": "react", "id": 3, "room": ROOM, "seq": 2, "emoji": "a b"}));
        assert_eq!((id, fields), (Some(3), vec![field("emoji", &Invalid::Emoji.to_string())]));
        let (_, fields) = refusal(json!({"type": "unreact", "id": 3, "room": ROOM, "emoji": ["👍"]}));
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["emoji", "message_id"]);
    }

    #[test]
    fn leave_decodes() {
        assert_eq!(command(json!({"type": "leave", "room": ROOM})), Command::Leave { room: room() });
    }

    #[test]
    fn send_decodes_with_every_field() {
        let frame = json!({
            "type": "send", "id": 9, "room": ROOM, "content": "hello", "client_msg_id": "c-1",
            "kind": "image", "metadata": {"url": "https://example.com/a.png"}, "first_attempt": true
        });
        let expected = SendCommand {
            room: room(),
            content: Content::parse("hello").unwrap(),
            client_msg_id: Some(ClientMsgId::parse("c-1").unwrap()),
            first_attempt: true,
            kind: MessageKind::parse("image").unwrap(),
            metadata: Metadata::parse(Some(json!({"url": "https://example.com/a.png"}))).unwrap(),
            reply_to: None,
        };
        assert_eq!(decode(frame).unwrap(), ClientFrame { id: Some(9), command: Command::Send(expected) });
    }

    #[test]
    fn send_defaults_to_a_text_message_without_metadata() {
        let Command::Send(send) = command(json!({"type": "send", "room": ROOM, "content": "hi"})) else {
            panic!("not a send");
        };
        assert_eq!(send.kind, MessageKind::text());
        assert_eq!(send.metadata, Metadata::default());
        assert_eq!(send.client_msg_id, None);
        assert!(!send.first_attempt);
    }

    #[test]
    fn send_message_is_an_alias_of_send() {
        let a = command(json!({"type": "sendMessage", "room": ROOM, "content": "hi"}));
        let b = command(json!({"type": "send", "room": ROOM, "content": "hi"}));
        assert_eq!(a, b);
        assert_eq!(a.name(), "send");
    }

    #[test]
    fn history_decodes_with_its_optional_bounds() {
        assert_eq!(
            command(json!({"type": "history", "room": ROOM, "before": 100, "after": 10, "limit": 200})),
            Command::History { room: room(), before: Some(100), after: Some(10), limit: Some(200) }
        );
        assert_eq!(
            command(json!({"type": "history", "room": ROOM})),
            Command::History { room: room(), before: None, after: None, limit: None }
        );
    }

    #[test]
    fn a_history_limit_outside_one_to_two_hundred_is_refused() {
        for limit in [json!(0), json!(201), json!(-1), json!(1.5), json!("10"), json!(u64::MAX)] {
            let (id, fields) = refusal(json!({"type": "history", "id": 4, "room": ROOM, "limit": limit}));
            assert_eq!(id, Some(4));
            assert_eq!(fields, [field("limit", "must be 1 to 200")], "limit {limit}");
        }
    }

    #[test]
    fn typing_read_ping_and_auth_decode() {
        assert_eq!(command(json!({"type": "typing", "room": ROOM})), Command::Typing { room: room() });
        assert_eq!(
            command(json!({"type": "read", "room": ROOM, "seq": 7})),
            Command::Read { room: room(), seq: 7 }
        );
        assert_eq!(
            decode(json!({"type": "ping"})).unwrap(),
            ClientFrame { id: None, command: Command::Ping }
        );
        assert_eq!(
            decode(json!({"type": "ping", "id": 3})).unwrap(),
            ClientFrame { id: Some(3), command: Command::Ping }
        );
        assert_eq!(
            command(json!({"type": "auth", "token": "eyJ.a.b"})),
            Command::Auth { token: "eyJ.a.b".into() }
        );
    }

    #[test]
    fn msgpack_written_from_a_struct_decodes() {
        #[derive(Serialize)]
        struct SendFrame<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            id: u64,
            room: &'a str,
            content: &'a str,
        }
        let frame = SendFrame { kind: "send", id: 5, room: ROOM, content: "from a struct" };
        let decoded = decode_client_frame(Codec::MsgPack, &rmp_serde::to_vec_named(&frame).unwrap()).unwrap();
        assert_eq!(decoded.id, Some(5));
        assert!(matches!(decoded.command, Command::Send(s) if s.content.as_str() == "from a struct"));
        // A struct written compactly is an array, not the map the contract asks for.
        unreadable(Codec::MsgPack, &rmp_serde::to_vec(&frame).unwrap());
    }

    #[test]
    fn missing_fields_are_named_and_the_reply_keeps_the_id() {
        let (id, fields) = refusal(json!({"type": "send", "id": 7}));
        assert_eq!(id, Some(7));
        assert_eq!(fields, [field("content", "is required"), field("room", "is required")]);
        let (_, fields) = refusal(json!({"type": "read", "id": 8, "room": ROOM}));
        assert_eq!(fields, [field("seq", "is required")]);
        let (_, fields) = refusal(json!({"type": "auth", "id": 8}));
        assert_eq!(fields, [field("token", "is required")]);
    }

    #[test]
    fn wrong_typed_fields_are_named_and_the_reply_keeps_the_id() {
        let cases = [
            (json!({"type": "join", "id": 1, "room": 5}), field("room", "must be a UUID")),
            (json!({"type": "join", "id": 1, "room": "general"}), field("room", "must be a UUID")),
            (
                json!({"type": "join", "id": 1, "room": ROOM, "since": "3"}),
                field("since", "must be a non-negative integer"),
            ),
            (
                json!({"type": "read", "id": 1, "room": ROOM, "seq": -1}),
                field("seq", "must be a non-negative integer"),
            ),
            (
                json!({"type": "read", "id": 1, "room": ROOM, "seq": 2.5}),
                field("seq", "must be a non-negative integer"),
            ),
            (
                json!({"type": "history", "id": 1, "room": ROOM, "before": [1]}),
                field("before", "must be a non-negative integer"),
            ),
            (
                json!({"type": "send", "id": 1, "room": ROOM, "content": 5}),
                field("content", "must be a string"),
            ),
            (
                json!({"type": "send", "id": 1, "room": ROOM, "content": "x", "kind": 1}),
                field("kind", "must be a string"),
            ),
            (
                json!({"type": "send", "id": 1, "room": ROOM, "content": "x", "first_attempt": "yes"}),
                field("first_attempt", "must be a boolean"),
            ),
            (
                json!({"type": "send", "id": 1, "room": ROOM, "content": "x", "first_attempt": 1}),
                field("first_attempt", "must be a boolean"),
            ),
            (json!({"type": "auth", "id": 1, "token": {"jwt": "x"}}), field("token", "must be a string")),
            (json!({"type": "auth", "id": 1, "token": ""}), field("token", "must not be empty")),
        ];
        for (frame, expected) in cases {
            let (id, fields) = refusal(frame.clone());
            assert_eq!(id, Some(1), "{frame}");
            assert_eq!(fields, [expected], "{frame}");
        }
    }

    #[test]
    fn every_problem_of_a_send_is_named_at_once() {
        let (id, fields) = refusal(json!({
            "type": "send", "id": 2, "room": "nope", "content": "   ", "kind": "Image",
            "client_msg_id": "", "metadata": [1], "first_attempt": "no"
        }));
        assert_eq!(id, Some(2));
        let names: Vec<_> = fields.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["client_msg_id", "content", "first_attempt", "kind", "metadata", "room"]);
        assert!(fields.contains(&field("content", "must not be empty")));
    }

    #[test]
    fn unknown_or_missing_types_are_refused_with_the_id() {
        let (id, fields) = refusal(json!({"type": "explode", "id": 3}));
        assert_eq!(id, Some(3));
        assert_eq!(fields, [field("type", TYPES)]);
        let (_, fields) = refusal(json!({"type": 12, "id": 3}));
        assert_eq!(fields, [field("type", TYPES)]);
        let (id, fields) = refusal(json!({"id": 3, "room": ROOM}));
        assert_eq!(id, Some(3));
        assert_eq!(fields, [field("type", "is required")]);
        // Types are case-sensitive.
        assert!(decode(json!({"type": "PING"})).is_err());
    }

    #[test]
    fn malformed_json_is_refused_without_an_id() {
        for bytes in [
            &b"{"[..],
            b"",
            b"not json",
            b"{\"type\": \"ping\", \"id\": 1",
            b"{\"type\":\"ping\"} trailing",
            b"\xff\xfe",
        ] {
            unreadable(Codec::Json, bytes);
        }
    }

    #[test]
    fn frames_that_are_not_maps_are_refused_without_an_id() {
        for value in [json!([{"type": "ping", "id": 1}]), json!("ping"), json!(1), json!(null), json!(true)] {
            let (id, fields) = refusal(value);
            assert_eq!(id, None);
            assert!(fields.is_empty());
        }
    }

    #[test]
    fn binary_garbage_is_refused_without_an_id() {
        let garbage: [&[u8]; 7] = [
            b"",
            b"\xc1",                     // a marker MessagePack never uses
            b"\x82\xa4type",             // a map cut short
            b"\xdf\xff\xff\xff\xff",     // a map claiming four billion entries
            b"\xdd\xff\xff\xff\xff\x00", // an array claiming four billion elements
            b"\xdb\xff\xff\xff\xff",     // a string claiming four gigabytes
            b"{\"type\":\"ping\"}",      // JSON on the MessagePack codec
        ];
        for bytes in garbage {
            unreadable(Codec::MsgPack, bytes);
        }
    }

    #[test]
    fn msgpack_values_json_cannot_hold_are_refused_without_an_id() {
        // {1: "ping"}: a non-string key.
        unreadable(
            Codec::MsgPack,
            &rmp_serde::to_vec_named(&std::collections::BTreeMap::from([(1u8, "ping")])).unwrap(),
        );
        // {"type": "ping", "id": <bin 1 byte>} and an ext value in its place.
        unreadable(Codec::MsgPack, b"\x82\xa4type\xa4ping\xa2id\xc4\x01\x00");
        unreadable(Codec::MsgPack, b"\x82\xa4type\xa4ping\xa2id\xd4\x01\x00");
        // A string that is not UTF-8.
        unreadable(Codec::MsgPack, b"\x81\xa4type\xa2\xff\xfe");
    }

    #[test]
    fn content_over_four_thousand_characters_is_refused() {
        let (id, fields) =
            refusal(json!({"type": "send", "id": 1, "room": ROOM, "content": "x".repeat(4001)}));
        assert_eq!(id, Some(1));
        assert_eq!(fields, [field("content", "must be at most 4000 characters")]);
        assert!(decode(json!({"type": "send", "room": ROOM, "content": "字".repeat(4000)})).is_ok());
    }

    #[test]
    fn metadata_over_four_kibibytes_is_refused() {
        let metadata = json!({"blob": "x".repeat(4100)});
        let (id, fields) =
            refusal(json!({"type": "send", "id": 1, "room": ROOM, "content": "hi", "metadata": metadata}));
        assert_eq!(id, Some(1));
        assert_eq!(fields, [field("metadata", "must be at most 4096 bytes")]);
        let (_, fields) =
            refusal(json!({"type": "send", "id": 1, "room": ROOM, "content": "hi", "metadata": "text"}));
        assert_eq!(fields, [field("metadata", "must be a JSON object or null")]);
    }

    #[test]
    fn an_id_must_be_a_non_negative_integer_or_the_frame_has_no_id() {
        for id in [json!(-1), json!(1.5), json!(1.0), json!("1"), json!([1]), json!(18446744073709551616.0)] {
            let (reply_id, fields) = refusal(json!({"type": "ping", "id": id}));
            assert_eq!(reply_id, None, "id {id}");
            assert_eq!(fields, [field("id", "must be a non-negative integer")]);
        }
        assert_eq!(decode(json!({"type": "ping", "id": u64::MAX})).unwrap().id, Some(u64::MAX));
        assert_eq!(decode(json!({"type": "ping", "id": 0})).unwrap().id, Some(0));
        // Past u64 in JSON text: an integer too large is parsed as a float, one past f64 not at all.
        let err =
            decode_client_frame(Codec::Json, br#"{"type":"ping","id":18446744073709551616}"#).unwrap_err();
        assert_eq!(err.id, None);
        unreadable(Codec::Json, br#"{"type":"ping","id":1e400}"#);
    }

    #[test]
    fn a_bad_id_is_reported_even_when_the_rest_is_also_bad() {
        let (id, fields) = refusal(json!({"type": "nope", "id": -5}));
        assert_eq!(id, None);
        assert_eq!(fields, [field("id", "must be a non-negative integer")]);
    }

    #[test]
    fn null_fields_count_as_absent() {
        assert_eq!(decode(json!({"type": "ping", "id": null})).unwrap().id, None);
        assert_eq!(
            command(json!({"type": "join", "room": ROOM, "since": null})),
            Command::Join { room: room(), since: None }
        );
        let Command::Send(send) = command(json!({
            "type": "send", "room": ROOM, "content": "hi", "kind": null, "metadata": null, "client_msg_id": null,
            "first_attempt": null
        })) else {
            panic!("not a send");
        };
        assert_eq!(
            (send.kind, send.metadata, send.client_msg_id, send.first_attempt),
            (MessageKind::text(), Metadata::default(), None, false)
        );
        let (_, fields) = refusal(json!({"type": "leave", "room": null}));
        assert_eq!(fields, [field("room", "is required")]);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert_eq!(
            command(json!({"type": "leave", "room": ROOM, "extra": {"deep": [1, 2]}, "v": 2})),
            Command::Leave { room: room() }
        );
    }

    #[test]
    fn ten_thousand_nested_arrays_are_refused_without_a_panic() {
        let depth = 10_000;
        let json = format!(r#"{{"type":"ping","id":1,"x":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        assert!(unreadable(Codec::Json, json.as_bytes()).message.contains("recursion limit"));

        // {"type": "ping", "id": 1, "x": [[[...nil...]]]}
        let mut msgpack = b"\x83\xa4type\xa4ping\xa2id\x01\xa1x".to_vec();
        msgpack.extend(std::iter::repeat_n(0x91u8, depth));
        msgpack.push(0xc0);
        assert!(unreadable(Codec::MsgPack, &msgpack).message.contains("depth limit"));

        // Nested maps: {"a": {"a": ... nil}}
        let mut maps: Vec<u8> = std::iter::repeat_n([0x81u8, 0xa1, b'a'], depth).flatten().collect();
        maps.push(0xc0);
        assert!(unreadable(Codec::MsgPack, &maps).message.contains("depth limit"));
    }

    #[test]
    fn moderately_nested_metadata_is_accepted() {
        let mut nested = json!(1);
        for _ in 0..50 {
            nested = json!({ "n": nested });
        }
        assert!(decode(json!({"type": "send", "room": ROOM, "content": "hi", "metadata": nested})).is_ok());
    }

    #[test]
    fn not_a_number_in_msgpack_does_not_panic() {
        #[derive(Serialize)]
        struct Frame {
            #[serde(rename = "type")]
            kind: &'static str,
            id: f64,
            room: &'static str,
            content: &'static str,
            metadata: std::collections::BTreeMap<&'static str, f64>,
        }
        let frame = Frame {
            kind: "send",
            id: f64::NAN,
            room: ROOM,
            content: "hi",
            metadata: [("nan", f64::NAN), ("inf", f64::INFINITY)].into(),
        };
        // A float that JSON cannot hold reads as null: the id counts as absent, and the
        // metadata keeps the keys with null values.
        let decoded = decode_client_frame(Codec::MsgPack, &rmp_serde::to_vec_named(&frame).unwrap()).unwrap();
        assert_eq!(decoded.id, None);
        let Command::Send(send) = decoded.command else { panic!("not a send") };
        assert_eq!(send.metadata.as_object().unwrap().get("nan"), Some(&Value::Null));
    }

    mod properties {
        use proptest::prelude::*;

        use super::decode;
        use crate::protocol::arbitrary::{client_frame, frame_like_map, frame_value};

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// `decode` also checks that JSON and MessagePack agree on the frame.
            #[test]
            fn any_valid_frame_written_as_a_client_would_decodes_to_itself(
                frame in client_frame(),
                nulls in any::<bool>(),
            ) {
                prop_assert_eq!(decode(frame_value(&frame, nulls)), Ok(frame));
            }

            /// A JSON `send` takes a path of its own, which must accept and refuse exactly what
            /// the general path does; MessagePack always takes the general one.
            #[test]
            fn both_codecs_accept_and_refuse_the_same_maps(map in frame_like_map()) {
                let _ = decode(map);
            }
        }
    }
}
