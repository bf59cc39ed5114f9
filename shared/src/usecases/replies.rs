//! Replies and threads: checking a send's `reply_to`, a message's thread, and what every read
//! adds to the messages it returns (each reply's quote of its parent as the parent stands now,
//! each parent's reply count), resolved for a whole page in a bounded number of queries.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::domain::{Entry, Message, MessageId, ReplyTo, RoomId, Seq, UserId, apply_change};
use crate::error::Error;
use crate::ports::MessageRef;

use super::message_changes::Changed;
use super::messages::{MAX_PAGE, MessageService, Page};

/// What the log holds above the store: the room's entries the persisters may not have written.
struct Tail {
    persisted: Seq,
    entries: Vec<Entry>,
}

impl MessageService {
    /// The reference a send's `reply_to` makes: to a message of the room that is not deleted.
    pub(super) async fn reply_target(&self, room: RoomId, parent: MessageId) -> Result<Box<ReplyTo>, Error> {
        match self.current(room, MessageRef::Id(parent)).await? {
            Some(parent) if !parent.deleted => Ok(ReplyTo::to(&parent)),
            _ => Err(Error::invalid(
                "reply_to",
                "must be the id of a message of this room that is not deleted",
            )),
        }
    }

    /// A page of the direct replies to the room's message `target`, ascending, from right above
    /// `after`, for anyone who may read the room. A deleted message still has its thread.
    pub async fn thread(
        &self,
        reader: UserId,
        room: RoomId,
        target: MessageRef,
        after: Seq,
        limit: usize,
    ) -> Result<Page, Error> {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_PAGE}")));
        }
        self.rooms.get(reader, room).await?;
        let parent = self.current(room, target).await?.ok_or(Error::NotFound("message"))?;
        let tail = self.tail(room).await?;
        let stored = self.store.replies(room, parent.seq, after, limit + 1).await?;
        // Replies the store lacks lie above what it holds for sure; those it has may be older
        // than the log's changes to them.
        let mut merged: BTreeMap<Seq, Message> = stored.into_iter().map(|m| (m.seq, m)).collect();
        for reply in tail.replies() {
            if reply.seq > after && reply.reply_to.as_ref().is_some_and(|r| r.seq == parent.seq) {
                merged.entry(reply.seq).or_insert_with(|| reply.clone());
            }
        }
        fold_changes(merged.values_mut(), &tail.entries);
        let has_more = merged.len() > limit;
        let mut messages: Vec<Message> = merged.into_values().take(limit).collect();
        self.resolve_replies(room, messages.iter_mut(), &tail).await?;
        Ok(Page { messages, has_more })
    }

    /// Fills each message's quote of its parent and its reply count, as they stand now.
    pub(super) async fn with_replies<'a>(
        &self,
        room: RoomId,
        messages: impl IntoIterator<Item = &'a mut Message>,
    ) -> Result<(), Error> {
        let messages: Vec<&mut Message> = messages.into_iter().collect();
        if messages.is_empty() {
            return Ok(());
        }
        let tail = self.tail(room).await?;
        self.resolve_replies(room, messages, &tail).await
    }

    /// The quote of one reply's parent, for a message delivered live: the parent's id alone
    /// when it cannot be found (it always can, unless the room's data was tampered with).
    pub async fn quote_parent(&self, message: &mut Message) -> Result<(), Error> {
        let Some(reply_to) = &mut message.reply_to else { return Ok(()) };
        match self.current(message.room_id, MessageRef::Seq(reply_to.seq)).await? {
            Some(parent) => reply_to.quote(&parent),
            None => tracing::warn!(seq = reply_to.seq, "a reply's parent is missing"),
        }
        Ok(())
    }

    /// A change's answer, the message with its quote as it is read.
    pub(super) async fn with_quote(&self, mut changed: Changed) -> Result<Changed, Error> {
        self.quote_parent(&mut changed.message).await?;
        Ok(changed)
    }

    async fn tail(&self, room: RoomId) -> Result<Tail, Error> {
        let persisted = self.log.persisted_through().await?;
        let entries = self.log.read_after(room, persisted, self.max_replay).await?;
        Ok(Tail { persisted, entries })
    }

    /// Two store queries whatever the page's size: its replies' parents, and its messages'
    /// reply counts; the log's tail adds what the store does not hold yet.
    async fn resolve_replies<'a>(
        &self,
        room: RoomId,
        messages: impl IntoIterator<Item = &'a mut Message>,
        tail: &Tail,
    ) -> Result<(), Error> {
        let mut messages: Vec<&mut Message> = messages.into_iter().collect();
        let mut parent_seqs: Vec<Seq> =
            messages.iter().filter_map(|m| m.reply_to.as_ref().map(|r| r.seq)).collect();
        parent_seqs.sort_unstable();
        parent_seqs.dedup();
        if !parent_seqs.is_empty() {
            let parents = self.current_of(room, &parent_seqs, tail).await?;
            for reply_to in messages.iter_mut().filter_map(|m| m.reply_to.as_mut()) {
                match parents.get(&reply_to.seq) {
                    Some(parent) => reply_to.quote(parent),
                    None => tracing::warn!(seq = reply_to.seq, "a reply's parent is missing"),
                }
            }
        }
        let seqs: Vec<Seq> = messages.iter().map(|m| m.seq).collect();
        let mut counts: HashMap<Seq, u64> =
            self.store.reply_counts(room, &seqs, tail.persisted).await?.into_iter().collect();
        let wanted: HashSet<Seq> = seqs.into_iter().collect();
        let mut counted = HashSet::new();
        for reply in tail.replies() {
            if let Some(parent) = &reply.reply_to
                && wanted.contains(&parent.seq)
                && counted.insert(reply.seq)
            {
                *counts.entry(parent.seq).or_default() += 1;
            }
        }
        for message in messages {
            message.reply_count = counts.get(&message.seq).copied().unwrap_or(0);
        }
        Ok(())
    }

    /// The room's messages under `seqs` in their current state: the store's, with the log's
    /// changes above it folded in, and those only the log holds yet.
    async fn current_of(
        &self,
        room: RoomId,
        seqs: &[Seq],
        tail: &Tail,
    ) -> Result<HashMap<Seq, Message>, Error> {
        let mut found: HashMap<Seq, Message> =
            self.store.find_seqs(room, seqs).await?.into_iter().map(|m| (m.seq, m)).collect();
        let wanted: HashSet<Seq> = seqs.iter().copied().collect();
        for entry in &tail.entries {
            let candidate = match entry {
                Entry::Message(m) => m,
                Entry::Change(c) => &c.message,
                Entry::Reaction(_) => continue,
            };
            if wanted.contains(&candidate.seq) {
                found.entry(candidate.seq).or_insert_with(|| candidate.clone());
            }
        }
        fold_changes(found.values_mut(), &tail.entries);
        Ok(found)
    }
}

impl Tail {
    /// The replies above what the store holds for sure, as the log has them, possibly more than
    /// once: as sent, and in the changes made to them. A deleted reply may be found only in
    /// its deletion, its message's entry erased once the persister wrote it, before its
    /// progress shows that.
    fn replies(&self) -> impl Iterator<Item = &Message> {
        self.entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Message(m) => Some(m),
                Entry::Change(c) => Some(&c.message),
                Entry::Reaction(_) => None,
            })
            .filter(|m| m.seq > self.persisted && m.reply_to.is_some())
    }
}

/// Folds the log's changes into the messages they change.
fn fold_changes<'a>(messages: impl Iterator<Item = &'a mut Message>, entries: &[Entry]) {
    let mut by_seq: HashMap<Seq, &mut Message> = messages.map(|m| (m.seq, m)).collect();
    for entry in entries {
        if let Entry::Change(change) = entry
            && let Some(held) = by_seq.get_mut(&change.message.seq)
        {
            apply_change(held, change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Content, MessageKind, Metadata};
    use crate::ports::{MessageLog, MessageStore, PageQuery};
    use crate::usecases::testkit::Kit;
    use crate::usecases::{MessageEdit, NewMessage};

    fn text(room: RoomId, content: &str, reply_to: Option<&Message>) -> NewMessage {
        NewMessage {
            room,
            content: Content::parse(content).unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::default(),
            client_msg_id: None,
            first_attempt: false,
            reply_to: reply_to.map(|m| m.id),
        }
    }

    async fn send(
        kit: &Kit,
        sender: UserId,
        room: RoomId,
        content: &str,
        reply_to: Option<&Message>,
    ) -> Message {
        kit.messages.send(sender, text(room, content, reply_to)).await.unwrap().message
    }

    fn edit(content: &str) -> MessageEdit {
        MessageEdit { content: Content::parse(content).unwrap(), metadata: None, client_change_id: None }
    }

    async fn newest(kit: &Kit, reader: UserId, room: RoomId) -> Vec<Message> {
        let query = PageQuery { before: None, after: None, limit: 50 };
        kit.messages.history(reader, room, query).await.unwrap().messages
    }

    fn quote(message: &Message) -> (Option<&str>, bool) {
        let reply_to = message.reply_to.as_ref().expect("a reply");
        (reply_to.content.as_deref(), reply_to.deleted)
    }

    fn refused_field(result: Result<impl std::fmt::Debug, Error>, field: &str) {
        assert!(
            matches!(&result, Err(Error::InvalidInput(f)) if f.iter().any(|(k, _)| k == field)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_reply_quotes_its_parent_and_stores_only_the_reference() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let parent = send(&kit, ann, room, &"long ".repeat(40), None).await;
        let reply = send(&kit, ann, room, "agreed", Some(&parent)).await;

        let reply_to = reply.reply_to.as_ref().unwrap();
        assert_eq!((reply_to.id, reply_to.seq, reply_to.sender_id), (parent.id, parent.seq, ann));
        assert_eq!(reply_to.content.as_deref(), Some(&"long ".repeat(40)[..100]));
        let Some(Entry::Message(stored)) = kit.log.get(reply.seq).await.unwrap() else { panic!("no entry") };
        assert_eq!(stored.reply_to, Some(ReplyTo::to(&parent)));
    }

    #[tokio::test]
    async fn the_quote_follows_the_parents_edit_and_deletion_before_and_after_persisting() {
        for persist in [false, true] {
            let kit = Kit::new();
            let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
            let room = kit.group(ann, vec![bob]).await;
            let parent = send(&kit, ann, room, "first", None).await;
            send(&kit, bob, room, "re", Some(&parent)).await;
            kit.messages.edit(ann, room, MessageRef::Id(parent.id), edit("second")).await.unwrap();
            if persist {
                kit.persist_all().await;
            }
            let page = newest(&kit, bob, room).await;
            assert_eq!(quote(&page[1]), (Some("second"), false));
            let thread = kit.messages.thread(bob, room, MessageRef::Seq(parent.seq), 0, 50).await.unwrap();
            assert_eq!(quote(&thread.messages[0]), (Some("second"), false));

            kit.messages.delete(ann, room, MessageRef::Id(parent.id), None).await.unwrap();
            if persist {
                kit.persist_all().await;
            }
            let page = newest(&kit, bob, room).await;
            assert_eq!(quote(&page[1]), (Some(""), true));
            let replay = kit.messages.replay(bob, room, 0).await.unwrap();
            assert_eq!(quote(&replay.messages[1]), (Some(""), true));
            // The deleted message keeps its thread.
            let thread = kit.messages.thread(bob, room, MessageRef::Seq(parent.seq), 0, 50).await.unwrap();
            assert_eq!(quote(&thread.messages[0]), (Some(""), true));
            assert_eq!(page[0].reply_count, 1);
        }
    }

    #[tokio::test]
    async fn reply_counts_are_the_same_before_during_and_after_persisting() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let parent = send(&kit, ann, room, "topic", None).await;
        let lonely = send(&kit, ann, room, "nobody answers", None).await;
        send(&kit, ann, room, "one", Some(&parent)).await;
        kit.persist_all().await;
        let second = send(&kit, ann, room, "two", Some(&parent)).await;
        // A persister wrote the newest reply, but its progress does not show it yet.
        kit.store.insert_batch(std::slice::from_ref(&second)).await.unwrap();
        send(&kit, ann, room, "three", Some(&parent)).await;

        let counts = |page: &[Message]| page.iter().map(|m| (m.seq, m.reply_count)).collect::<Vec<_>>();
        let before = newest(&kit, ann, room).await;
        assert_eq!(counts(&before[..2]), [(parent.seq, 3), (lonely.seq, 0)]);
        kit.persist_all().await;
        assert_eq!(counts(&newest(&kit, ann, room).await[..2]), [(parent.seq, 3), (lonely.seq, 0)]);
    }

    #[tokio::test]
    async fn a_reply_deleted_before_the_persister_acknowledged_it_counts_and_stays_in_its_thread() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let parent = send(&kit, ann, room, "topic", None).await;
        let reply = send(&kit, ann, room, "re", Some(&parent)).await;
        send(&kit, ann, room, "re again", Some(&parent)).await;
        kit.messages.delete(ann, room, MessageRef::Id(reply.id), None).await.unwrap();
        for step in ["only in the log", "written and erased from the log, unacknowledged", "acknowledged"] {
            match step {
                "only in the log" => {}
                "acknowledged" => kit.persist_all().await,
                _ => assert!(kit.persist_unacknowledged().await > reply.seq),
            }
            assert_eq!(newest(&kit, ann, room).await[0].reply_count, 2, "{step}");
            let thread = kit.messages.thread(ann, room, MessageRef::Id(parent.id), 0, 10).await.unwrap();
            let shown: Vec<(Seq, bool)> = thread.messages.iter().map(|m| (m.seq, m.deleted)).collect();
            assert_eq!(shown, [(reply.seq, true), (reply.seq + 1, false)], "{step}");
        }
    }

    #[tokio::test]
    async fn a_thread_pages_through_the_direct_replies_only() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let parent = send(&kit, ann, room, "topic", None).await;
        let mut replies = Vec::new();
        for i in 0..5 {
            replies.push(send(&kit, ann, room, &format!("r{i}"), Some(&parent)).await);
            send(&kit, ann, room, "elsewhere", None).await;
            if i == 2 {
                kit.persist_all().await;
            }
        }
        let nested = send(&kit, ann, room, "deeper", Some(&replies[0])).await;

        let page = |after, limit| kit.messages.thread(ann, room, MessageRef::Id(parent.id), after, limit);
        let first = page(0, 2).await.unwrap();
        assert_eq!(first.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["r0", "r1"]);
        assert!(first.has_more);
        assert_eq!(first.messages[0].reply_count, 1, "a reply's own replies are counted");
        let rest = page(first.messages[1].seq, 10).await.unwrap();
        assert_eq!(rest.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["r2", "r3", "r4"]);
        assert!(!rest.has_more);
        let deeper = kit.messages.thread(ann, room, MessageRef::Seq(replies[0].seq), 0, 10).await.unwrap();
        assert_eq!(deeper.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [nested.seq]);
        assert_eq!(quote(&deeper.messages[0]), (Some("r0"), false));
    }

    #[tokio::test]
    async fn a_reply_to_an_unknown_deleted_or_foreign_message_is_refused() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let (room, other) = (kit.group(ann, vec![]).await, kit.group(ann, vec![]).await);
        let foreign = send(&kit, ann, other, "elsewhere", None).await;
        let deleted = send(&kit, ann, room, "gone", None).await;
        kit.messages.delete(ann, room, MessageRef::Id(deleted.id), None).await.unwrap();
        let unknown = Message { id: MessageId::generate(), ..foreign.clone() };
        for parent in [&foreign, &deleted, &unknown] {
            refused_field(kit.messages.send(ann, text(room, "re", Some(parent))).await, "reply_to");
        }
        kit.persist_all().await;
        refused_field(kit.messages.send(ann, text(room, "re", Some(&deleted))).await, "reply_to");
    }

    #[tokio::test]
    async fn a_thread_needs_a_reader_a_known_message_and_a_sane_limit() {
        let kit = Kit::new();
        let (ann, eve) = (kit.user("ann").await, kit.user("eve").await);
        let room = kit.group(ann, vec![]).await;
        let parent = send(&kit, ann, room, "topic", None).await;
        let thread = |reader, target, limit| kit.messages.thread(reader, room, target, 0, limit);
        assert!(matches!(thread(eve, MessageRef::Id(parent.id), 10).await, Err(Error::Forbidden(_))));
        assert!(matches!(thread(ann, MessageRef::Seq(parent.seq + 99), 10).await, Err(Error::NotFound(_))));
        assert!(matches!(
            thread(ann, MessageRef::Id(MessageId::generate()), 10).await,
            Err(Error::NotFound(_))
        ));
        for limit in [0, 201] {
            refused_field(thread(ann, MessageRef::Id(parent.id), limit).await, "limit");
        }
        let empty = thread(ann, MessageRef::Id(parent.id), 10).await.unwrap();
        assert!(empty.messages.is_empty() && !empty.has_more);
    }
}
