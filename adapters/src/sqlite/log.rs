//! The embedded mode's message log and live feed: the `messages` table itself, with a seq that
//! is global and increasing like a stream sequence, and an in-process broadcast per room.
//!
//! The log and the messages at rest are one table, so the persister of a cluster has nothing
//! to do here: the transaction that acknowledges a message is the one that persists it. A
//! second table with an in-process task copying it over would write every message twice
//! (two fsyncs), leave a window where history needs the log's tail, and add a task that can
//! fail or fall behind, for no gain: SQLite gives the log the same durability the store has.
//! `MessageService`'s reads still merge the store with the log's tail after the store's last
//! seq; here that tail is always empty, and the merge is keyed by seq, so nothing shows twice.
//!
//! Changes to messages are entries of their own table, `message_changes`, under seqs of the
//! same sequence. The transaction that appends a change applies it to its message's row too, so
//! the row always holds the message's current state. A deletion turns the row into the
//! tombstone and removes the entries of the message's edits, so its text is gone from the log
//! as from the store; an edit appended after the deletion is stored with the tombstone's state.
//! Reaction entries are rows of `message_changes` too (kind `reaction`); the transaction that
//! appends one also applies it to `message_reactions`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chat_shared::domain::{Change, ChangeKind, Entry, Message, Reaction, RoomId, Seq};
use chat_shared::memory::broadcast_stream;
use chat_shared::ports::{Appended, LiveEntry, LiveFeed, LiveStream, LogError, MessageLog, StoreError};
use sqlx::SqliteConnection;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::changes::{CHANGE_COLUMNS, ChangeRow, insert_entry, insert_reaction_entry};
use super::db::SqliteDb;
use super::errors::is_unavailable;
use super::messages::{apply, deletion_of, insert};
use crate::rows::MessageRow;
use crate::rows::{seq_from_db, seq_to_db};

/// A message as the log appended it, unless deleted since: a `messages` row with the content
/// and metadata it was appended with in place of those of its edits (a tombstone's are gone).
pub(super) const APPENDED_COLUMNS: &str = "id, room_id, seq, sender_id, \
     case when appended_content is null then content else appended_content end as content, kind, \
     case when appended_content is null then metadata else appended_metadata end as metadata, \
     client_msg_id, created_at, \
     case when appended_content is null then edited_at end as edited_at, deleted_by, deleted_at, \
     case when appended_content is null then changed_seq else 0 end as changed_seq, \
     reply_to_id, reply_to_seq, reply_to_sender_id";

/// How many live messages a slow subscriber may fall behind before it skips some (and, seeing
/// the gap in `previous_seq`, reads them back from the log).
const LIVE_BUFFER: usize = 4096;
/// Appends committed in one transaction at most.
const MAX_BATCH: usize = 256;
/// Appends waiting for the writer at most; an append beyond that waits for room in the queue.
const QUEUE: usize = 16 * 1024;

/// Each watched room's live channel; rooms nobody watches any more are pruned on subscribe.
type LiveRooms = Mutex<HashMap<RoomId, broadcast::Sender<LiveEntry>>>;

pub struct SqliteMessageLog {
    db: SqliteDb,
    appends: mpsc::Sender<Append>,
    live: Arc<LiveRooms>,
}

struct Append {
    entry: Entry,
    dedup_key: String,
    reply: oneshot::Sender<Result<Appended, LogError>>,
}

/// What one append of a committed batch came to.
enum Outcome {
    New {
        stored: Box<Entry>,
        previous_seq: Seq,
    },
    Duplicate(Seq),
    /// Its id or client id is stored already under another dedup key.
    Refused,
}

impl SqliteMessageLog {
    /// Starts the task that commits appends, on the current runtime; it ends with the log.
    pub fn new(db: SqliteDb) -> Self {
        let (appends, queue) = mpsc::channel(QUEUE);
        let live = Arc::new(LiveRooms::default());
        tokio::spawn(commit_appends(db.clone(), queue, live.clone()));
        Self { db, appends, live }
    }

    /// Queues `entry` for the writer and waits for what its commit came to.
    async fn append_entry(&self, entry: Entry, dedup_key: &str) -> Result<Appended, LogError> {
        let (reply, outcome) = oneshot::channel();
        let append = Append { entry, dedup_key: dedup_key.to_owned(), reply };
        let gone = || LogError::Other("the message log's writer stopped".into());
        self.appends.send(append).await.map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

fn lock(live: &LiveRooms) -> std::sync::MutexGuard<'_, HashMap<RoomId, broadcast::Sender<LiveEntry>>> {
    live.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn log_error(err: sqlx::Error) -> LogError {
    if is_unavailable(&err) { LogError::Unavailable(Box::new(err)) } else { LogError::Other(Box::new(err)) }
}

pub(super) fn corrupt_entry(err: StoreError) -> LogError {
    LogError::Other(Box::new(err))
}

/// Group commit: every append waiting when the writer is free goes into one transaction, so
/// concurrent sends share a sync to disk instead of queueing for one each. One task commits and
/// broadcasts, so subscribers get a room's entries in seq order.
async fn commit_appends(db: SqliteDb, mut queue: mpsc::Receiver<Append>, live: Arc<LiveRooms>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH
            && let Ok(next) = queue.try_recv()
        {
            batch.push(next);
        }
        match commit(&db, &batch).await {
            Ok(outcomes) => {
                for (append, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = append.reply.send(deliver(&live, &append.entry, outcome));
                }
            }
            Err(err) => {
                // Nothing of the batch is stored; each sender retries with its own key.
                let unavailable = is_unavailable(&err);
                let reason = format!("appending to the message log: {err}");
                for append in batch {
                    let err: Box<dyn std::error::Error + Send + Sync> = reason.clone().into();
                    let _ = append.reply.send(Err(if unavailable {
                        LogError::Unavailable(err)
                    } else {
                        LogError::Other(err)
                    }));
                }
            }
        }
    }
}

async fn commit(db: &SqliteDb, batch: &[Append]) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = db.write().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for append in batch {
        outcomes.push(append_one(&mut tx, &append.entry, &append.dedup_key).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Within the batch's transaction, which also sees the batch's earlier appends.
async fn append_one(
    tx: &mut SqliteConnection,
    entry: &Entry,
    dedup_key: &str,
) -> Result<Outcome, sqlx::Error> {
    if let Some(seq) = seq_of_dedup_key(tx, dedup_key).await? {
        return Ok(Outcome::Duplicate(seq));
    }
    let (seq, previous_seq) = next_seq(tx, entry.room_id()).await?;
    let stored = match entry {
        Entry::Message(message) => {
            if !insert(tx, message, seq, Some(dedup_key)).await? {
                return Ok(Outcome::Refused);
            }
            Entry::Message(Message { seq, ..message.clone() })
        }
        Entry::Change(change) => Entry::Change(store_change(tx, change, seq, dedup_key).await?),
        Entry::Reaction(reaction) => {
            let stored = reaction.clone().at_seq(seq);
            super::reactions::apply(tx, &stored).await?;
            insert_reaction_entry(tx, &stored, dedup_key).await?;
            Entry::Reaction(stored)
        }
    };
    Ok(Outcome::New { stored: Box::new(stored), previous_seq })
}

/// The seq of the entry, message or change, stored under `dedup_key`: the keys of both share
/// one namespace.
async fn seq_of_dedup_key(tx: &mut SqliteConnection, dedup_key: &str) -> Result<Option<Seq>, sqlx::Error> {
    let seq: Option<i64> = sqlx::query_scalar(
        "select seq from messages where dedup_key = ?1
         union all
         select seq from message_changes where dedup_key = ?1",
    )
    .bind(dedup_key)
    .fetch_optional(tx)
    .await?;
    Ok(seq.map(seq_from_db))
}

/// The seq for the next entry, after the highest of both tables, and the room's last one. Both
/// read the tables, so seqs go on where they were before a restart. A deletion removes only
/// entries of edits older than itself, so the highest seq never goes back.
async fn next_seq(tx: &mut SqliteConnection, room: RoomId) -> Result<(Seq, Seq), sqlx::Error> {
    let (last, previous): (i64, i64) = sqlx::query_as(
        "select max(coalesce((select max(seq) from messages), 0),
                    coalesce((select max(seq) from message_changes), 0)),
                max(coalesce((select max(seq) from messages where room_id = ?1), 0),
                    coalesce((select max(seq) from message_changes where room_id = ?1), 0))",
    )
    .bind(room.as_uuid())
    .fetch_one(tx)
    .await?;
    Ok((seq_from_db(last) + 1, seq_from_db(previous)))
}

/// Stores `change` under `seq` and applies it to its message's row; returns it as stored. An
/// edit of a message deleted already is stored with the tombstone's state: its text must not
/// outlive the deletion anywhere.
async fn store_change(
    tx: &mut SqliteConnection,
    change: &Change,
    seq: Seq,
    dedup_key: &str,
) -> Result<Change, sqlx::Error> {
    let target = &change.message;
    let deletion = deletion_of(tx, target.room_id, target.seq).await?;
    let stored = match deletion {
        Some((by, at)) if change.kind == ChangeKind::Edited => {
            Change { message: target.tombstone(by, at), ..change.clone() }
        }
        _ => change.clone(),
    }
    .at_seq(seq);
    apply(tx, &stored).await?;
    insert_entry(tx, &stored, dedup_key).await?;
    Ok(stored)
}

/// Hands a committed entry to the room's live subscribers and says what its sender gets.
fn deliver(live: &LiveRooms, entry: &Entry, outcome: Outcome) -> Result<Appended, LogError> {
    match outcome {
        Outcome::New { stored, previous_seq } => {
            let seq = stored.seq();
            if let Some(room) = lock(live).get(&stored.room_id()) {
                // No receivers is fine: nobody watches the room right now.
                let _ = room.send(LiveEntry { entry: *stored, previous_seq });
            }
            Ok(Appended::New(seq))
        }
        Outcome::Duplicate(seq) => Ok(Appended::Duplicate(seq)),
        Outcome::Refused => {
            let id = match entry {
                Entry::Message(message) => message.id,
                Entry::Change(change) => change.message.id,
                Entry::Reaction(reaction) => reaction.message_id,
            };
            Err(LogError::Other(
                format!("message {id} or its client id is stored already under another dedup key").into(),
            ))
        }
    }
}

#[async_trait]
impl MessageLog for SqliteMessageLog {
    async fn append(&self, message: &Message, dedup_key: &str) -> Result<Appended, LogError> {
        self.append_entry(Entry::Message(message.clone()), dedup_key).await
    }

    async fn append_change(&self, change: &Change, dedup_key: &str) -> Result<Appended, LogError> {
        self.append_entry(Entry::Change(change.clone()), dedup_key).await
    }

    async fn append_reaction(&self, reaction: &Reaction, dedup_key: &str) -> Result<Appended, LogError> {
        self.append_entry(Entry::Reaction(reaction.clone()), dedup_key).await
    }

    async fn head(&self) -> Result<Seq, LogError> {
        let head: i64 = sqlx::query_scalar(
            "select max(coalesce((select max(seq) from messages), 0),
                        coalesce((select max(seq) from message_changes), 0))",
        )
        .fetch_one(&self.db.readers)
        .await
        .map_err(log_error)?;
        Ok(seq_from_db(head))
    }

    /// The log and the store are one database, and a change is applied to its message in the
    /// transaction that appends it: every entry is in the store once appended.
    async fn persisted_through(&self) -> Result<Seq, LogError> {
        Ok(Seq::MAX)
    }

    /// Nothing expires here: entries leave only by redaction.
    async fn retained_from(&self) -> Result<Seq, LogError> {
        Ok(0)
    }

    async fn get(&self, seq: Seq) -> Result<Option<Entry>, LogError> {
        if let Some(message) = self.message_at(seq).await? {
            return Ok(Some(Entry::Message(message)));
        }
        self.change_at(seq).await
    }

    async fn read_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Entry>, LogError> {
        let messages = self.messages_after(room, after, limit).await?;
        let changes = self.changes_after(room, after, limit).await?;
        let mut entries: Vec<Entry> = messages.into_iter().map(Entry::Message).chain(changes).collect();
        entries.sort_by_key(Entry::seq);
        entries.truncate(limit);
        Ok(entries)
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, LogError> {
        let last: i64 = sqlx::query_scalar(
            "select max(coalesce((select max(seq) from messages where room_id = ?1), 0),
                        coalesce((select max(seq) from message_changes where room_id = ?1), 0))",
        )
        .bind(room.as_uuid())
        .fetch_one(&self.db.readers)
        .await
        .map_err(log_error)?;
        Ok(seq_from_db(last))
    }
}

/// Reads of each table of the log.
impl SqliteMessageLog {
    async fn message_at(&self, seq: Seq) -> Result<Option<Message>, LogError> {
        sqlx::query_as::<_, MessageRow<String>>(&format!(
            "select {APPENDED_COLUMNS} from messages where seq = ?1"
        ))
        .bind(seq_to_db(seq))
        .fetch_optional(&self.db.readers)
        .await
        .map_err(log_error)?
        .map(Message::try_from)
        .transpose()
        .map_err(corrupt_entry)
    }

    async fn change_at(&self, seq: Seq) -> Result<Option<Entry>, LogError> {
        sqlx::query_as::<_, ChangeRow>(&format!(
            "select {CHANGE_COLUMNS} from message_changes where seq = ?1"
        ))
        .bind(seq_to_db(seq))
        .fetch_optional(&self.db.readers)
        .await
        .map_err(log_error)?
        .map(Entry::try_from)
        .transpose()
        .map_err(corrupt_entry)
    }

    async fn messages_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Message>, LogError> {
        sqlx::query_as::<_, MessageRow<String>>(&format!(
            "select {APPENDED_COLUMNS} from messages where room_id = ?1 and seq > ?2 order by seq limit ?3"
        ))
        .bind(room.as_uuid())
        .bind(seq_to_db(after))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.db.readers)
        .await
        .map_err(log_error)?
        .into_iter()
        .map(Message::try_from)
        .collect::<Result<_, _>>()
        .map_err(corrupt_entry)
    }

    async fn changes_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Entry>, LogError> {
        sqlx::query_as::<_, ChangeRow>(&format!(
            "select {CHANGE_COLUMNS} from message_changes where room_id = ?1 and seq > ?2 order by seq limit ?3"
        ))
        .bind(room.as_uuid())
        .bind(seq_to_db(after))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.db.readers)
        .await
        .map_err(log_error)?
        .into_iter()
        .map(Entry::try_from)
        .collect::<Result<_, _>>()
        .map_err(corrupt_entry)
    }
}

#[async_trait]
impl LiveFeed for SqliteMessageLog {
    async fn subscribe(&self, room: RoomId) -> Result<LiveStream, LogError> {
        let receiver = {
            let mut live = lock(&self.live);
            live.retain(|_, sender| sender.receiver_count() > 0);
            live.entry(room).or_insert_with(|| broadcast::channel(LIVE_BUFFER).0).subscribe()
        };
        Ok(Box::pin(broadcast_stream(receiver)))
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use chat_shared::domain::{Content, MessageId, MessageKind, Metadata, UserId};
    use chrono::Utc;
    use futures::StreamExt;

    use super::*;

    /// A folder of the test's own under the system's temporary folder, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let path = std::env::temp_dir().join(format!("chat-sqlite-log-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        fn database(&self) -> PathBuf {
            self.0.join("chat.db")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn open(dir: &TempDir) -> (SqliteDb, SqliteMessageLog) {
        let db = SqliteDb::open(&dir.database()).await.unwrap();
        db.migrate().await.unwrap();
        (db.clone(), SqliteMessageLog::new(db))
    }

    fn message(room: RoomId, text: &str, secret: &str) -> Message {
        Message {
            id: MessageId::generate(),
            room_id: room,
            seq: 0,
            sender_id: UserId::generate(),
            content: Content::parse(text).unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::parse(Some(serde_json::json!({ "secret": secret }))).unwrap(),
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

    fn edit(of: &Message, text: &str, secret: &str) -> Change {
        let metadata = Metadata::parse(Some(serde_json::json!({ "secret": secret }))).unwrap();
        let edited = of.edited(Content::parse(text).unwrap(), Some(metadata), Utc::now());
        Change {
            kind: ChangeKind::Edited,
            seq: 0,
            actor: of.sender_id,
            client_change_id: None,
            message: edited,
        }
    }

    fn deletion(of: &Message) -> Change {
        let tombstone = of.tombstone(of.sender_id, Utc::now());
        Change {
            kind: ChangeKind::Deleted,
            seq: 0,
            actor: of.sender_id,
            client_change_id: None,
            message: tombstone,
        }
    }

    async fn append_new(log: &SqliteMessageLog, entry: Entry) -> Seq {
        let key = uuid::Uuid::new_v4().to_string();
        let appended = match &entry {
            Entry::Message(message) => log.append(message, &key).await,
            Entry::Change(change) => log.append_change(change, &key).await,
            Entry::Reaction(reaction) => log.append_reaction(reaction, &key).await,
        };
        match appended.unwrap() {
            Appended::New(seq) => seq,
            Appended::Duplicate(seq) => panic!("a fresh key was taken as a duplicate of {seq}"),
        }
    }

    /// Copies every page of the `-wal` file into the database and empties the `-wal` file.
    async fn checkpoint(db: &SqliteDb) {
        let (busy, _, _): (i64, i64, i64) =
            sqlx::query_as("pragma wal_checkpoint(truncate)").fetch_one(&db.writer).await.unwrap();
        assert_eq!(busy, 0, "the checkpoint was blocked");
    }

    /// Whether the bytes of `text` are anywhere in the database file or its `-wal` file.
    fn files_hold(database: &Path, text: &str) -> bool {
        let wal = PathBuf::from(format!("{}-wal", database.display()));
        [database.to_path_buf(), wal]
            .iter()
            .filter_map(|file| std::fs::read(file).ok())
            .any(|bytes| bytes.windows(text.len()).any(|window| window == text.as_bytes()))
    }

    #[tokio::test]
    async fn a_deleted_message_and_its_edits_leave_no_text_in_the_files() {
        let dir = TempDir::new();
        let (db, log) = open(&dir).await;
        let room = RoomId::generate();
        let mut original = message(room, "original-zebra-text", "original-okapi-meta");
        original.seq = append_new(&log, Entry::Message(original.clone())).await;
        let kept = message(room, "kept-heron-text", "kept-lynx-meta");
        append_new(&log, Entry::Message(kept)).await;
        append_new(&log, Entry::Change(edit(&original, "edited-yak-text", "edited-ibis-meta"))).await;
        append_new(&log, Entry::Change(edit(&original, "again-newt-text", "again-wren-meta"))).await;
        append_new(&log, Entry::Change(deletion(&original))).await;
        checkpoint(&db).await;

        let database = dir.database();
        // The check sees text that is there: the message that stays.
        assert!(files_hold(&database, "kept-heron-text") && files_hold(&database, "kept-lynx-meta"));
        for gone in [
            "original-zebra-text",
            "original-okapi-meta",
            "edited-yak-text",
            "edited-ibis-meta",
            "again-newt-text",
            "again-wren-meta",
        ] {
            assert!(!files_hold(&database, gone), "{gone} is still in the files");
        }
    }

    #[tokio::test]
    async fn a_reopened_log_reads_its_changes_back_and_goes_on_after_the_highest_seq() {
        let dir = TempDir::new();
        let room = RoomId::generate();
        let (db, log) = open(&dir).await;
        let mut original = message(room, "first", "m");
        original.seq = append_new(&log, Entry::Message(original.clone())).await;
        let edited = edit(&original, "second", "e");
        let edit_seq = append_new(&log, Entry::Change(edited.clone())).await;
        drop(log);
        db.close().await;

        let (_db, log) = open(&dir).await;
        let stored = edited.at_seq(edit_seq);
        assert_eq!(log.get(edit_seq).await.unwrap(), Some(Entry::Change(stored.clone())));
        let read = log.read_after(room, 0, 10).await.unwrap();
        assert_eq!(read, [Entry::Message(original.clone()), Entry::Change(stored)]);
        let deletion_seq = append_new(&log, Entry::Change(deletion(&original))).await;
        assert_eq!(deletion_seq, edit_seq + 1);
        assert_eq!(log.last_seq(room).await.unwrap(), deletion_seq);
    }

    #[tokio::test]
    async fn an_edit_appended_after_the_deletion_is_stored_without_its_text() {
        let dir = TempDir::new();
        let (db, log) = open(&dir).await;
        let room = RoomId::generate();
        let mut original = message(room, "first", "m");
        original.seq = append_new(&log, Entry::Message(original.clone())).await;
        let mut live = log.subscribe(room).await.unwrap();
        let deletion_seq = append_new(&log, Entry::Change(deletion(&original))).await;
        let late_seq =
            append_new(&log, Entry::Change(edit(&original, "late-tapir-text", "late-mole-meta"))).await;

        let Some(Entry::Change(late)) = log.get(late_seq).await.unwrap() else { panic!("the late edit") };
        assert!(late.message.deleted);
        assert_eq!((late.message.content.as_str(), &late.message.metadata), ("", &Metadata::default()));
        let Some(Entry::Message(row)) = log.get(original.seq).await.unwrap() else { panic!("the tombstone") };
        assert!(row.deleted);
        assert_eq!(row.changed_seq, deletion_seq);
        let delivered: Vec<LiveEntry> = live.by_ref().take(2).collect().await;
        assert_eq!(delivered[1].entry, Entry::Change(late));
        checkpoint(&db).await;
        assert!(!files_hold(&dir.database(), "late-tapir-text"));
        assert!(!files_hold(&dir.database(), "late-mole-meta"));
    }
}
