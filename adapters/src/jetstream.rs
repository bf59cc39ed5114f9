//! The message log and live feed ports over NATS JetStream ([`NatsLog`]): messages and changes
//! to them are stored as MessagePack, and an entry's seq is its stream sequence.

use std::sync::LazyLock;

use async_trait::async_trait;
use bytes::Bytes;
use chat_shared::domain::{Change, Entry, Message, Reaction, RoomId, Seq};
use chat_shared::ports::{Appended, LiveEntry, LiveFeed, LiveStream, LogError, MessageLog};
use futures::StreamExt;
use metrics::Histogram;

use crate::nats::{NatsError, NatsLog};

/// Encodes a message for the stream. Its seq is not part of it: the stream assigns that.
pub fn encode_stored(message: &Message) -> Bytes {
    let stored = message.stored_form();
    Bytes::from(rmp_serde::to_vec_named(&*stored).expect("a message always encodes"))
}

/// Encodes a change for the stream: a map whose first key is `kind`, where a message's is `id`.
pub fn encode_change(change: &Change) -> Bytes {
    let stored = change.stored_form();
    Bytes::from(rmp_serde::to_vec_named(&*stored).expect("a change always encodes"))
}

/// Encodes a reaction entry for the stream: a map whose first key is `emoji`.
pub fn encode_reaction(reaction: &Reaction) -> Bytes {
    Bytes::from(rmp_serde::to_vec_named(reaction).expect("a reaction always encodes"))
}

/// Encodes any kind of entry.
pub fn encode_entry(entry: &Entry) -> Bytes {
    match entry {
        Entry::Message(message) => encode_stored(message),
        Entry::Change(change) => encode_change(change),
        Entry::Reaction(reaction) => encode_reaction(reaction),
    }
}

/// What a stored payload holds, told by the first key of its MessagePack map: `kind` for a
/// change, `emoji` for a reaction; messages (all of them, those stored before changes existed
/// too) begin with `id`.
#[derive(Debug, PartialEq, Eq)]
enum StoredKind {
    Message,
    Change,
    Reaction,
}

fn stored_kind(payload: &[u8]) -> StoredKind {
    let header = match payload.first() {
        Some(0x80..=0x8f) => 1,
        Some(0xde) => 3,
        Some(0xdf) => 5,
        _ => return StoredKind::Message,
    };
    let first_key = payload.get(header..).unwrap_or_default();
    if first_key.starts_with(b"\xa4kind") {
        StoredKind::Change
    } else if first_key.starts_with(b"\xa5emoji") {
        StoredKind::Reaction
    } else {
        StoredKind::Message
    }
}

/// How deeply a stored message may nest: as deeply as a client frame may (a message's metadata
/// sits at the same depth in both), far below what overflows a runtime thread's 2 MiB stack.
/// rmp-serde's own limit, 1024, does not: a payload nested that deep would abort the process
/// that reads it, every time the stream hands it over again.
const MAX_DEPTH: usize = 128;

/// Decodes an entry read from the stream under `seq`. One with a NUL character anywhere was
/// not published by a node (every node refuses them) and is refused like any undecodable
/// payload: the persister would otherwise fail to insert it, and stop there, on every retry.
pub fn decode_stored(payload: &[u8], seq: Seq) -> Result<Entry, rmp_serde::decode::Error> {
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    de.set_max_depth(MAX_DEPTH);
    let entry = match stored_kind(payload) {
        StoredKind::Change => {
            let change: Change = serde::Deserialize::deserialize(&mut de)?;
            Entry::Change(change.at_seq(seq))
        }
        StoredKind::Reaction => {
            let reaction: Reaction = serde::Deserialize::deserialize(&mut de)?;
            Entry::Reaction(reaction.at_seq(seq))
        }
        StoredKind::Message => {
            let message: Message = serde::Deserialize::deserialize(&mut de)?;
            Entry::Message(Message { seq, ..message })
        }
    };
    if entry.contains_nul() {
        return Err(serde::de::Error::custom("a NUL character, which no node publishes"));
    }
    Ok(entry)
}

/// Recorded for every send: a handle looked up once, not by name each time.
static PUBLISH_ACK_SECONDS: LazyLock<Histogram> =
    LazyLock::new(|| metrics::histogram!("chat_publish_ack_seconds"));

pub(crate) fn log_error(err: NatsError) -> LogError {
    if err.is_unavailable() { LogError::Unavailable(Box::new(err)) } else { LogError::Other(Box::new(err)) }
}

fn corrupt(seq: Seq, err: rmp_serde::decode::Error) -> LogError {
    LogError::Other(format!("message {seq} in the stream does not decode: {err}").into())
}

#[derive(Clone)]
pub struct JetStreamLog {
    nats: NatsLog,
    /// The persisters' durable consumer, whose acknowledgements say what the store holds.
    persister: String,
}

impl JetStreamLog {
    /// The log of `nats`, whose entries the persisters of durable consumer `persister` write.
    pub fn new(nats: NatsLog, persister: &str) -> Self {
        Self { nats, persister: persister.to_owned() }
    }
}

#[async_trait]
impl MessageLog for JetStreamLog {
    async fn append(&self, message: &Message, dedup_key: &str) -> Result<Appended, LogError> {
        let started = std::time::Instant::now();
        let mut buf = [0; 36];
        let room = message.room_id.encode(&mut buf);
        let appended = self.nats.append(room, dedup_key, encode_stored(message)).await.map_err(log_error)?;
        PUBLISH_ACK_SECONDS.record(started.elapsed().as_secs_f64());
        Ok(if appended.duplicate { Appended::Duplicate(appended.seq) } else { Appended::New(appended.seq) })
    }

    async fn append_change(&self, change: &Change, dedup_key: &str) -> Result<Appended, LogError> {
        let mut buf = [0; 36];
        let room = change.message.room_id.encode(&mut buf);
        let appended = self.nats.append(room, dedup_key, encode_change(change)).await.map_err(log_error)?;
        Ok(if appended.duplicate { Appended::Duplicate(appended.seq) } else { Appended::New(appended.seq) })
    }

    async fn append_reaction(&self, reaction: &Reaction, dedup_key: &str) -> Result<Appended, LogError> {
        let mut buf = [0; 36];
        let room = reaction.room_id.encode(&mut buf);
        let appended =
            self.nats.append(room, dedup_key, encode_reaction(reaction)).await.map_err(log_error)?;
        Ok(if appended.duplicate { Appended::Duplicate(appended.seq) } else { Appended::New(appended.seq) })
    }

    async fn get(&self, seq: Seq) -> Result<Option<Entry>, LogError> {
        match self.nats.get(seq).await.map_err(log_error)? {
            Some(payload) => decode_stored(&payload, seq).map(Some).map_err(|e| corrupt(seq, e)),
            None => Ok(None),
        }
    }

    async fn read_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Entry>, LogError> {
        let raw = self.nats.read_room_after(&room.to_string(), after, limit).await.map_err(log_error)?;
        // Something undecodable on a room's subject was not published by a node; it is no
        // message of the room, and must not make the room's history unreadable.
        let messages = raw
            .into_iter()
            .filter_map(|(seq, payload)| match decode_stored(&payload, seq) {
                Ok(message) => Some(message),
                Err(err) => {
                    tracing::error!(seq, error = %err, "skipped an undecodable message in the stream");
                    None
                }
            })
            .collect();
        Ok(messages)
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, LogError> {
        let last = self.nats.last_seq_of_room(&room.to_string()).await.map_err(log_error)?;
        Ok(last.unwrap_or(0))
    }

    /// The persisters' acknowledgement floor: they acknowledge an entry once it is written
    /// and, for a change, applied and its redactions removed from the stream.
    /// The stream's first sequence: retention removes the oldest entries first.
    async fn retained_from(&self) -> Result<Seq, LogError> {
        self.nats.first_seq().await.map_err(log_error)
    }

    async fn head(&self) -> Result<Seq, LogError> {
        self.nats.last_seq().await.map_err(log_error)
    }

    async fn persisted_through(&self) -> Result<Seq, LogError> {
        self.nats.ack_floor(&self.persister).await.map_err(log_error)
    }
}

#[async_trait]
impl LiveFeed for JetStreamLog {
    async fn subscribe(&self, room: RoomId) -> Result<LiveStream, LogError> {
        let live = self.nats.subscribe_live(&room.to_string()).await.map_err(log_error)?;
        let messages = live.filter_map(|live| async move {
            match decode_stored(&live.payload, live.seq) {
                Ok(entry) => Some(LiveEntry { entry, previous_seq: live.last_seq }),
                Err(err) => {
                    tracing::error!(seq = live.seq, error = %err, "undecodable message in the live feed");
                    None
                }
            }
        });
        Ok(Box::pin(messages))
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::domain::{ChangeKind, Content, MessageId, MessageKind, Metadata, UserId};
    use chat_shared::protocol::{Codec, Command, decode_client_frame};
    use serde_json::{Value, json};

    use super::*;

    fn message(metadata: Metadata) -> Message {
        Message {
            id: MessageId::generate(),
            room_id: RoomId::generate(),
            seq: 0,
            sender_id: UserId::generate(),
            content: Content::parse("hello").unwrap(),
            kind: MessageKind::text(),
            metadata,
            client_msg_id: None,
            created_at: chrono::Utc::now(),
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

    fn nested_arrays(depth: usize) -> Value {
        (0..depth).fold(Value::Null, |inner, _| Value::Array(vec![inner]))
    }

    #[test]
    fn a_stored_message_decodes_to_itself_under_the_streams_seq() {
        let stored = message(Metadata::parse(Some(json!({"k": [1, "two", {"three": 3.5}]}))).unwrap());
        assert_eq!(
            decode_stored(&encode_stored(&stored), 42).unwrap(),
            Entry::Message(Message { seq: 42, ..stored })
        );
    }

    #[test]
    fn reactions_smuggled_into_a_stored_message_are_not_read_back() {
        #[derive(serde::Serialize)]
        struct Smuggled<'a> {
            #[serde(flatten)]
            message: &'a Message,
            reactions_seq: u64,
            reactions: Value,
        }
        let stored = message(Metadata::default());
        let reactions = json!([{"emoji": "👍", "count": 9, "me": true}]);
        let payload =
            rmp_serde::to_vec_named(&Smuggled { message: &stored, reactions_seq: 26, reactions }).unwrap();
        let Entry::Message(read) = decode_stored(&payload, 7).unwrap() else { panic!("a message") };
        assert_eq!(read, Message { seq: 7, ..stored });
        assert_eq!(
            decode_stored(&encode_entry(&Entry::Message(read.clone())), 7).unwrap(),
            Entry::Message(read)
        );
    }

    fn change_of(message: &Message) -> Change {
        let edited = message.edited(Content::parse("edited").unwrap(), None, chrono::Utc::now());
        Change {
            kind: ChangeKind::Edited,
            seq: 0,
            actor: message.sender_id,
            client_change_id: None,
            message: edited,
        }
    }

    #[test]
    fn a_stored_change_decodes_to_itself_under_the_streams_seq() {
        let original = Message { seq: 5, ..message(Metadata::default()) };
        let edit = change_of(&original);
        let deletion = Change {
            kind: ChangeKind::Deleted,
            client_change_id: Some(chat_shared::domain::ClientMsgId::parse("d-1").unwrap()),
            message: original.tombstone(original.sender_id, chrono::Utc::now()),
            ..edit.clone()
        };
        for change in [edit, deletion] {
            let decoded = decode_stored(&encode_change(&change), 9).unwrap();
            assert_eq!(decoded, Entry::Change(change.at_seq(9)));
        }
    }

    #[test]
    fn a_stored_reaction_decodes_to_itself_under_the_streams_seq() {
        let of = Message { seq: 5, ..message(Metadata::default()) };
        let reaction = Reaction {
            emoji: chat_shared::domain::Emoji::parse("👩‍👩‍👧").unwrap(),
            added: true,
            version: 3,
            user: UserId::generate(),
            room_id: of.room_id,
            message_id: of.id,
            message_seq: of.seq,
            seq: 0,
        };
        let decoded = decode_stored(&encode_reaction(&reaction), 11).unwrap();
        assert_eq!(decoded, Entry::Reaction(reaction.clone().at_seq(11)));
        let nul = Reaction { emoji: serde_json::from_str("\"a\\u0000\"").unwrap(), ..reaction };
        assert!(decode_stored(&encode_reaction(&nul), 12).is_err(), "no node publishes a NUL");
    }

    #[test]
    fn a_message_stored_before_changes_existed_still_decodes() {
        // The fields of a message as nodes stored it before messages could change.
        #[derive(serde::Serialize)]
        struct Before<'a> {
            id: MessageId,
            room_id: RoomId,
            seq: u64,
            sender_id: UserId,
            content: &'a str,
            kind: &'a str,
            metadata: Option<()>,
            client_msg_id: Option<&'a str>,
            created_at: &'a str,
        }
        let (id, room_id, sender_id) = (MessageId::generate(), RoomId::generate(), UserId::generate());
        let before = Before {
            id,
            room_id,
            seq: 0,
            sender_id,
            content: "old",
            kind: "text",
            metadata: None,
            client_msg_id: Some("c-1"),
            created_at: "2026-01-02T03:04:05.678Z",
        };
        let Entry::Message(message) = decode_stored(&rmp_serde::to_vec_named(&before).unwrap(), 3).unwrap()
        else {
            panic!("a message");
        };
        assert_eq!((message.id, message.seq, message.content.as_str()), (id, 3, "old"));
        assert!(!message.deleted && message.edited_at.is_none() && message.changed_seq == 0);
    }

    #[test]
    fn the_deepest_metadata_a_client_can_send_is_read_back_from_the_stream() {
        let room = RoomId::generate();
        let deepest = (1..200)
            .map_while(|depth| {
                let frame = json!({"type": "send", "room": room.to_string(), "content": "hi", "metadata": {"k": nested_arrays(depth)}});
                match decode_client_frame(Codec::Json, frame.to_string().as_bytes()).ok()?.command {
                    Command::Send(send) => Some(send.metadata),
                    _ => None,
                }
            })
            .last()
            .expect("some nesting is accepted");
        let stored = message(deepest);
        assert_eq!(
            decode_stored(&encode_stored(&stored), 1).unwrap(),
            Entry::Message(Message { seq: 1, ..stored })
        );
    }

    #[test]
    fn a_message_nested_deeper_than_any_client_may_send_is_refused_within_a_runtime_threads_stack() {
        // Built without `Metadata::parse`, as only a foreign publisher could.
        let metadata: Metadata = serde_json::from_value(json!({"k": nested_arrays(1000)})).unwrap();
        let payload = encode_stored(&message(metadata));
        let decoded = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || decode_stored(&payload, 1).is_ok())
            .unwrap()
            .join()
            .unwrap();
        assert!(!decoded);
    }

    #[test]
    fn a_message_with_a_nul_character_anywhere_is_refused() {
        // Built without the domain's `parse`, as only a foreign publisher could.
        let foreign = |edit: &dyn Fn(&mut Value)| {
            let mut value = serde_json::to_value(message(Metadata::default())).unwrap();
            edit(&mut value);
            let message: Message = serde_json::from_value(value).unwrap();
            decode_stored(&encode_stored(&message), 1)
        };
        assert!(foreign(&|_| {}).is_ok());
        let err = foreign(&|m| m["content"] = json!("a\0b")).unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
        assert!(foreign(&|m| m["kind"] = json!("te\0xt")).is_err());
        assert!(foreign(&|m| m["client_msg_id"] = json!("id\0")).is_err());
        assert!(foreign(&|m| m["metadata"] = json!({"k": ["ok", {"deep": "x\0"}]})).is_err());
        assert!(foreign(&|m| m["metadata"] = json!({"k\0": 1})).is_err());
        let mut change = change_of(&message(Metadata::default()));
        change.client_change_id = serde_json::from_value(json!("c\0")).unwrap();
        assert!(decode_stored(&encode_change(&change), 1).is_err());
    }
}
