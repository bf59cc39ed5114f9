use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chars::char_len;
use super::ids::{MessageId, RoomId, Seq, UserId};
use super::invalid::Invalid;
use super::reaction::ReactionCount;

/// A message body: 1–4000 characters, not only white space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Content(String);

impl Content {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Err(Invalid::Empty);
        }
        if raw.contains('\0') {
            return Err(Invalid::Nul);
        }
        if char_len(raw) > Self::MAX_CHARS {
            return Err(Invalid::TooLong(Self::MAX_CHARS));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The content of a deleted message: nothing.
    pub fn redacted() -> Self {
        Self(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a message is (`text` by default): 1–32 of `a-z 0-9 _ . -`, so clients can add kinds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct MessageKind(String);

impl MessageKind {
    pub fn text() -> Self {
        Self("text".into())
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let valid_chars =
            raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
        if !(1..=32).contains(&raw.len()) || !valid_chars {
            return Err(Invalid::KindCharacters);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for MessageKind {
    fn default() -> Self {
        Self::text()
    }
}

/// Free-form data a client attaches to a message: a JSON object of at most 4 KiB, or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Metadata(Option<serde_json::Map<String, serde_json::Value>>);

impl Metadata {
    pub const MAX_BYTES: usize = 4096;

    pub fn parse(raw: Option<serde_json::Value>) -> Result<Self, Invalid> {
        match raw {
            None | Some(serde_json::Value::Null) => Ok(Self(None)),
            Some(serde_json::Value::Object(map)) => {
                if map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)) {
                    return Err(Invalid::Nul);
                }
                let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(usize::MAX);
                if size > Self::MAX_BYTES {
                    return Err(Invalid::TooLarge(Self::MAX_BYTES));
                }
                Ok(Self(Some(map)))
            }
            Some(_) => Err(Invalid::NotAnObject),
        }
    }

    pub fn as_object(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.0.as_ref()
    }
}

/// Whether a JSON value holds a NUL character anywhere, which JSON allows and PostgreSQL's
/// text and jsonb do not: such a message could be acknowledged and then never stored.
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// The sender's own id for a message, which makes a retried send safe: 1–64 characters, no
/// control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if !(1..=64).contains(&char_len(raw)) || raw.chars().any(char::is_control) {
            return Err(Invalid::ClientMsgId);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reply's parent: the reference that is stored, and the quote that is filled when read
/// (see `reply.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplyTo {
    pub id: MessageId,
    pub seq: Seq,
    pub sender_id: UserId,
    /// The start of the parent's current content, `""` once it is deleted; `None` until the
    /// quote is filled. Never read from a stored form, so no stored payload can bring text
    /// back.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_deserializing, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// A message as stored and delivered. Its fields deserialize as they are, without the checks
/// of their `parse`: what a node stored must read back even if a rule has tightened since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: Seq,
    pub sender_id: UserId,
    pub content: Content,
    pub kind: MessageKind,
    pub metadata: Metadata,
    pub client_msg_id: Option<ClientMsgId>,
    #[serde(with = "super::timestamp")]
    pub created_at: DateTime<Utc>,
    /// When its content was last edited; absent while it never was.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "super::timestamp::optional")]
    pub edited_at: Option<DateTime<Utc>>,
    /// A deleted message is a tombstone: it keeps its place, ids, author and kind, and its
    /// content is empty and its metadata gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "super::timestamp::optional")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// The seq of the latest change (edit or deletion) this state includes; 0 while none. A
    /// change with a lower seq is older than this state.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub changed_seq: Seq,
    /// Reactions as one reader sees them, added when the message is read; never stored with
    /// the message (the log and the store keep reactions apart), so never read from a stored
    /// payload either.
    #[serde(default, skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionCount>,
    /// The seq of the latest reaction entry `reactions` counts; 0 while none.
    #[serde(default, skip_deserializing, skip_serializing_if = "is_zero")]
    pub reactions_seq: Seq,
    /// The message this one replies to; absent when it replies to none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Box<ReplyTo>>,
    /// How many replies it has, counted when it is read; never stored.
    #[serde(default, skip_deserializing, skip_serializing_if = "is_zero")]
    pub reply_count: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl Message {
    /// The message as `edit` leaves it: new content and, when given, new metadata.
    pub fn edited(&self, content: Content, metadata: Option<Metadata>, at: DateTime<Utc>) -> Message {
        Message {
            content,
            metadata: metadata.unwrap_or_else(|| self.metadata.clone()),
            edited_at: Some(at),
            // A change is stored with its message: what one reader saw of reactions stays out.
            reactions: Vec::new(),
            reactions_seq: 0,
            ..self.clone()
        }
    }

    /// The message's tombstone: no content, no metadata, no edit time; who deleted it and when.
    pub fn tombstone(&self, by: UserId, at: DateTime<Utc>) -> Message {
        Message {
            content: Content::redacted(),
            metadata: Metadata::default(),
            edited_at: None,
            deleted: true,
            deleted_by: Some(by),
            deleted_at: Some(at),
            reactions: Vec::new(),
            reactions_seq: 0,
            ..self.clone()
        }
    }

    /// Whether any text of the message holds a NUL character: every `parse` refuses one, so
    /// only a message that did not come through a node has it, and PostgreSQL could never
    /// store it.
    pub fn contains_nul(&self) -> bool {
        self.content.0.contains('\0')
            || self.kind.0.contains('\0')
            || self.client_msg_id.as_ref().is_some_and(|id| id.0.contains('\0'))
            || self
                .metadata
                .0
                .as_ref()
                .is_some_and(|map| map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_must_be_one_to_four_thousand_characters() {
        assert!(Content::parse("").is_err());
        assert!(Content::parse("  \n ").is_err());
        assert!(Content::parse("hi").is_ok());
        assert!(Content::parse(&"字".repeat(4000)).is_ok());
        assert!(Content::parse(&"x".repeat(4001)).is_err());
        assert!(Content::parse("nul\0inside").is_err());
    }

    #[test]
    fn kinds_are_short_lowercase_tokens() {
        assert!(MessageKind::parse("image").is_ok());
        assert!(MessageKind::parse("Image").is_err());
        assert!(MessageKind::parse("").is_err());
        assert!(MessageKind::parse(&"k".repeat(33)).is_err());
    }

    #[test]
    fn metadata_is_an_object_or_null_of_at_most_four_kibibytes() {
        assert!(Metadata::parse(None).unwrap().as_object().is_none());
        assert!(Metadata::parse(Some(json!(null))).is_ok());
        assert!(Metadata::parse(Some(json!({"a": 1}))).is_ok());
        assert!(Metadata::parse(Some(json!([1, 2]))).is_err());
        assert!(Metadata::parse(Some(json!("text"))).is_err());
        assert!(Metadata::parse(Some(json!({"a": "x".repeat(4100)}))).is_err());
        assert!(Metadata::parse(Some(json!({"a": ["ok", {"b": "nul\u{0}"}]}))).is_err());
        assert!(Metadata::parse(Some(json!({"nul\u{0}key": 1}))).is_err());
    }

    #[test]
    fn client_message_ids_are_bounded() {
        assert!(ClientMsgId::parse("c-1").is_ok());
        assert!(ClientMsgId::parse("").is_err());
        assert!(ClientMsgId::parse(&"c".repeat(65)).is_err());
    }
}
