//! Changing a sent message: edits by its author, deletions by its author or a room's owner or
//! admins. Each is a change appended to the room's log like a message, acknowledged once
//! durable; reads fold changes into the messages they change.

use crate::domain::{
    Change, ChangeKind, ClientMsgId, Content, Entry, Message, MessageId, Metadata, Role, RoomId, UserId,
    apply_change,
};
use crate::error::Error;
use crate::ports::{Appended, MessageRef};

use super::messages::MessageService;

/// An edit as its author asked for it, validated.
#[derive(Debug, Clone)]
pub struct MessageEdit {
    pub content: Content,
    /// New metadata; `None` keeps the message's.
    pub metadata: Option<Metadata>,
    pub client_change_id: Option<ClientMsgId>,
}

/// An edit's or deletion's result: the message as it now stands.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The message after the change.
    pub message: Message,
    /// The stored change; `None` when nothing was stored: a repeated `client_change_id`, or a
    /// deletion of a message deleted already.
    pub change: Option<Change>,
}

impl MessageService {
    /// The room's message named by `target` in its current state: the store's, with the
    /// changes the log holds above what the store has folded in.
    pub async fn current(&self, room: RoomId, target: MessageRef) -> Result<Option<Message>, Error> {
        Ok(self.current_with_tail(room, target).await?.0)
    }

    /// [`current`](Self::current), and the log's entries of the room it read above what the
    /// store surely holds.
    pub(super) async fn current_with_tail(
        &self,
        room: RoomId,
        target: MessageRef,
    ) -> Result<(Option<Message>, Vec<Entry>), Error> {
        let persisted = self.log.persisted_through().await?;
        let stored = self.store.find(room, target).await?;
        let tail = self.log.read_after(room, persisted, self.max_replay).await?;
        let named = |m: &Message| match target {
            MessageRef::Id(id) => m.id == id,
            MessageRef::Seq(seq) => m.seq == seq,
        };
        let found = stored.or_else(|| {
            tail.iter().find_map(|entry| match entry {
                Entry::Message(m) if named(m) => Some(m.clone()),
                Entry::Change(c) if named(&c.message) => Some(c.message.clone()),
                _ => None,
            })
        });
        let Some(mut message) = found else { return Ok((None, tail)) };
        for entry in &tail {
            if let Entry::Change(change) = entry
                && change.message.seq == message.seq
            {
                apply_change(&mut message, change);
            }
        }
        Ok((Some(message), tail))
    }

    /// Replaces the content (and, when given, the metadata) of the author's own message.
    pub async fn edit(
        &self,
        author: UserId,
        room: RoomId,
        target: MessageRef,
        edit: MessageEdit,
    ) -> Result<Changed, Error> {
        self.rooms.check_sender(author, room).await?;
        let current =
            self.current(room, target).await?.filter(|m| !m.deleted).ok_or(Error::NotFound("message"))?;
        if current.sender_id != author {
            return Err(Error::Forbidden("only its author may edit a message"));
        }
        let edited = current.edited(edit.content, edit.metadata, self.clock.now());
        let change = Change {
            kind: ChangeKind::Edited,
            seq: 0,
            actor: author,
            client_change_id: edit.client_change_id,
            message: edited,
        };
        let changed = self.store_change(change).await?;
        self.with_quote(changed).await
    }

    /// Deletes a message: its author may, and so may the room's owner and admins. Deleting a
    /// deleted message changes nothing and answers its tombstone.
    pub async fn delete(
        &self,
        actor: UserId,
        room: RoomId,
        target: MessageRef,
        client_change_id: Option<ClientMsgId>,
    ) -> Result<Changed, Error> {
        let (_, participant) = self.rooms.membership(actor, room).await?;
        let current = self.current(room, target).await?.ok_or(Error::NotFound("message"))?;
        let moderator = matches!(participant.role, Role::Owner | Role::Admin);
        if current.sender_id != actor && !moderator {
            return Err(Error::Forbidden("only its author or a room owner or admin may delete a message"));
        }
        if current.deleted {
            return self.with_quote(Changed { message: current, change: None }).await;
        }
        let tombstone = current.tombstone(actor, self.clock.now());
        let change =
            Change { kind: ChangeKind::Deleted, seq: 0, actor, client_change_id, message: tombstone };
        let changed = self.store_change(change).await?;
        self.with_quote(changed).await
    }

    /// Appends a change; a repeated `client_change_id` answers the message as it stands. A
    /// deletion without one is keyed by its message, so deletions of one message racing each
    /// other (an author and a moderator, two pages of a bulk deletion) store one, and the
    /// others answer the tombstone.
    pub(super) async fn store_change(&self, change: Change) -> Result<Changed, Error> {
        let room = change.message.room_id;
        let mut buf = [0; 36];
        let dedup_key = match (&change.client_change_id, change.kind) {
            (Some(client_id), _) => {
                let mut actor_buf = [0; 36];
                [
                    room.encode(&mut buf),
                    ":change:",
                    change.actor.encode(&mut actor_buf),
                    ":",
                    client_id.as_str(),
                ]
                .concat()
            }
            // Not `{room}:...`, the shape of a message's key, whose client id could imitate it.
            (None, ChangeKind::Deleted) => {
                format!("deleted:{}:{}", room.encode(&mut buf), change.message.seq)
            }
            (None, ChangeKind::Edited) => MessageId::generate().encode(&mut buf).to_owned(),
        };
        match self.log.append_change(&change, &dedup_key).await? {
            Appended::New(seq) => {
                let change = change.at_seq(seq);
                Ok(Changed { message: change.message.clone(), change: Some(change) })
            }
            Appended::Duplicate(_) => {
                let message = self
                    .current(room, MessageRef::Seq(change.message.seq))
                    .await?
                    .ok_or(Error::Internal("a changed message is gone".into()))?;
                Ok(Changed { message, change: None })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageKind, Seq};
    use crate::ports::{MessageLog, PageQuery};
    use crate::usecases::NewMessage;
    use crate::usecases::testkit::Kit;

    async fn send(kit: &Kit, sender: UserId, room: RoomId, content: &str) -> Message {
        let request = NewMessage {
            room,
            content: Content::parse(content).unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::parse(Some(serde_json::json!({"draft": content}))).unwrap(),
            client_msg_id: None,
            first_attempt: false,
            reply_to: None,
        };
        kit.messages.send(sender, request).await.unwrap().message
    }

    fn edit(content: &str, client_change_id: Option<&str>) -> MessageEdit {
        MessageEdit {
            content: Content::parse(content).unwrap(),
            metadata: None,
            client_change_id: client_change_id.map(|id| ClientMsgId::parse(id).unwrap()),
        }
    }

    async fn newest(kit: &Kit, reader: UserId, room: RoomId) -> Vec<Message> {
        let query = PageQuery { before: None, after: None, limit: 50 };
        kit.messages.history(reader, room, query).await.unwrap().messages
    }

    fn contents(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.content.as_str()).collect()
    }

    #[tokio::test]
    async fn an_edit_shows_in_history_before_and_after_it_is_persisted() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let first = send(&kit, ann, room, "frist").await;
        let edited =
            kit.messages.edit(ann, room, MessageRef::Id(first.id), edit("first", None)).await.unwrap();
        let change = edited.change.expect("a stored change");
        assert!(change.seq > first.seq);
        assert_eq!((edited.message.content.as_str(), edited.message.changed_seq), ("first", change.seq));
        assert_eq!(edited.message.metadata, first.metadata, "metadata kept when none is given");
        assert!(edited.message.edited_at.is_some());
        assert_eq!(newest(&kit, ann, room).await, std::slice::from_ref(&edited.message));
        kit.persist_all().await;
        assert_eq!(newest(&kit, ann, room).await, [edited.message]);
    }

    #[tokio::test]
    async fn an_older_page_shows_a_change_the_store_does_not_have_yet() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let mut sent = Vec::new();
        for n in 0..5 {
            sent.push(send(&kit, ann, room, &format!("m{n}")).await);
        }
        kit.persist_all().await;
        kit.messages.edit(ann, room, MessageRef::Seq(sent[1].seq), edit("m1 edited", None)).await.unwrap();
        let query = PageQuery { before: Some(sent[3].seq), after: None, limit: 2 };
        let page = kit.messages.history(ann, room, query).await.unwrap();
        assert_eq!(contents(&page.messages), ["m1 edited", "m2"]);
    }

    #[tokio::test]
    async fn only_the_author_edits_and_owners_and_admins_delete_anyones() {
        let kit = Kit::new();
        let (ann, bob, eve) = (kit.user("ann").await, kit.user("bob").await, kit.user("eve").await);
        let room = kit.group(ann, vec![bob]).await;
        let other_room = kit.group(ann, vec![]).await;
        let by_ann = send(&kit, ann, room, "ann's").await;
        let by_bob = send(&kit, bob, room, "bob's").await;
        let of = |m: &Message| MessageRef::Id(m.id);

        let not_author = kit.messages.edit(bob, room, of(&by_ann), edit("mine now", None)).await;
        assert!(matches!(not_author, Err(Error::Forbidden(_))), "{not_author:?}");
        let owner_edit = kit.messages.edit(ann, room, of(&by_bob), edit("owner's words", None)).await;
        assert!(matches!(owner_edit, Err(Error::Forbidden(_))), "{owner_edit:?}");
        let member_delete = kit.messages.delete(bob, room, of(&by_ann), None).await;
        assert!(matches!(member_delete, Err(Error::Forbidden(_))), "{member_delete:?}");
        let outsider = kit.messages.delete(eve, room, of(&by_bob), None).await;
        assert!(matches!(outsider, Err(Error::Forbidden(_))), "{outsider:?}");
        let elsewhere = kit.messages.delete(ann, other_room, of(&by_ann), None).await;
        assert!(matches!(elsewhere, Err(Error::NotFound("message"))), "{elsewhere:?}");
        let unknown = kit.messages.edit(ann, room, MessageRef::Seq(by_bob.seq + 100), edit("x", None)).await;
        assert!(matches!(unknown, Err(Error::NotFound("message"))), "{unknown:?}");
        assert_eq!(contents(&newest(&kit, ann, room).await), ["ann's", "bob's"], "nothing changed");

        let moderated = kit.messages.delete(ann, room, of(&by_bob), None).await.unwrap();
        assert!(moderated.message.deleted);
        assert_eq!(moderated.message.deleted_by, Some(ann));
        let own = kit.messages.delete(ann, room, of(&by_ann), None).await.unwrap();
        assert_eq!(own.message.deleted_by, Some(ann));
    }

    #[tokio::test]
    async fn a_deleted_message_is_a_tombstone_that_cannot_be_edited_and_its_text_leaves_the_log() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let secret = send(&kit, ann, room, "secret").await;
        let edited =
            kit.messages.edit(ann, room, MessageRef::Id(secret.id), edit("secret 2", None)).await.unwrap();
        let deleted = kit.messages.delete(ann, room, MessageRef::Id(secret.id), None).await.unwrap();
        let tombstone = deleted.message.clone();
        assert!(
            tombstone.deleted
                && tombstone.content.as_str().is_empty()
                && tombstone.metadata.as_object().is_none()
        );
        assert_eq!((tombstone.id, tombstone.seq, tombstone.sender_id), (secret.id, secret.seq, ann));

        let late_edit = kit.messages.edit(ann, room, MessageRef::Id(secret.id), edit("again", None)).await;
        assert!(matches!(late_edit, Err(Error::NotFound("message"))), "{late_edit:?}");
        let again = kit.messages.delete(ann, room, MessageRef::Id(secret.id), None).await.unwrap();
        assert!(again.change.is_none(), "deleting twice stores nothing");
        assert_eq!(again.message, tombstone);
        assert_eq!(newest(&kit, ann, room).await, std::slice::from_ref(&tombstone));

        kit.persist_all().await;
        assert_eq!(newest(&kit, ann, room).await, std::slice::from_ref(&tombstone));
        let edit_seq = edited.change.unwrap().seq;
        assert_eq!(kit.log.get(secret.seq).await.unwrap(), None);
        assert_eq!(kit.log.get(edit_seq).await.unwrap(), None);
        let deletion_seq = deleted.change.unwrap().seq;
        assert!(matches!(kit.log.get(deletion_seq).await.unwrap(), Some(Entry::Change(_))));
        let text_left = kit.log.all().iter().any(|entry| format!("{entry:?}").contains("secret"));
        assert!(!text_left, "the log keeps no text of the deleted message");
    }

    #[tokio::test]
    async fn a_retried_change_with_the_same_client_change_id_applies_once() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let first = send(&kit, ann, room, "first").await;
        let target = MessageRef::Seq(first.seq);
        let once = kit.messages.edit(ann, room, target, edit("edited", Some("e-1"))).await.unwrap();
        let twice = kit.messages.edit(ann, room, target, edit("edited", Some("e-1"))).await.unwrap();
        assert!(once.change.is_some() && twice.change.is_none());
        assert_eq!(twice.message, once.message);
        let entries = kit.log.read_after(room, 0, 10).await.unwrap();
        assert_eq!(entries.len(), 2, "the message and one change");
    }

    #[tokio::test]
    async fn a_resume_returns_the_missed_changes_in_order_beside_the_missed_messages() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let (m0, m1) = (send(&kit, ann, room, "m0").await, send(&kit, ann, room, "m1").await);
        let since = m1.seq;
        let edit0 =
            kit.messages.edit(ann, room, MessageRef::Seq(m0.seq), edit("m0 edited", None)).await.unwrap();
        let m2 = send(&kit, ann, room, "m2").await;
        let delete1 = kit.messages.delete(ann, room, MessageRef::Seq(m1.seq), None).await.unwrap();
        let expected: Vec<Seq> = vec![edit0.change.unwrap().seq, delete1.change.unwrap().seq];
        for persisted in [false, true] {
            if persisted {
                kit.persist_all().await;
            }
            let replay = kit.messages.replay(ann, room, since).await.unwrap();
            assert_eq!(replay.messages, std::slice::from_ref(&m2), "persisted: {persisted}");
            assert_eq!(replay.changes.iter().map(Entry::seq).collect::<Vec<_>>(), expected);
            let [Entry::Change(edit), Entry::Change(deletion)] = &replay.changes[..] else {
                panic!("two changes: {:?}", replay.changes)
            };
            assert_eq!(edit.message.content.as_str(), "m0 edited");
            assert!(deletion.message.deleted);
            assert!(replay.recovered);
        }
    }

    #[tokio::test]
    async fn a_resume_from_before_what_the_log_still_holds_is_not_recovered() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let (m0, m1) = (send(&kit, ann, room, "m0").await, send(&kit, ann, room, "m1").await);
        let edited =
            kit.messages.edit(ann, room, MessageRef::Seq(m0.seq), edit("m0 edited", None)).await.unwrap();
        let edit_seq = edited.change.unwrap().seq;
        let m2 = send(&kit, ann, room, "m2").await;
        kit.persist_all().await;
        kit.log.expire_before(m2.seq);
        let replay = kit.messages.replay(ann, room, m0.seq).await.unwrap();
        assert!(replay.changes.is_empty(), "the edit of m0 is gone with the log's oldest entries");
        assert_eq!(replay.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [m1.seq, m2.seq]);
        assert!(!replay.recovered, "so the client must page history instead");
        let recent = kit.messages.replay(ann, room, edit_seq).await.unwrap();
        assert!(recent.recovered);
        assert_eq!(recent.messages, std::slice::from_ref(&m2));
    }
}
