use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::domain::{
    Change, ChangeKind, ClientMsgId, Entry, Message, Reaction, ReactionKey, RoomId, SentCursor, Seq, UserId,
    apply_change,
};
use crate::ports::{
    Appended, LiveEntry, LiveFeed, LiveStream, LogError, MessageLog, MessageRef, MessageStore, PageQuery,
    ReactionTally, Redacted, StoreError, StoredReactions,
};

/// How many live messages a slow in-process subscriber may fall behind before it skips some
/// (and, seeing the gap, reads them back from the log).
const LIVE_BUFFER: usize = 4096;

/// An in-process message log with a live feed: seqs are global and increasing, like a stream's.
#[derive(Default)]
pub struct MemoryMessageLog {
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    entries: BTreeMap<Seq, Entry>,
    last_seq: Seq,
    last_by_room: HashMap<RoomId, Seq>,
    dedup: HashMap<String, Seq>,
    live: HashMap<RoomId, broadcast::Sender<LiveEntry>>,
    persisted_through: Seq,
    retained_from: Seq,
}

impl MemoryMessageLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every dedup key, as a log does when its duplicate window passes.
    pub fn forget_dedup_keys(&self) {
        self.lock().dedup.clear();
    }

    /// Every entry held, ascending: what a persister would consume.
    pub fn all(&self) -> Vec<Entry> {
        self.lock().entries.values().cloned().collect()
    }

    /// Says every entry up to `seq` is in the store, as a persister's progress does.
    pub fn mark_persisted(&self, seq: Seq) {
        let mut state = self.lock();
        state.persisted_through = state.persisted_through.max(seq);
    }

    /// Forgets every entry below `seq`, as a stream's retention does.
    pub fn expire_before(&self, seq: Seq) {
        let mut state = self.lock();
        state.entries = state.entries.split_off(&seq);
        state.retained_from = state.retained_from.max(seq);
    }

    /// Removes redacted entries, as a persister does once the store has their deletion.
    pub fn remove(&self, seqs: &[Seq]) {
        let mut state = self.lock();
        for seq in seqs {
            state.entries.remove(seq);
        }
    }

    fn append_entry(&self, entry: Entry, dedup_key: &str) -> Appended {
        let mut state = self.lock();
        if let Some(seq) = state.dedup.get(dedup_key) {
            return Appended::Duplicate(*seq);
        }
        state.last_seq += 1;
        let seq = state.last_seq;
        let stored = match entry {
            Entry::Message(message) => Entry::Message(Message { seq, ..message }),
            Entry::Change(change) => Entry::Change(change.at_seq(seq)),
            Entry::Reaction(reaction) => Entry::Reaction(reaction.at_seq(seq)),
        };
        let room = stored.room_id();
        let previous_seq = state.last_by_room.insert(room, seq).unwrap_or(0);
        state.dedup.insert(dedup_key.to_owned(), seq);
        state.entries.insert(seq, stored.clone());
        if let Some(live) = state.live.get(&room) {
            // No receivers is fine: nobody watches the room right now.
            let _ = live.send(LiveEntry { entry: stored, previous_seq });
        }
        Appended::New(seq)
    }
}

#[async_trait]
impl MessageLog for MemoryMessageLog {
    async fn append(&self, message: &Message, dedup_key: &str) -> Result<Appended, LogError> {
        Ok(self.append_entry(Entry::Message(message.clone()), dedup_key))
    }

    async fn append_change(&self, change: &Change, dedup_key: &str) -> Result<Appended, LogError> {
        Ok(self.append_entry(Entry::Change(change.clone()), dedup_key))
    }

    async fn append_reaction(&self, reaction: &Reaction, dedup_key: &str) -> Result<Appended, LogError> {
        Ok(self.append_entry(Entry::Reaction(reaction.clone()), dedup_key))
    }

    async fn get(&self, seq: Seq) -> Result<Option<Entry>, LogError> {
        Ok(self.lock().entries.get(&seq).cloned())
    }

    async fn read_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Entry>, LogError> {
        let state = self.lock();
        let range = state.entries.range(after.saturating_add(1)..);
        Ok(range.map(|(_, e)| e).filter(|e| e.room_id() == room).take(limit).cloned().collect())
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, LogError> {
        Ok(self.lock().last_by_room.get(&room).copied().unwrap_or(0))
    }

    async fn head(&self) -> Result<Seq, LogError> {
        Ok(self.lock().last_seq)
    }

    async fn persisted_through(&self) -> Result<Seq, LogError> {
        Ok(self.lock().persisted_through)
    }

    async fn retained_from(&self) -> Result<Seq, LogError> {
        Ok(self.lock().retained_from)
    }
}

#[async_trait]
impl LiveFeed for MemoryMessageLog {
    async fn subscribe(&self, room: RoomId) -> Result<LiveStream, LogError> {
        let receiver = {
            let mut state = self.lock();
            state.live.retain(|_, sender| sender.receiver_count() > 0);
            state.live.entry(room).or_insert_with(|| broadcast::channel(LIVE_BUFFER).0).subscribe()
        };
        Ok(Box::pin(super::broadcast::broadcast_stream(receiver)))
    }
}

/// An in-process message store with the same keys as the database's.
#[derive(Default)]
pub struct MemoryMessageStore {
    state: Mutex<StoreState>,
}

#[derive(Default)]
struct StoreState {
    by_room: HashMap<RoomId, BTreeMap<Seq, Message>>,
    /// The lowest seq stored under each client id.
    client_ids: HashMap<(RoomId, ClientMsgId), Seq>,
    /// The log seqs of each message's edits, by (room, message seq): what its deletion redacts.
    edits: HashMap<(RoomId, Seq), Vec<Seq>>,
    /// Each reaction's latest entry: (version, seq).
    reactions: HashMap<RoomId, BTreeMap<ReactionKey, (u32, Seq)>>,
}

impl MemoryMessageStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many of the room's messages come after `seq`, counting up to `cap`.
    /// The room's messages with a seq above `after` and up to `through`, counted up to `cap`.
    pub(super) fn count_between(&self, room: RoomId, after: Seq, through: Seq, cap: u64) -> u64 {
        let state = self.lock();
        let Some(messages) = state.by_room.get(&room) else { return 0 };
        if through <= after {
            return 0;
        }
        messages.range(after + 1..=through).take(cap as usize).count() as u64
    }
}

#[async_trait]
impl MessageStore for MemoryMessageStore {
    async fn insert_batch(&self, messages: &[Message]) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let mut inserted = 0;
        for m in messages {
            if state.by_room.get(&m.room_id).is_some_and(|r| r.contains_key(&m.seq)) {
                continue;
            }
            if let Some(client_id) = &m.client_msg_id {
                let first = state.client_ids.entry((m.room_id, client_id.clone())).or_insert(m.seq);
                *first = (*first).min(m.seq);
            }
            state.by_room.entry(m.room_id).or_default().insert(m.seq, m.clone());
            inserted += 1;
        }
        Ok(inserted)
    }

    async fn page(&self, room: RoomId, query: PageQuery) -> Result<Vec<Message>, StoreError> {
        let state = self.lock();
        let Some(messages) = state.by_room.get(&room) else { return Ok(Vec::new()) };
        let low = query.after.map_or(0, |a| a.saturating_add(1));
        let high = query.before.unwrap_or(Seq::MAX);
        if low >= high {
            return Ok(Vec::new());
        }
        let range = messages.range(low..high).map(|(_, m)| m.clone());
        let mut page: Vec<Message> = if query.after.is_some() {
            range.take(query.limit).collect()
        } else {
            range.rev().take(query.limit).collect()
        };
        page.sort_by_key(|m| m.seq);
        Ok(page)
    }

    async fn by_client_msg_id(&self, room: RoomId, id: &ClientMsgId) -> Result<Option<Message>, StoreError> {
        let state = self.lock();
        let seq = state.client_ids.get(&(room, id.clone()));
        Ok(seq.and_then(|seq| state.by_room.get(&room)?.get(seq).cloned()))
    }

    async fn find(&self, room: RoomId, message: MessageRef) -> Result<Option<Message>, StoreError> {
        let state = self.lock();
        let Some(messages) = state.by_room.get(&room) else { return Ok(None) };
        Ok(match message {
            MessageRef::Seq(seq) => messages.get(&seq).cloned(),
            MessageRef::Id(id) => messages.values().find(|m| m.id == id).cloned(),
        })
    }

    async fn apply_changes(&self, changes: &[Change]) -> Result<Redacted, StoreError> {
        let mut state = self.lock();
        let mut redacted = Vec::new();
        for change in changes {
            let target = &change.message;
            let key = (target.room_id, target.seq);
            let messages = state.by_room.entry(target.room_id).or_default();
            let held = messages.entry(target.seq).or_insert_with(|| target.clone());
            apply_change(held, change);
            let deleted = held.deleted;
            if let Some(client_id) = &target.client_msg_id {
                let first = state.client_ids.entry((target.room_id, client_id.clone())).or_insert(target.seq);
                *first = (*first).min(target.seq);
            }
            let edits = state.edits.entry(key).or_default();
            if change.kind == ChangeKind::Edited && !edits.contains(&change.seq) {
                edits.push(change.seq);
            }
            if deleted {
                redacted.push(target.seq);
                redacted.extend(edits.iter().copied());
            }
        }
        redacted.sort_unstable();
        redacted.dedup();
        Ok(Redacted { log_seqs: redacted })
    }

    async fn apply_reactions(&self, reactions: &[Reaction]) -> Result<(), StoreError> {
        let mut state = self.lock();
        for reaction in reactions {
            let held =
                state.reactions.entry(reaction.room_id).or_default().entry(reaction.key()).or_default();
            if reaction.version > held.0 {
                *held = (reaction.version, reaction.seq);
            }
        }
        Ok(())
    }

    async fn reactions(
        &self,
        room: RoomId,
        message_seqs: &[Seq],
        reader: UserId,
        watched: &[ReactionKey],
    ) -> Result<StoredReactions, StoreError> {
        let state = self.lock();
        let Some(held) = state.reactions.get(&room) else { return Ok(StoredReactions::default()) };
        let mut tallies: BTreeMap<(Seq, &crate::domain::Emoji), ReactionTally> = BTreeMap::new();
        for (key, &(version, seq)) in held.iter().filter(|(key, _)| message_seqs.contains(&key.message_seq)) {
            let tally = tallies.entry((key.message_seq, &key.emoji)).or_insert_with(|| ReactionTally {
                message_seq: key.message_seq,
                emoji: key.emoji.clone(),
                count: 0,
                me: false,
                first_seq: Seq::MAX,
                latest_seq: 0,
            });
            tally.latest_seq = tally.latest_seq.max(seq);
            if Reaction::stands(version) {
                tally.count += 1;
                tally.me |= key.user == reader;
                tally.first_seq = tally.first_seq.min(seq);
            }
        }
        let versions = watched.iter().filter_map(|key| Some((key.clone(), held.get(key)?.0))).collect();
        Ok(StoredReactions { tallies: tallies.into_values().collect(), versions })
    }
    async fn sent_by(
        &self,
        sender: UserId,
        after: Option<SentCursor>,
        limit: usize,
    ) -> Result<Vec<SentCursor>, StoreError> {
        let state = self.lock();
        let mut sent: Vec<SentCursor> = state
            .by_room
            .iter()
            .flat_map(|(room, messages)| {
                let theirs = messages.values().filter(|m| m.sender_id == sender && !m.deleted);
                theirs.map(|m| SentCursor { room: *room, seq: m.seq })
            })
            .filter(|at| after.is_none_or(|after| *at > after))
            .collect();
        sent.sort_unstable();
        sent.truncate(limit);
        Ok(sent)
    }

    async fn find_seqs(&self, room: RoomId, seqs: &[Seq]) -> Result<Vec<Message>, StoreError> {
        let state = self.lock();
        let Some(messages) = state.by_room.get(&room) else { return Ok(Vec::new()) };
        Ok(seqs.iter().filter_map(|seq| messages.get(seq).cloned()).collect())
    }

    async fn replies(
        &self,
        room: RoomId,
        parent: Seq,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let state = self.lock();
        let Some(messages) = state.by_room.get(&room) else { return Ok(Vec::new()) };
        let replies = messages.range(after.saturating_add(1)..).map(|(_, m)| m);
        Ok(replies.filter(|m| replies_to(m, parent)).take(limit).cloned().collect())
    }

    async fn reply_counts(
        &self,
        room: RoomId,
        parents: &[Seq],
        through: Seq,
    ) -> Result<Vec<(Seq, u64)>, StoreError> {
        let state = self.lock();
        let Some(messages) = state.by_room.get(&room) else { return Ok(Vec::new()) };
        let mut counts: BTreeMap<Seq, u64> = BTreeMap::new();
        for message in messages.range(..=through).map(|(_, m)| m) {
            if let Some(parent) = message.reply_to.as_ref().map(|r| r.seq)
                && parents.contains(&parent)
            {
                *counts.entry(parent).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }
}

fn replies_to(message: &Message, parent: Seq) -> bool {
    message.reply_to.as_ref().is_some_and(|r| r.seq == parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Content, MessageId, MessageKind, Metadata, UserId};

    fn message(room: RoomId, seq: Seq, client_id: &str) -> Message {
        Message {
            id: MessageId::generate(),
            room_id: room,
            seq,
            sender_id: UserId::generate(),
            content: Content::parse("hi").unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::default(),
            client_msg_id: Some(ClientMsgId::parse(client_id).unwrap()),
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

    #[tokio::test]
    async fn a_client_id_stored_again_at_another_seq_keeps_both_and_the_first_is_the_original() {
        let store = MemoryMessageStore::default();
        let room = RoomId::generate();
        let batch = [message(room, 9, "c"), message(room, 5, "c"), message(room, 9, "other")];
        assert_eq!(store.insert_batch(&batch).await.unwrap(), 2);
        assert_eq!(store.insert_batch(&[message(room, 12, "c")]).await.unwrap(), 1);
        let page = store.page(room, PageQuery { before: None, after: None, limit: 10 }).await.unwrap();
        assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [5, 9, 12]);
        let original = store.by_client_msg_id(room, &ClientMsgId::parse("c").unwrap()).await.unwrap();
        assert_eq!(original.map(|m| m.seq), Some(5));
    }
}
