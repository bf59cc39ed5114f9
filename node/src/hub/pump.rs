//! A followed room's pump: its live feed delivered in seq order, gaps filled from the log,
//! and its events passed on.

use std::sync::Arc;
use std::time::Duration;

use chat_shared::domain::{Entry, RoomId, Seq};
use chat_shared::error::Error;
use chat_shared::ports::{EventStream, LiveStream, MessageLog};
use futures::StreamExt;

use chat_shared::usecases::MessageService;

use super::delivery::{close_all, deliver, deliver_event, deliver_in_order};
use super::quotes::quoted;
use super::subscriber::Subscribers;

/// How many messages one gap fill reads back from the log at most.
pub(super) const GAP_FILL_LIMIT: usize = 10_000;

/// Follows one room's feed and delivers in seq order, filling any gap from the log first;
/// passes the room's events on as they come.
pub(super) async fn pump(
    room: RoomId,
    mut live: LiveStream,
    mut events: EventStream,
    log: Arc<dyn MessageLog>,
    quotes: Option<Arc<MessageService>>,
    subscribers: Subscribers,
) {
    let quotes = quotes.as_deref();
    let mut last_seq: Option<Seq> = None;
    let mut quiet_check = QuietCheck::default();
    loop {
        let next = tokio::select! {
            next = live.next() => match next {
                Some(next) => next,
                None => break,
            },
            Some(event) = events.next() => {
                deliver_event(&subscribers, room, &event);
                continue;
            }
            () = quiet_check.due() => {
                let Some(last) = last_seq else { continue };
                match log.read_after(room, last, GAP_FILL_LIMIT).await {
                    Ok(missed) => {
                        quiet_check.done();
                        if let Some(newest) = missed.last().map(Entry::seq) {
                            metrics::counter!("chat_fanout_gaps_total").increment(1);
                            deliver_in_order(&subscribers, quoted_all(quotes, missed).await, last);
                            last_seq = Some(newest);
                            // The feed dropped what the check found; it may drop what follows
                            // too, and with nothing live after it only a check finds it.
                            quiet_check.arm();
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%room, error = %err, "could not check the room's log for missed messages");
                        quiet_check.failed();
                    }
                }
                continue;
            }
        };
        let seq = next.entry.seq();
        if let Some(last) = last_seq {
            if seq <= last {
                continue;
            }
            if next.previous_seq > last {
                metrics::counter!("chat_fanout_gaps_total").increment(1);
                match fill_gap(log.as_ref(), room, last, next.previous_seq).await {
                    Ok(missed) => deliver_in_order(&subscribers, quoted_all(quotes, missed).await, last),
                    Err(err) => {
                        // Delivering on would skip messages for good: the room's connections
                        // are closed instead and resume with `since`, which reads the log.
                        tracing::error!(%room, error = %err, "could not fill a gap in the live feed");
                        metrics::counter!("chat_fanout_gap_fill_failures_total").increment(1);
                        close_all(&subscribers);
                    }
                }
            }
        }
        deliver(&subscribers, &quoted(quotes, next.entry).await, next.previous_seq);
        last_seq = Some(seq);
        quiet_check.arm();
    }
}

/// Entries read back from the log, each with its quote.
async fn quoted_all(quotes: Option<&MessageService>, entries: Vec<Entry>) -> Vec<Entry> {
    let mut done = Vec::with_capacity(entries.len());
    for entry in entries {
        done.push(quoted(quotes, entry).await);
    }
    done
}

/// How long a room's feed stays quiet before the node asks the log whether it missed the
/// room's newest message: a gap shows only with the message after it, and the last message
/// before a pause has none. One cheap read per pause, not per message.
pub(super) const QUIET_CHECK_AFTER: Duration = Duration::from_secs(1);
/// The longest wait between checks while the log cannot be read: once it can again (a NATS
/// stream has elected its next leader), a message the feed dropped just before reaches the
/// room's connections within this. One read per followed room per wait, while it lasts.
const QUIET_CHECK_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// When the pump next looks for messages the live feed dropped.
#[derive(Default)]
struct QuietCheck {
    due_at: Option<tokio::time::Instant>,
    backoff: Option<Duration>,
}

impl QuietCheck {
    /// A message came: look once the feed has been quiet for a while.
    fn arm(&mut self) {
        self.backoff = None;
        self.due_at = Some(tokio::time::Instant::now() + QUIET_CHECK_AFTER);
    }

    fn done(&mut self) {
        self.due_at = None;
        self.backoff = None;
    }

    /// The log could not be read: try again later, less often the longer it lasts.
    fn failed(&mut self) {
        let backoff = self.backoff.map_or(QUIET_CHECK_AFTER, |b| (b * 2).min(QUIET_CHECK_MAX_BACKOFF));
        self.backoff = Some(backoff);
        self.due_at = Some(tokio::time::Instant::now() + backoff);
    }

    async fn due(&self) {
        match self.due_at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}

/// Attempts at reading a gap back before giving up on it, and the pause after each failure.
const GAP_FILL_RETRIES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];

/// The room's entries after `last` up to `previous`, the seq the live feed names as the one
/// before its next entry, read back from the log. A read that does not reach `previous`
/// missed something and is tried again; a gap often comes with a brief disconnection. The
/// read reaches it when it returns `previous` or anything after it: `previous` itself may
/// have been redacted (a deleted message, or an edit of one), and the live entry that named
/// it is stored before it is delivered.
async fn fill_gap(log: &dyn MessageLog, room: RoomId, last: Seq, previous: Seq) -> Result<Vec<Entry>, Error> {
    let mut pauses = GAP_FILL_RETRIES.iter();
    loop {
        let failure = match log.read_after(room, last, GAP_FILL_LIMIT).await {
            Ok(mut missed) => {
                let reached = missed.last().map(Entry::seq);
                if reached >= Some(previous) {
                    missed.retain(|e| e.seq() <= previous);
                    return Ok(missed);
                }
                Error::Internal(format!("the log returned the gap up to {reached:?}, not {previous}").into())
            }
            Err(err) => err.into(),
        };
        match pauses.next() {
            Some(pause) => tokio::time::sleep(*pause).await,
            None => return Err(failure),
        }
    }
}
