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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chat_shared::domain::{Change, Entry, Message, RoomId, Seq};
use chat_shared::memory::broadcast_stream;
use chat_shared::ports::{Appended, LiveEntry, LiveFeed, LiveStream, LogError, MessageLog};
use sqlx::SqliteConnection;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::db::SqliteDb;
use super::errors::is_unavailable;
use super::messages::insert;
use crate::rows::{MESSAGE_COLUMNS as COLUMNS, MessageRow};
use crate::rows::{seq_from_db, seq_to_db};

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
    message: Message,
    dedup_key: String,
    reply: oneshot::Sender<Result<Appended, LogError>>,
}

/// What one append of a committed batch came to.
enum Outcome {
    New {
        seq: Seq,
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
}

fn lock(live: &LiveRooms) -> std::sync::MutexGuard<'_, HashMap<RoomId, broadcast::Sender<LiveEntry>>> {
    live.lock().unwrap_or_else(|e| e.into_inner())
}

fn log_error(err: sqlx::Error) -> LogError {
    if is_unavailable(&err) { LogError::Unavailable(Box::new(err)) } else { LogError::Other(Box::new(err)) }
}

/// Group commit: every append waiting when the writer is free goes into one transaction, so
/// concurrent sends share a sync to disk instead of queueing for one each. One task commits and
/// broadcasts, so subscribers get a room's messages in seq order.
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
                    let _ = append.reply.send(deliver(&live, append.message, outcome));
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
        outcomes.push(append_one(&mut tx, &append.message, &append.dedup_key).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Within the batch's transaction, which also sees the batch's earlier appends.
async fn append_one(
    tx: &mut SqliteConnection,
    message: &Message,
    dedup_key: &str,
) -> Result<Outcome, sqlx::Error> {
    let original: Option<i64> = sqlx::query_scalar("select seq from messages where dedup_key = ?1")
        .bind(dedup_key)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(seq) = original {
        return Ok(Outcome::Duplicate(seq_from_db(seq)));
    }
    // Both read from the table, so seqs go on where they were before a restart.
    let (last, previous): (Option<i64>, Option<i64>) = sqlx::query_as(
        "select (select max(seq) from messages),
                (select max(seq) from messages where room_id = ?1)",
    )
    .bind(message.room_id.as_uuid())
    .fetch_one(&mut *tx)
    .await?;
    let seq = last.map_or(0, seq_from_db) + 1;
    if !insert(tx, message, seq, Some(dedup_key)).await? {
        return Ok(Outcome::Refused);
    }
    Ok(Outcome::New { seq, previous_seq: previous.map_or(0, seq_from_db) })
}

/// Hands a committed message to the room's live subscribers and says what its sender gets.
fn deliver(live: &LiveRooms, message: Message, outcome: Outcome) -> Result<Appended, LogError> {
    match outcome {
        Outcome::New { seq, previous_seq } => {
            if let Some(room) = lock(live).get(&message.room_id) {
                // No receivers is fine: nobody watches the room right now.
                let _ =
                    room.send(LiveEntry { entry: Entry::Message(Message { seq, ..message }), previous_seq });
            }
            Ok(Appended::New(seq))
        }
        Outcome::Duplicate(seq) => Ok(Appended::Duplicate(seq)),
        Outcome::Refused => Err(LogError::Other(
            format!("message {} or its client id is stored already under another dedup key", message.id)
                .into(),
        )),
    }
}

#[async_trait]
impl MessageLog for SqliteMessageLog {
    async fn append(&self, message: &Message, dedup_key: &str) -> Result<Appended, LogError> {
        let (reply, outcome) = oneshot::channel();
        let append = Append { message: message.clone(), dedup_key: dedup_key.to_owned(), reply };
        let gone = || LogError::Other("the message log's writer stopped".into());
        self.appends.send(append).await.map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }

    async fn append_change(&self, _change: &Change, _dedup_key: &str) -> Result<Appended, LogError> {
        Err(LogError::Other("PENDING: changes are not stored here yet".into()))
    }

    async fn persisted_through(&self) -> Result<Seq, LogError> {
        Ok(Seq::MAX)
    }

    async fn get(&self, seq: Seq) -> Result<Option<Entry>, LogError> {
        sqlx::query_as::<_, MessageRow<String>>(&format!("select {COLUMNS} from messages where seq = ?1"))
            .bind(seq_to_db(seq))
            .fetch_optional(&self.db.readers)
            .await
            .map_err(log_error)?
            .map(|row| Message::try_from(row).map(Entry::Message))
            .transpose()
            .map_err(|err| LogError::Other(Box::new(err)))
    }

    async fn read_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Entry>, LogError> {
        sqlx::query_as::<_, MessageRow<String>>(&format!(
            "select {COLUMNS} from messages where room_id = ?1 and seq > ?2 order by seq limit ?3"
        ))
        .bind(room.as_uuid())
        .bind(seq_to_db(after))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.db.readers)
        .await
        .map_err(log_error)?
        .into_iter()
        .map(|row| Message::try_from(row).map(Entry::Message))
        .collect::<Result<_, _>>()
        .map_err(|err| LogError::Other(Box::new(err)))
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, LogError> {
        let last: Option<i64> = sqlx::query_scalar("select max(seq) from messages where room_id = ?1")
            .bind(room.as_uuid())
            .fetch_one(&self.db.readers)
            .await
            .map_err(log_error)?;
        Ok(last.and_then(|seq| Seq::try_from(seq).ok()).unwrap_or(0))
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
