//! The embedded mode's new messages for `message.created`: a cursor over the log's global seq,
//! kept in the database (`webhook_cursor`), so a restart resumes where the last acknowledged
//! message left off. One process reads it, in order: a message handed back is handed out again
//! with everything after it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chat_shared::domain::{Message, Seq};
use chat_shared::ports::{LogError, NewMessage, NewMessages, Receipt};
use tokio::time::Instant;

use super::db::SqliteDb;
use super::log::{APPENDED_COLUMNS, corrupt_entry, log_error};
use crate::rows::{MessageRow, seq_from_db, seq_to_db};

const CURSOR: &str = "message.created";

/// Where handing out stands in this process.
#[derive(Default)]
struct Position {
    /// The seq after which the next messages are read; `None` until read from the cursor.
    after: Option<Seq>,
    /// Handed back: nothing is handed out before then.
    paused_until: Option<Instant>,
}

#[derive(Clone)]
pub struct SqliteNewMessages {
    db: SqliteDb,
    position: Arc<Mutex<Position>>,
}

impl SqliteNewMessages {
    pub fn new(db: SqliteDb) -> Self {
        Self { db, position: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Position> {
        self.position.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn after(&self) -> Result<Seq, LogError> {
        if let Some(after) = self.lock().after {
            return Ok(after);
        }
        let stored: i64 = sqlx::query_scalar("select seq from webhook_cursor where name = ?1")
            .bind(CURSOR)
            .fetch_one(&self.db.readers)
            .await
            .map_err(log_error)?;
        let after = seq_from_db(stored);
        Ok(*self.lock().after.get_or_insert(after))
    }

    async fn read(&self, after: Seq, max: usize) -> Result<Vec<Message>, LogError> {
        sqlx::query_as::<_, MessageRow<String>>(&format!(
            "select {APPENDED_COLUMNS} from messages where seq > ?1 order by seq limit ?2"
        ))
        .bind(seq_to_db(after))
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.db.readers)
        .await
        .map_err(log_error)?
        .into_iter()
        .map(Message::try_from)
        .collect::<Result<_, _>>()
        .map_err(corrupt_entry)
    }
}

#[async_trait]
impl NewMessages for SqliteNewMessages {
    async fn next(&self, max: usize, wait: Duration) -> Result<Vec<NewMessage>, LogError> {
        let paused_until = self.lock().paused_until.take();
        if let Some(until) = paused_until {
            tokio::time::sleep_until(until).await;
        }
        let after = self.after().await?;
        let mut messages = self.read(after, max).await?;
        if messages.is_empty() {
            tokio::time::sleep(wait).await;
            messages = self.read(after, max).await?;
        }
        if let Some(last) = messages.last() {
            self.lock().after = Some(last.seq);
        }
        Ok(messages
            .into_iter()
            .map(|message| {
                let receipt = Box::new(CursorReceipt { source: self.clone(), seq: message.seq });
                NewMessage { message, receipt }
            })
            .collect())
    }
}

struct CursorReceipt {
    source: SqliteNewMessages,
    seq: Seq,
}

#[async_trait]
impl Receipt for CursorReceipt {
    async fn ack(&self) -> Result<(), LogError> {
        sqlx::query("update webhook_cursor set seq = ?2 where name = ?1 and seq < ?2")
            .bind(CURSOR)
            .bind(seq_to_db(self.seq))
            .execute(&self.source.db.writer)
            .await
            .map_err(log_error)?;
        Ok(())
    }

    async fn retry(&self, delay: Duration) -> Result<(), LogError> {
        let mut position = self.source.lock();
        let before = self.seq.saturating_sub(1);
        position.after = Some(position.after.map_or(before, |after| after.min(before)));
        position.paused_until = Some(Instant::now() + delay);
        Ok(())
    }
}
