//! The consume pipeline: one task takes batches from the consumer's stream (pulled ahead of
//! need), up to `writers` batches are written
//! at once, each in one transaction, and a batch is acknowledged only after its rows are
//! committed, so a crash anywhere means redelivery, and the idempotent insert turns redelivery
//! into nothing. Batches may commit in any order: rows are keyed by their stream seq, and
//! readers of the store expect holes below its highest seq.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_adapters::jetstream::decode_stored;
use chat_adapters::nats::{Deliveries, Delivery, DurableConsumer, NatsLog};
use chat_shared::domain::{Change, Entry, Message, Reaction, RoomId, Seq};
use chat_shared::ports::MessageStore;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};

#[derive(Debug, Clone, Copy)]
pub struct ConsumeSettings {
    pub batch_size: usize,
    pub fetch_wait: Duration,
    /// Batches written at once.
    pub writers: usize,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the backlog is read for the lag gauge.
const LAG_EVERY: Duration = Duration::from_secs(5);

pub async fn run(
    consumer: DurableConsumer,
    store: Arc<dyn MessageStore>,
    log: NatsLog,
    settings: ConsumeSettings,
    stop: watch::Receiver<bool>,
) {
    // One batch fetched ahead per writer keeps every writer busy while a backlog lasts.
    let (batches_tx, batches_rx) = mpsc::channel(settings.writers.max(1));
    let lag = tokio::spawn(report_lag(consumer.clone(), stop.clone()));
    tokio::join!(
        fetch(consumer, settings, stop.clone(), batches_tx),
        write_batches(Target { store, log }, settings.writers.max(1), stop, batches_rx),
    );
    lag.abort();
}

/// Takes batches from the consumer's stream until shutdown; a batch taken is always handed
/// on, to be written. A broken stream is replaced after a backoff.
async fn fetch(
    consumer: DurableConsumer,
    settings: ConsumeSettings,
    mut stop: watch::Receiver<bool>,
    batches: mpsc::Sender<Vec<Delivery>>,
) {
    let mut backoff = Backoff::default();
    let mut stream: Option<Deliveries> = None;
    while !*stop.borrow() {
        let deliveries = match stream.as_mut() {
            Some(deliveries) => deliveries,
            None => match consumer.deliveries(settings.batch_size).await {
                Ok(deliveries) => stream.insert(deliveries),
                Err(err) => {
                    tracing::warn!(error = %err, "consuming the stream failed to start");
                    backoff.wait(&mut stop).await;
                    continue;
                }
            },
        };
        let batch = tokio::select! {
            batch = deliveries.next_batch(settings.batch_size, settings.fetch_wait) => batch,
            _ = stop.changed() => break,
        };
        match batch {
            Ok(batch) if batch.is_empty() => {}
            Ok(batch) => {
                backoff.reset();
                if batches.send(batch).await.is_err() {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "consuming the stream failed");
                stream = None;
                backoff.wait(&mut stop).await;
            }
        }
    }
}

/// Where a batch goes: messages and changes to the store, redactions back to the stream.
#[derive(Clone)]
struct Target {
    store: Arc<dyn MessageStore>,
    log: NatsLog,
}

/// Writes the fetched batches, `writers` at a time, until the fetcher is done and every batch
/// it handed on is written (or, at shutdown, given up unacknowledged for redelivery).
async fn write_batches(
    target: Target,
    writers: usize,
    stop: watch::Receiver<bool>,
    mut batches: mpsc::Receiver<Vec<Delivery>>,
) {
    let mut writing = FuturesUnordered::new();
    loop {
        tokio::select! {
            batch = batches.recv(), if writing.len() < writers => match batch {
                Some(batch) => writing.push(write_and_ack(target.clone(), batch, stop.clone())),
                None => break,
            },
            Some(()) = writing.next() => {}
        }
    }
    while writing.next().await.is_some() {}
}

async fn write_and_ack(target: Target, deliveries: Vec<Delivery>, mut stop: watch::Receiver<bool>) {
    let (entries, deliveries) = decode(deliveries).await;
    let Split { messages, changes, reactions } = split(entries);
    let written = (messages.is_empty() || write(&*target.store, &messages, &mut stop).await)
        && (changes.is_empty() && reactions.is_empty()
            || apply(&target, &changes, &reactions, &mut stop).await);
    if deliveries.is_empty() || !written {
        // Nothing to write, or shutting down with the batch unwritten: it stays
        // unacknowledged for redelivery.
        return;
    }
    for delivery in &deliveries {
        // A lost ack means one more delivery, which the idempotent insert absorbs.
        if let Err(err) = delivery.ack().await {
            tracing::warn!(seq = delivery.stream_seq, error = %err, "acknowledging failed");
        }
    }
}

/// A batch sorted by what writing each entry takes.
#[derive(Debug, Default)]
struct Split {
    messages: Vec<Message>,
    changes: Vec<Change>,
    reactions: Vec<Reaction>,
}

/// Splits a batch into the messages to insert, the changes and the reactions to apply. A
/// message that a change of the same batch is about is left out: the change carries the whole
/// message as it leaves it and writes its row, so the text of a message deleted in the batch
/// that brought it never reaches the database.
fn split(entries: Vec<Entry>) -> Split {
    let mut split = Split::default();
    for entry in entries {
        match entry {
            Entry::Message(message) => split.messages.push(message),
            Entry::Change(change) => split.changes.push(change),
            Entry::Reaction(reaction) => split.reactions.push(reaction),
        }
    }
    if !split.changes.is_empty() {
        let changed: HashSet<(RoomId, Seq)> =
            split.changes.iter().map(|change| (change.message.room_id, change.message.seq)).collect();
        split.messages.retain(|message| !changed.contains(&(message.room_id, message.seq)));
    }
    split
}

/// Decodes a batch; what does not decode can never be written, so it is terminated (not
/// redelivered), logged and counted.
async fn decode(deliveries: Vec<Delivery>) -> (Vec<Entry>, Vec<Delivery>) {
    let mut messages = Vec::with_capacity(deliveries.len());
    let mut kept = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        match decode_stored(&delivery.payload, delivery.stream_seq) {
            Ok(message) => {
                messages.push(message);
                kept.push(delivery);
            }
            Err(err) => {
                tracing::error!(seq = delivery.stream_seq, error = %err, "poison message terminated");
                metrics::counter!("chat_persister_poison_total").increment(1);
                if let Err(err) = delivery.term().await {
                    tracing::warn!(seq = delivery.stream_seq, error = %err, "terminating failed");
                }
            }
        }
    }
    (messages, kept)
}

/// Writes until it succeeds: while PostgreSQL is down the batch waits here, unacknowledged,
/// and nothing is lost. `false` when shutdown came first and the batch is not written.
async fn write(store: &dyn MessageStore, messages: &[Message], stop: &mut watch::Receiver<bool>) -> bool {
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        match store.insert_batch(messages).await {
            Ok(inserted) => {
                metrics::histogram!("chat_persister_insert_seconds").record(started.elapsed().as_secs_f64());
                metrics::histogram!("chat_persister_batch_size").record(messages.len() as f64);
                metrics::counter!("chat_persister_rows_total").increment(inserted);
                metrics::counter!("chat_persister_duplicates_total")
                    .increment(messages.len() as u64 - inserted);
                return true;
            }
            Err(err) => {
                metrics::counter!("chat_persister_insert_errors_total").increment(1);
                tracing::warn!(error = %err, batch = messages.len(), "writing a batch failed; retrying");
                if *stop.borrow() {
                    return false;
                }
                backoff.wait(stop).await;
            }
        }
    }
}

/// Applies reactions and changes until it succeeds, then erases from the stream what the
/// changes redacted: only then is the batch acknowledged, so a crash in between applies and
/// erases again. `false` when shutdown came first.
async fn apply(
    target: &Target,
    changes: &[Change],
    reactions: &[Reaction],
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = Backoff::default();
    loop {
        let outcome = async {
            if !reactions.is_empty() {
                target.store.apply_reactions(reactions).await.map_err(|err| err.to_string())?;
            }
            if !changes.is_empty() {
                let redacted = target.store.apply_changes(changes).await.map_err(|err| err.to_string())?;
                target.log.remove(&redacted.log_seqs).await.map_err(|err| err.to_string())?;
            }
            Ok::<(), String>(())
        };
        match outcome.await {
            Ok(()) => {
                metrics::counter!("chat_persister_changes_total").increment(changes.len() as u64);
                metrics::counter!("chat_persister_reactions_total").increment(reactions.len() as u64);
                return true;
            }
            Err(err) => {
                metrics::counter!("chat_persister_insert_errors_total").increment(1);
                tracing::warn!(
                    error = %err,
                    changes = changes.len(),
                    reactions = reactions.len(),
                    "applying changes failed; retrying"
                );
                if *stop.borrow() {
                    return false;
                }
                backoff.wait(stop).await;
            }
        }
    }
}

/// Sets the lag gauge from the consumer's backlog, on its own clock so that it stays current
/// while writes are stuck retrying.
async fn report_lag(consumer: DurableConsumer, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Ok(pending) = consumer.pending().await {
            metrics::gauge!("chat_persister_lag_messages").set(pending as f64);
        }
        tokio::select! {
            _ = tokio::time::sleep(LAG_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Exponential backoff from 100 ms to 5 s, cut short by shutdown.
#[derive(Default)]
struct Backoff {
    current: Option<Duration>,
}

impl Backoff {
    async fn wait(&mut self, stop: &mut watch::Receiver<bool>) {
        let delay = self.current.map_or(Duration::from_millis(100), |d| (d * 2).min(MAX_BACKOFF));
        self.current = Some(delay);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => {}
        }
    }

    fn reset(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::domain::{ChangeKind, MessageId, UserId};

    use super::*;

    fn message(room: RoomId, seq: Seq) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": MessageId::generate(),
            "room_id": room,
            "seq": seq,
            "sender_id": UserId::generate(),
            "content": "hi",
            "kind": "text",
            "metadata": null,
            "client_msg_id": null,
            "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn deletion(of: &Message, seq: Seq) -> Change {
        let tombstone = of.tombstone(of.sender_id, of.created_at);
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
    fn a_message_changed_in_its_own_batch_is_left_to_the_change() {
        let room = RoomId::generate();
        let (deleted, kept, elsewhere) = (message(room, 1), message(room, 2), message(RoomId::generate(), 1));
        let change = deletion(&deleted, 3);
        let batch = [&deleted, &kept, &elsewhere].map(|m| Entry::Message(m.clone()));

        let Split { messages, changes, reactions } =
            split([&batch[..], &[Entry::Change(change.clone())]].concat());

        assert_eq!(messages, [kept, elsewhere]);
        assert_eq!(changes, [change]);
        assert!(reactions.is_empty());
    }
}
