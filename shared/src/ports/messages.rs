use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

use super::errors::{BoxError, StoreError};
use crate::domain::{
    Change, ClientMsgId, Emoji, Entry, Message, MessageId, Reaction, ReactionKey, RoomId, SentCursor, Seq,
    UserId,
};

/// The failure of the message log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log cannot be reached or did not confirm in time; the message may or may not have
    /// been stored, so the sender must retry with the same `client_msg_id`.
    #[error("message log unavailable")]
    Unavailable(#[source] BoxError),
    #[error("message log failure")]
    Other(#[source] BoxError),
}

/// What appending did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored under this new seq.
    New(Seq),
    /// A message with the same dedup key was stored already, under this seq.
    Duplicate(Seq),
}

/// The durable, ordered log every message passes through before it is acknowledged: JetStream
/// in a cluster. Its seq is the message's seq: strictly increasing within a room.
#[async_trait]
pub trait MessageLog: Send + Sync {
    /// Stores `message` (its `seq` is ignored) durably and returns the seq it got. A second
    /// append with the same `dedup_key` within the log's window stores nothing and returns the
    /// first one's seq. Many appends may be in flight at once.
    async fn append(&self, message: &Message, dedup_key: &str) -> Result<Appended, LogError>;

    /// Stores a change to a message (its `seq` is ignored) as the room's next entry, with the
    /// same guarantees and deduplication as [`append`](Self::append).
    async fn append_change(&self, change: &Change, dedup_key: &str) -> Result<Appended, LogError>;

    /// Stores a reaction's addition or removal (its `seq` is ignored) as the room's next entry,
    /// with the same guarantees and deduplication as [`append`](Self::append).
    async fn append_reaction(&self, reaction: &Reaction, dedup_key: &str) -> Result<Appended, LogError>;

    /// The entry stored under `seq`, if the log still holds it.
    async fn get(&self, seq: Seq) -> Result<Option<Entry>, LogError>;

    /// The room's entries with a seq above `after`, ascending, at most `limit`: all of those
    /// acknowledged before the call and not redacted since, without another gap. A read that
    /// cannot see them all yet (a lagging replica) fails as unavailable rather than return
    /// fewer.
    async fn read_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Entry>, LogError>;

    /// The seq of the room's newest entry; 0 when it has none.
    async fn last_seq(&self, room: RoomId) -> Result<Seq, LogError>;

    /// The seq of the newest entry of any room; 0 when there is none.
    async fn head(&self) -> Result<Seq, LogError>;

    /// A seq at or below which every entry of every room is in the [`MessageStore`], changes
    /// applied: a read that needs the current state of messages reads the log only above it.
    /// It may lag behind the truth, never run ahead of it.
    async fn persisted_through(&self) -> Result<Seq, LogError>;

    /// The lowest seq the log may still hold: entries below it are gone for good (the
    /// stream's retention), so a read that starts below it may miss some. 0 when the log
    /// keeps everything.
    async fn retained_from(&self) -> Result<Seq, LogError>;
}

/// An entry as the live feed hands it over, with the seq of the room's entry before it so a
/// subscriber can tell when it missed one.
#[derive(Debug, Clone)]
pub struct LiveEntry {
    pub entry: Entry,
    /// Seq of the room's previous entry in the log; 0 when there was none.
    pub previous_seq: Seq,
}

pub type LiveStream = Pin<Box<dyn Stream<Item = LiveEntry> + Send>>;

/// Messages of one room as they are stored, pushed to every node that subscribes. Delivery
/// may skip messages under pressure; `previous_seq` reveals the gap, and the log fills it.
#[async_trait]
pub trait LiveFeed: Send + Sync {
    /// Starts receiving the room's new messages. Dropping the stream ends the subscription.
    async fn subscribe(&self, room: RoomId) -> Result<LiveStream, LogError>;
}

/// Which page of a room's history: messages with `after < seq < before`, at most `limit`.
/// With `after` the page starts right above it and reads forward; otherwise it ends right below
/// `before` (or at the newest message) and reads backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub before: Option<Seq>,
    pub after: Option<Seq>,
    pub limit: usize,
}

/// Messages at rest (PostgreSQL in a cluster), written by the persister.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Writes a batch in one transaction. Idempotent: a message whose (room, seq) is stored
    /// already is skipped. Returns how many were new.
    ///
    /// A message whose client id an earlier message of the room holds is stored all the same:
    /// the log acknowledged it (a send repeated after the log's duplicate window, while the
    /// store was behind), so dropping it would lose it. The embedded store, whose log is the
    /// store itself, never receives one.
    async fn insert_batch(&self, messages: &[Message]) -> Result<u64, StoreError>;

    /// Up to `query.limit` messages of the page, ascending by seq.
    async fn page(&self, room: RoomId, query: PageQuery) -> Result<Vec<Message>, StoreError>;

    /// The room's message stored under this client id; the lowest seq when there are several.
    async fn by_client_msg_id(&self, room: RoomId, id: &ClientMsgId) -> Result<Option<Message>, StoreError>;

    /// The room's message with this id or seq, in its current state as far as the store has
    /// it.
    async fn find(&self, room: RoomId, message: MessageRef) -> Result<Option<Message>, StoreError>;

    /// Applies changes to messages, idempotently and in any order: each message keeps the state
    /// with the highest `changed_seq`, and a deletion is final. A change may come before its
    /// message is stored; the message then stays as the change left it. Returns the log's
    /// entries whose text is now redacted and must be removed from the log: each deleted
    /// message and every edit of it, applied before or arriving after the deletion.
    async fn apply_changes(&self, changes: &[Change]) -> Result<Redacted, StoreError>;

    /// The room's messages stored under these seqs, in their current state as far as the store
    /// has it, in any order; seqs it does not hold are left out. One query, for quoting the
    /// parents of a page's replies.
    async fn find_seqs(&self, room: RoomId, seqs: &[Seq]) -> Result<Vec<Message>, StoreError>;

    /// Up to `limit` replies to the room's message under `parent` with a seq above `after`,
    /// ascending by seq: a page of its thread.
    async fn replies(
        &self,
        room: RoomId,
        parent: Seq,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// How many replies each of `parents` has among the room's stored messages with a seq at or
    /// below `through` (the log holds those above). Parents without any are left out. One query.
    async fn reply_counts(
        &self,
        room: RoomId,
        parents: &[Seq],
        through: Seq,
    ) -> Result<Vec<(Seq, u64)>, StoreError>;

    /// Where up to `limit` of `sender`'s messages that are not deleted are stored, in every
    /// room, ordered by room and then by seq, starting right after `after`.
    async fn sent_by(
        &self,
        sender: UserId,
        after: Option<SentCursor>,
        limit: usize,
    ) -> Result<Vec<SentCursor>, StoreError>;

    /// Applies reaction entries, idempotently and in any order: each (message, user, emoji)
    /// keeps the entry with the highest `version`. A reaction may come before its message.
    async fn apply_reactions(&self, reactions: &[Reaction]) -> Result<(), StoreError>;

    /// The reactions the store holds to the room's messages `message_seqs`, counted as
    /// `reader` sees them, and the versions it holds of the `watched` ones: one consistent
    /// reading of both, so a reader can fold newer entries of the log into the counts.
    async fn reactions(
        &self,
        room: RoomId,
        message_seqs: &[Seq],
        reader: UserId,
        watched: &[ReactionKey],
    ) -> Result<StoredReactions, StoreError>;
}

/// What [`MessageStore::reactions`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredReactions {
    /// One per message and emoji that has had a reaction (standing or not).
    pub tallies: Vec<ReactionTally>,
    /// The versions held of the watched reactions; a key the store has never seen is absent.
    pub versions: Vec<(ReactionKey, u32)>,
}

/// The reactions to one message with one emoji, as a reader sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionTally {
    pub message_seq: Seq,
    pub emoji: Emoji,
    /// How many reactions stand.
    pub count: u32,
    /// Whether the reader's stands.
    pub me: bool,
    /// The lowest seq among the standing reactions' latest entries: the emoji's place among the
    /// message's. `Seq::MAX` when none stands.
    pub first_seq: Seq,
    /// The highest seq of any entry counted, standing or not.
    pub latest_seq: Seq,
}

/// How a request names a message of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRef {
    Id(MessageId),
    Seq(Seq),
}

/// What [`MessageStore::apply_changes`] redacted: the log seqs to remove, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redacted {
    pub log_seqs: Vec<Seq>,
}
