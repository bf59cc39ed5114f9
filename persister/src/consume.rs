//! The consume loop: fetch a batch, decode it, write it in one transaction, then acknowledge.
//! A message is acknowledged only after its row is committed, so a crash anywhere means
//! redelivery, and the idempotent insert turns redelivery into nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_adapters::jetstream::decode_stored;
use chat_adapters::nats::{Delivery, DurableConsumer};
use chat_shared::domain::Message;
use chat_shared::ports::MessageStore;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy)]
pub struct ConsumeSettings {
    pub batch_size: usize,
    pub fetch_wait: Duration,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub async fn run(
    consumer: DurableConsumer,
    store: Arc<dyn MessageStore>,
    settings: ConsumeSettings,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    let mut last_lag_report = Instant::now() - Duration::from_secs(60);
    while !*stop.borrow() {
        if last_lag_report.elapsed() > Duration::from_secs(5) {
            if let Ok(pending) = consumer.pending().await {
                metrics::gauge!("chat_persister_lag_messages").set(pending as f64);
            }
            last_lag_report = Instant::now();
        }
        let batch = tokio::select! {
            batch = consumer.fetch(settings.batch_size, settings.fetch_wait) => batch,
            _ = stop.changed() => break,
        };
        let deliveries = match batch {
            Ok(deliveries) => deliveries,
            Err(err) => {
                tracing::warn!(error = %err, "fetching from the stream failed");
                backoff.wait(&mut stop).await;
                continue;
            }
        };
        if deliveries.is_empty() {
            continue;
        }
        let (messages, deliveries) = decode(deliveries).await;
        if !write(&*store, &messages, &mut backoff, &mut stop).await {
            // Shutting down with the batch unwritten: it stays unacknowledged for redelivery.
            break;
        }
        for delivery in &deliveries {
            // A lost ack means one more delivery, which the idempotent insert absorbs.
            if let Err(err) = delivery.ack().await {
                tracing::warn!(seq = delivery.stream_seq, error = %err, "acknowledging failed");
            }
        }
        backoff.reset();
    }
}

/// Decodes a batch; what does not decode can never be written, so it is terminated (not
/// redelivered), logged and counted.
async fn decode(deliveries: Vec<Delivery>) -> (Vec<Message>, Vec<Delivery>) {
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
async fn write(
    store: &dyn MessageStore,
    messages: &[Message],
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<bool>,
) -> bool {
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
