//! Replies: a message may answer another message of its room. It stores only a reference to
//! its parent, never the parent's text, so a deleted parent is redacted everywhere by erasing
//! its own entries; the quote clients see is filled from the parent's current state whenever
//! the reply is read or delivered.

use std::borrow::Cow;

use super::change::Change;
use super::message::{Message, ReplyTo};

impl ReplyTo {
    /// How much of the parent's content a quote shows, in characters.
    pub const QUOTE_CHARS: usize = 100;

    /// The reference to `parent`, without a quote: what a reply stores. Boxed, as a message
    /// holds it: most messages reply to nothing, and every message is cloned and moved often.
    pub fn to(parent: &Message) -> Box<Self> {
        Box::new(ReplyTo {
            id: parent.id,
            seq: parent.seq,
            sender_id: parent.sender_id,
            content: None,
            deleted: false,
        })
    }

    /// Fills the quote from the parent's current state.
    pub fn quote(&mut self, parent: &Message) {
        let content = parent.content.as_str();
        let end = content.char_indices().nth(Self::QUOTE_CHARS).map_or(content.len(), |(at, _)| at);
        self.content = Some(content[..end].to_owned());
        self.deleted = parent.deleted;
    }

    fn is_quoted(&self) -> bool {
        self.content.is_some() || self.deleted
    }
}

impl Message {
    /// The message as logs and stores keep it: without what is resolved when it is read (the
    /// quote of its parent, its reply count, its reactions as one reader sees them). Borrowed
    /// when there is nothing to drop.
    pub fn stored_form(&self) -> Cow<'_, Message> {
        let read_only = self.reply_count != 0 || !self.reactions.is_empty() || self.reactions_seq != 0;
        if !read_only && !self.reply_to.as_ref().is_some_and(|r| r.is_quoted()) {
            return Cow::Borrowed(self);
        }
        let mut stored = self.clone();
        stored.reply_count = 0;
        stored.reactions = Vec::new();
        stored.reactions_seq = 0;
        if let Some(reply_to) = &mut stored.reply_to {
            reply_to.content = None;
            reply_to.deleted = false;
        }
        Cow::Owned(stored)
    }
}

impl Change {
    /// The change as logs keep it: its message in [`Message::stored_form`].
    pub fn stored_form(&self) -> Cow<'_, Change> {
        match self.message.stored_form() {
            Cow::Borrowed(_) => Cow::Borrowed(self),
            Cow::Owned(message) => Cow::Owned(Change { message, ..self.clone() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Content, MessageId, MessageKind, Metadata, RoomId, UserId};

    fn parent(content: &str) -> Message {
        Message {
            id: MessageId::generate(),
            room_id: RoomId::generate(),
            seq: 4,
            sender_id: UserId::generate(),
            content: Content::parse(content).unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::default(),
            client_msg_id: None,
            created_at: chrono::Utc::now(),
            edited_at: None,
            deleted: false,
            deleted_by: None,
            deleted_at: None,
            changed_seq: 0,
            reply_to: None,
            reply_count: 0,
            reactions: Vec::new(),
            reactions_seq: 0,
        }
    }

    #[test]
    fn a_quote_is_the_first_hundred_characters_not_bytes() {
        let long = "é".repeat(150);
        let mut reply_to = ReplyTo::to(&parent(&long));
        reply_to.quote(&parent(&long));
        assert_eq!(reply_to.content.as_deref(), Some("é".repeat(100).as_str()));
        let mut short = ReplyTo::to(&parent("hi"));
        short.quote(&parent("hi"));
        assert_eq!(short.content.as_deref(), Some("hi"));
    }

    #[test]
    fn a_deleted_parent_is_quoted_as_nothing() {
        let original = parent("secret");
        let mut reply_to = ReplyTo::to(&original);
        reply_to.quote(&original.tombstone(original.sender_id, chrono::Utc::now()));
        assert_eq!((reply_to.content.as_deref(), reply_to.deleted), (Some(""), true));
    }

    #[test]
    fn the_stored_form_keeps_the_reference_and_no_quote_nor_count() {
        let original = parent("secret");
        let mut reply = Message { reply_to: Some(ReplyTo::to(&original)), reply_count: 3, ..parent("re") };
        reply.reply_to.as_mut().unwrap().quote(&original);
        let stored = reply.stored_form();
        assert_eq!(stored.reply_to, Some(ReplyTo::to(&original)));
        assert_eq!(stored.reply_count, 0);
        let json = serde_json::to_string(&*stored).unwrap();
        assert!(!json.contains("secret"), "{json}");
        // A quote smuggled into a stored payload does not come back.
        let read: Message = serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap();
        assert_eq!(read.reply_to, Some(ReplyTo::to(&original)));
        assert_eq!(read.reply_count, 0);
    }
}
