use std::collections::BTreeMap;
use std::sync::Arc;

use super::rooms::RoomService;
use crate::domain::{
    ClientMsgId, Content, Entry, Message, MessageId, MessageKind, Metadata, RoomId, Seq, SocketId, UserId,
    apply_change,
};
use crate::error::Error;
use crate::ports::{Appended, Clock, MessageLog, MessageStore, PageQuery};

/// A message as its sender asked for it, validated.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room: RoomId,
    pub content: Content,
    pub kind: MessageKind,
    pub metadata: Metadata,
    pub client_msg_id: Option<ClientMsgId>,
    /// The sender says it never sent `client_msg_id` before: the log's duplicate window alone
    /// catches a repeat (a double send), and the store's lookup for older ones is skipped.
    pub first_attempt: bool,
    /// The message of the room this one replies to.
    pub reply_to: Option<MessageId>,
}

/// A page of history, ascending by seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<Message>,
    /// More messages lie beyond the page in its reading direction.
    pub has_more: bool,
}

/// The messages a client missed, for a resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// The messages after the resume point, in their current state.
    pub messages: Vec<Message>,
    /// The changes and reactions after the resume point, ascending by seq: to messages the
    /// client holds, and (already folded into `messages`) to the missed ones.
    pub changes: Vec<Entry>,
    /// `false` when the server could not supply every message after the resume point; the
    /// client then pages history.
    pub recovered: bool,
}

pub const MAX_PAGE: usize = 200;
pub const DEFAULT_PAGE: usize = 50;

/// A send's result: the stored message.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    /// The message is the original of a repeated `client_msg_id`: the send stored nothing, and
    /// nothing is delivered again.
    pub duplicate: bool,
}

/// Sending and reading messages. A message is acknowledged only once the log holds it; the
/// persister moves it to the store later, so reads merge the store with the log's tail.
pub struct MessageService {
    pub(super) rooms: Arc<RoomService>,
    pub(super) log: Arc<dyn MessageLog>,
    pub(super) store: Arc<dyn MessageStore>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) max_replay: usize,
}

impl MessageService {
    /// `max_replay` bounds how many missed messages one resume returns.
    pub fn new(
        rooms: Arc<RoomService>,
        log: Arc<dyn MessageLog>,
        store: Arc<dyn MessageStore>,
        clock: Arc<dyn Clock>,
        max_replay: usize,
    ) -> Self {
        Self { rooms, log, store, clock, max_replay }
    }

    /// Stores a message durably and returns it with its seq, or the original of a repeated
    /// `client_msg_id`.
    pub async fn send(&self, sender: UserId, request: NewMessage) -> Result<Sent, Error> {
        self.rooms.check_sender(sender, request.room).await?;
        self.store_new(sender, request).await
    }

    /// [`send`](Self::send) for a sender already allowed to send to the room.
    pub(super) async fn store_new(&self, sender: UserId, request: NewMessage) -> Result<Sent, Error> {
        // Past the log's duplicate window, the store remembers client ids: a resend may come
        // after it. A first attempt has no original to find there.
        if let Some(client_id) = &request.client_msg_id
            && !request.first_attempt
            && let Some(original) = self.store.by_client_msg_id(request.room, client_id).await?
        {
            return self.sent(original, true).await;
        }
        let reply_to = match request.reply_to {
            Some(parent) => Some(self.reply_target(request.room, parent).await?),
            None => None,
        };
        let mut message = Message {
            id: MessageId::generate(),
            room_id: request.room,
            seq: 0,
            sender_id: sender,
            content: request.content,
            kind: request.kind,
            metadata: request.metadata,
            client_msg_id: request.client_msg_id,
            created_at: self.clock.now(),
            edited_at: None,
            deleted: false,
            deleted_by: None,
            deleted_at: None,
            changed_seq: 0,
            reactions: Vec::new(),
            reactions_seq: 0,
            reply_to,
            reply_count: 0,
        };
        let mut buf = [0; 36];
        let dedup_key = match &message.client_msg_id {
            Some(client_id) => [message.room_id.encode(&mut buf), ":", client_id.as_str()].concat(),
            None => message.id.encode(&mut buf).to_owned(),
        };
        match self.log.append(&message, &dedup_key).await? {
            Appended::New(seq) => {
                message.seq = seq;
                self.sent(message, false).await
            }
            Appended::Duplicate(seq) => {
                let original = self.original(&message, seq).await?;
                self.sent(original, true).await
            }
        }
    }

    /// The send's answer, the message with its quote as it is read.
    async fn sent(&self, mut message: Message, duplicate: bool) -> Result<Sent, Error> {
        self.quote_parent(&mut message).await?;
        Ok(Sent { message, duplicate })
    }

    /// The first message stored under a repeated client id.
    async fn original(&self, attempt: &Message, seq: Seq) -> Result<Message, Error> {
        if let Some(Entry::Message(original)) = self.log.get(seq).await? {
            return Ok(original);
        }
        let client_id =
            attempt.client_msg_id.as_ref().ok_or(Error::Internal("duplicate without client id".into()))?;
        self.store
            .by_client_msg_id(attempt.room_id, client_id)
            .await?
            .ok_or(Error::Internal("the original of a duplicate is gone".into()))
    }

    /// Moves the caller's read marker forward, never past the room's newest message (a marker
    /// beyond it would hide every message still to come from the unread count), and returns
    /// where it stands. `origin` is the socket that asked, if one did: the reader's other
    /// sockets hear of the new marker, that one knows.
    pub async fn mark_read(
        &self,
        reader: UserId,
        room: RoomId,
        seq: Seq,
        origin: Option<SocketId>,
    ) -> Result<Seq, Error> {
        self.rooms.membership(reader, room).await?;
        let newest = self.log.last_seq(room).await?;
        if seq > newest {
            return Err(Error::invalid("seq", format!("is beyond the room's newest message ({newest})")));
        }
        self.rooms.move_read_marker(reader, room, seq, origin).await
    }

    /// A page of the room's history, for anyone who may read the room.
    pub async fn history(&self, reader: UserId, room: RoomId, query: PageQuery) -> Result<Page, Error> {
        if !(1..=MAX_PAGE).contains(&query.limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_PAGE}")));
        }
        self.rooms.get(reader, room).await?;
        self.page(reader, room, query).await
    }

    /// A page as `reader` sees it, without the access check, for callers that made it already
    /// (a joined socket). `query.limit` must be at least 1.
    pub async fn page(&self, reader: UserId, room: RoomId, query: PageQuery) -> Result<Page, Error> {
        Ok(self.page_and_changes(reader, room, query, None).await?.0)
    }

    /// The page, in its messages' current state as `reader` sees them, and the log's changes
    /// and reactions of the room above `changes_after` when it is given.
    async fn page_and_changes(
        &self,
        reader: UserId,
        room: RoomId,
        query: PageQuery,
        changes_after: Option<Seq>,
    ) -> Result<(Page, Vec<Entry>), Error> {
        let wanted = query.limit + 1;
        // Read first: whatever the store lacks when it is read lies above it in the log.
        let persisted = self.log.persisted_through().await?;
        let stored = self.store.page(room, PageQuery { limit: wanted, ..query }).await?;
        // Entries the log acknowledged but the persister has not written yet lie above
        // `persisted`; the store may have holes there (persisters commit batches in any order).
        // Below the page's start, only changes matter, and changes to the page's messages come
        // after them: the log is read from the page's `after`, else the lowest seq the store
        // gave (the whole room when that was less than a page), unless the store holds more.
        let page_from = match query.after {
            Some(after) => after,
            None if stored.len() == wanted => stored.iter().map(|m| m.seq).min().unwrap_or(1) - 1,
            None => 0,
        };
        let read_from =
            changes_after.map_or(page_from.max(persisted), |since| since.min(page_from.max(persisted)));
        let tail = self.log.read_after(room, read_from, self.max_replay.max(wanted)).await?;

        let mut merged: BTreeMap<Seq, Message> = BTreeMap::new();
        let in_range = |seq: Seq| query.after.is_none_or(|a| seq > a) && query.before.is_none_or(|b| seq < b);
        for message in stored {
            if in_range(message.seq) {
                merged.insert(message.seq, message);
            }
        }
        let mut changes = Vec::new();
        for entry in tail {
            match entry {
                Entry::Message(message) if in_range(message.seq) => {
                    merged.entry(message.seq).or_insert(message);
                }
                Entry::Message(_) => {}
                Entry::Change(_) | Entry::Reaction(_) => changes.push(entry),
            }
        }
        for entry in &changes {
            if let Entry::Change(change) = entry
                && let Some(held) = merged.get_mut(&change.message.seq)
            {
                apply_change(held, change);
            }
        }
        let has_more = merged.len() > query.limit;
        let mut messages: Vec<Message> = if query.after.is_some() {
            merged.into_values().take(query.limit).collect()
        } else {
            let skip = merged.len().saturating_sub(query.limit);
            merged.into_values().skip(skip).collect()
        };
        self.count_reactions(room, reader, &mut messages, &changes).await?;
        let mut changes: Vec<Entry> = match changes_after {
            Some(since) => changes.into_iter().filter(|c| c.seq() > since).collect(),
            None => Vec::new(),
        };
        let changed = changes.iter_mut().filter_map(|entry| match entry {
            Entry::Change(change) => Some(&mut change.message),
            _ => None,
        });
        self.with_replies(room, messages.iter_mut().chain(changed)).await?;
        Ok((Page { messages, has_more }, changes))
    }

    /// Every message of the room after `since`, up to the replay bound, as `reader` sees them,
    /// for a resume.
    pub async fn replay(&self, reader: UserId, room: RoomId, since: Seq) -> Result<Replay, Error> {
        let query = PageQuery { before: None, after: Some(since), limit: self.max_replay };
        let (page, changes) = self.page_and_changes(reader, room, query, Some(since)).await?;
        // The store has every missed message, but only the log has the changes, and its
        // retention may have dropped some made after `since` to messages the client holds.
        let changes_complete = self.log.retained_from().await? <= since.saturating_add(1);
        Ok(Replay { messages: page.messages, changes, recovered: !page.has_more && changes_complete })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RoomName, RoomType};
    use crate::usecases::NewRoom;
    use crate::usecases::testkit::Kit;

    fn text(room: RoomId, content: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            room,
            content: Content::parse(content).unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::default(),
            client_msg_id: client_id.map(|c| ClientMsgId::parse(c).unwrap()),
            first_attempt: false,
            reply_to: None,
        }
    }

    /// Sends "m0", "m1", ... and returns them as stored.
    async fn send_texts(kit: &Kit, sender: UserId, room: RoomId, count: usize) -> Vec<Message> {
        let mut sent = Vec::new();
        for i in 0..count {
            sent.push(kit.messages.send(sender, text(room, &format!("m{i}"), None)).await.unwrap().message);
        }
        sent
    }

    async fn group(kit: &Kit, owner: UserId, members: Vec<UserId>) -> RoomId {
        let request = NewRoom {
            name: Some(RoomName::parse("team").unwrap()),
            room_type: RoomType::Group,
            member_ids: members,
        };
        kit.rooms.create(owner, request).await.unwrap().room.id
    }

    #[tokio::test]
    async fn a_read_marker_goes_no_further_than_the_rooms_newest_message() {
        let kit = Kit::new();
        let (ann, eve) = (kit.user("ann").await, kit.user("eve").await);
        let room = group(&kit, ann, vec![]).await;
        let too_far = kit.messages.mark_read(ann, room, 1, None).await;
        assert!(
            matches!(&too_far, Err(Error::InvalidInput(f)) if f.iter().any(|(k, _)| k == "seq")),
            "{too_far:?}"
        );
        let sent = send_texts(&kit, ann, room, 3).await;
        let newest = sent.last().unwrap().seq;
        assert_eq!(kit.messages.mark_read(ann, room, newest, None).await.unwrap(), newest);
        for beyond in [newest + 1, u64::MAX] {
            assert!(matches!(
                kit.messages.mark_read(ann, room, beyond, None).await,
                Err(Error::InvalidInput(_))
            ));
        }
        // Who is no member learns nothing of the room's seqs.
        assert!(matches!(kit.messages.mark_read(eve, room, u64::MAX, None).await, Err(Error::Forbidden(_))));
    }

    #[tokio::test]
    async fn a_sent_message_gets_an_increasing_seq_and_shows_in_history() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = group(&kit, ann, vec![]).await;
        let Sent { message: first, .. } = kit.messages.send(ann, text(room, "one", None)).await.unwrap();
        let Sent { message: second, .. } = kit.messages.send(ann, text(room, "two", None)).await.unwrap();
        assert!(second.seq > first.seq);
        let page = kit
            .messages
            .history(ann, room, PageQuery { before: None, after: None, limit: 50 })
            .await
            .unwrap();
        let contents: Vec<&str> = page.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["one", "two"]);
        assert!(!page.has_more);
    }

    #[tokio::test]
    async fn outsiders_can_neither_send_nor_read() {
        let kit = Kit::new();
        let (ann, eve) = (kit.user("ann").await, kit.user("eve").await);
        let room = group(&kit, ann, vec![]).await;
        assert!(matches!(kit.messages.send(eve, text(room, "hi", None)).await, Err(Error::Forbidden(_))));
        let query = PageQuery { before: None, after: None, limit: 10 };
        assert!(matches!(kit.messages.history(eve, room, query).await, Err(Error::Forbidden(_))));
    }

    #[tokio::test]
    async fn a_repeated_client_id_returns_the_original_and_stores_nothing_new() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = group(&kit, ann, vec![]).await;
        let Sent { message: original, duplicate } =
            kit.messages.send(ann, text(room, "once", Some("c1"))).await.unwrap();
        assert!(!duplicate);
        let Sent { message: again, duplicate } =
            kit.messages.send(ann, text(room, "twice?", Some("c1"))).await.unwrap();
        assert!(duplicate);
        assert_eq!(again, original);
        // After the log forgot the key, the store still knows it.
        kit.persist_all().await;
        kit.log.forget_dedup_keys();
        let Sent { message: late, duplicate } =
            kit.messages.send(ann, text(room, "late", Some("c1"))).await.unwrap();
        assert!(duplicate);
        assert_eq!(late.id, original.id);
    }

    #[tokio::test]
    async fn a_first_attempt_is_checked_against_the_log_window_only() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = group(&kit, ann, vec![]).await;
        let first = |content: &str| NewMessage { first_attempt: true, ..text(room, content, Some("c1")) };
        let Sent { message: original, .. } = kit.messages.send(ann, first("once")).await.unwrap();
        // A double send within the window is caught by the log, first attempt or not.
        let Sent { message: again, duplicate } = kit.messages.send(ann, first("twice?")).await.unwrap();
        assert!(duplicate);
        assert_eq!(again, original);
        // Past the window the sender's word is taken: the store is not asked, so a client that
        // resends under `first_attempt` gets a second message, as it said it wanted.
        kit.persist_all().await;
        kit.log.forget_dedup_keys();
        let Sent { message: late, duplicate } = kit.messages.send(ann, first("late")).await.unwrap();
        assert!(!duplicate);
        assert!(late.seq > original.seq);
        // A resend without the flag still finds the original.
        let Sent { message: resent, duplicate } =
            kit.messages.send(ann, text(room, "resent", Some("c1"))).await.unwrap();
        assert!(duplicate);
        assert_eq!(resent.id, original.id);
    }

    #[tokio::test]
    async fn a_resume_misses_nothing_while_persisters_have_written_a_later_batch_first() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = group(&kit, ann, vec![]).await;
        let sent = send_texts(&kit, ann, room, 4).await;
        // Two persisters: the one with the later batch committed first.
        kit.store.insert_batch(&sent[2..]).await.unwrap();

        let replay = kit.messages.replay(ann, room, sent[0].seq).await.unwrap();
        let seqs: Vec<Seq> = replay.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [sent[1].seq, sent[2].seq, sent[3].seq]);
        assert!(replay.recovered);
    }

    #[tokio::test]
    async fn pages_show_messages_whose_batch_is_not_stored_yet() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = group(&kit, ann, vec![]).await;
        let sent = send_texts(&kit, ann, room, 8).await;
        // The batch holding m3 and m4 is still being written (or waits for redelivery).
        kit.store.insert_batch(&sent[..3]).await.unwrap();
        kit.store.insert_batch(&sent[5..]).await.unwrap();
        let page = async |before: Option<usize>, limit| {
            let query = PageQuery { before: before.map(|i| sent[i].seq), after: None, limit };
            let page = kit.messages.page(ann, room, query).await.unwrap();
            page.messages.iter().map(|m| m.content.as_str().to_owned()).collect::<Vec<_>>()
        };

        assert_eq!(page(None, 4).await, ["m4", "m5", "m6", "m7"]);
        assert_eq!(page(None, 20).await, ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
        assert_eq!(page(Some(6), 3).await, ["m3", "m4", "m5"]);
        assert_eq!(page(Some(4), 3).await, ["m1", "m2", "m3"]);
        assert_eq!(page(Some(7), 1).await, ["m6"]);
    }

    #[tokio::test]
    async fn history_merges_persisted_messages_with_the_unpersisted_tail() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = group(&kit, ann, vec![]).await;
        for i in 0..5 {
            kit.messages.send(ann, text(room, &format!("m{i}"), None)).await.unwrap();
        }
        kit.persist_all().await;
        for i in 5..8 {
            kit.messages.send(ann, text(room, &format!("m{i}"), None)).await.unwrap();
        }
        let newest =
            kit.messages.page(ann, room, PageQuery { before: None, after: None, limit: 4 }).await.unwrap();
        let contents: Vec<&str> = newest.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["m4", "m5", "m6", "m7"]);
        assert!(newest.has_more);
        let older = kit
            .messages
            .page(ann, room, PageQuery { before: Some(newest.messages[0].seq), after: None, limit: 10 })
            .await
            .unwrap();
        assert_eq!(older.messages.len(), 4);
        assert!(!older.has_more);
        let after = kit
            .messages
            .page(ann, room, PageQuery { before: None, after: Some(older.messages[1].seq), limit: 3 })
            .await
            .unwrap();
        let contents: Vec<&str> = after.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["m2", "m3", "m4"]);
        assert!(after.has_more);
    }

    #[tokio::test]
    async fn a_replay_returns_everything_after_the_resume_point_or_says_it_cannot() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = group(&kit, ann, vec![]).await;
        let mut seqs = Vec::new();
        for i in 0..6 {
            seqs.push(kit.messages.send(ann, text(room, &format!("m{i}"), None)).await.unwrap().message.seq);
        }
        kit.persist_all().await;
        let replay = kit.messages.replay(ann, room, seqs[2]).await.unwrap();
        assert_eq!(replay.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), seqs[3..]);
        assert!(replay.recovered);
        let small = Kit::with_max_replay(2);
        let bob = small.user("bob").await;
        let room = group(&small, bob, vec![]).await;
        for i in 0..3 {
            small.messages.send(bob, text(room, &format!("m{i}"), None)).await.unwrap();
        }
        assert!(!small.messages.replay(bob, room, 0).await.unwrap().recovered);
    }

    #[tokio::test]
    async fn a_limit_outside_one_to_two_hundred_is_invalid() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = group(&kit, ann, vec![]).await;
        for limit in [0, 201] {
            let query = PageQuery { before: None, after: None, limit };
            assert!(matches!(kit.messages.history(ann, room, query).await, Err(Error::InvalidInput(_))));
        }
    }
}
