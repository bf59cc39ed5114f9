//! What happens to a message after it is sent: changes stored in the room's log beside its
//! messages (and reactions), each under its own seq, in the same order.

use serde::{Deserialize, Serialize};

use super::ids::Seq;
use super::ids::{RoomId, UserId};
use super::message::{ClientMsgId, Message};
use super::reaction::Reaction;

/// What a change did to its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Edited,
    Deleted,
}

/// A change to a message. It carries the whole message as the change leaves it, so applying
/// changes is keeping, for each message, the state with the highest `changed_seq` (a deletion
/// is final): the same result whatever order, and however often, they are applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// The change's own seq in the room's log; `message.changed_seq` is the same.
    #[serde(skip)]
    pub seq: Seq,
    /// Who made it: the author for an edit, the author or a room owner or admin for a deletion.
    pub actor: UserId,
    /// The actor's own id for the change, which makes a retry safe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_change_id: Option<ClientMsgId>,
    pub message: Message,
}

impl Change {
    /// The change stored under `seq`: the seq goes into its message's state too.
    pub fn at_seq(mut self, seq: Seq) -> Change {
        self.seq = seq;
        self.message.changed_seq = seq;
        self
    }
}

/// What a room's log holds under one seq.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Message(Message),
    Change(Change),
    Reaction(Reaction),
}

impl Entry {
    pub fn seq(&self) -> Seq {
        match self {
            Entry::Message(message) => message.seq,
            Entry::Change(change) => change.seq,
            Entry::Reaction(reaction) => reaction.seq,
        }
    }

    pub fn room_id(&self) -> RoomId {
        match self {
            Entry::Message(message) => message.room_id,
            Entry::Change(change) => change.message.room_id,
            Entry::Reaction(reaction) => reaction.room_id,
        }
    }

    /// Whether any text of it holds a NUL character, which no node stores.
    pub fn contains_nul(&self) -> bool {
        match self {
            Entry::Message(message) => message.contains_nul(),
            Entry::Change(change) => {
                change.message.contains_nul()
                    || change.client_change_id.as_ref().is_some_and(|id| id.as_str().contains('\0'))
            }
            Entry::Reaction(reaction) => reaction.emoji.as_str().contains('\0'),
        }
    }
}

/// Folds a change into the state of its message held so far: the newer of the two, a
/// tombstone over anything. Returns whether `held` changed.
pub fn apply_change(held: &mut Message, change: &Change) -> bool {
    let newer = change.seq > held.changed_seq;
    if held.deleted || !(newer || change.kind == ChangeKind::Deleted) {
        return false;
    }
    *held = change.message.clone();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Content, MessageId, MessageKind, Metadata};
    use chrono::Utc;

    fn message() -> Message {
        Message {
            id: MessageId::generate(),
            room_id: RoomId::generate(),
            seq: 3,
            sender_id: UserId::generate(),
            content: Content::parse("first").unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::default(),
            client_msg_id: None,
            created_at: Utc::now(),
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

    fn edit(of: &Message, text: &str, seq: Seq) -> Change {
        let edited = of.edited(Content::parse(text).unwrap(), None, Utc::now());
        Change {
            kind: ChangeKind::Edited,
            seq: 0,
            actor: of.sender_id,
            client_change_id: None,
            message: edited,
        }
        .at_seq(seq)
    }

    fn deletion(of: &Message, seq: Seq) -> Change {
        let tombstone = of.tombstone(of.sender_id, Utc::now());
        Change {
            kind: ChangeKind::Deleted,
            seq: 0,
            actor: of.sender_id,
            client_change_id: None,
            message: tombstone,
        }
        .at_seq(seq)
    }

    #[test]
    fn changes_applied_in_any_order_and_more_than_once_leave_the_newest_state() {
        let original = message();
        let (second, third) = (edit(&original, "second", 7), edit(&original, "third", 9));
        for order in [[&second, &third, &second], [&third, &second, &third]] {
            let mut held = original.clone();
            for change in order {
                apply_change(&mut held, change);
            }
            assert_eq!(held.content.as_str(), "third");
            assert_eq!(held.changed_seq, 9);
            assert!(held.edited_at.is_some());
        }
    }

    #[test]
    fn a_deletion_is_final_even_over_a_newer_edit() {
        let original = message();
        let (deleted, late_edit) = (deletion(&original, 8), edit(&original, "later", 9));
        for order in [[&deleted, &late_edit], [&late_edit, &deleted]] {
            let mut held = original.clone();
            for change in order {
                apply_change(&mut held, change);
            }
            assert!(held.deleted);
            assert_eq!(held.content.as_str(), "");
            assert_eq!(held.metadata, Metadata::default());
            assert_eq!(held.deleted_by, Some(original.sender_id));
            assert_eq!(held.edited_at, None);
        }
    }
}
