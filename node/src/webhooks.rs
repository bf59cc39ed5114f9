//! The webhook workers every node runs: the delivery worker over the shared outbox claims due
//! deliveries and makes their attempts concurrently, each on a task of its own, so a receiver
//! that is slow or down holds one slot for at most the attempt's time limit, and nothing of
//! messaging waits for it; beside it, `message_events` makes the events of new messages.

use std::sync::Arc;
use std::time::Duration;

use chat_shared::usecases::{Attempted, DeliveryResult, MessageWebhooks, WebhookDispatcher};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Attempts in flight at once on one node.
const CONCURRENCY: usize = 16;
/// How often the outbox is looked at when nothing woke the worker: deliveries enqueued by
/// other nodes, and retries falling due, wait at most this long.
const POLL: Duration = Duration::from_secs(1);
/// How often the backlog gauge is refreshed (a count over the outbox).
const BACKLOG_EVERY: Duration = Duration::from_secs(5);
/// How long delivered and failed deliveries stay listed, and how often older ones are deleted.
const KEEP_DELIVERIES: Duration = Duration::from_secs(7 * 24 * 3600);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The workers, until they are started.
pub struct WebhookWorker {
    dispatcher: Arc<WebhookDispatcher>,
    /// Notified when this node enqueued deliveries.
    enqueued: Arc<Notify>,
    messages: Arc<MessageWebhooks>,
}

impl WebhookWorker {
    pub fn new(
        dispatcher: Arc<WebhookDispatcher>,
        enqueued: Arc<Notify>,
        messages: Arc<MessageWebhooks>,
    ) -> Self {
        Self { dispatcher, enqueued, messages }
    }

    /// Makes the events of new messages and delivers until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let messages = crate::message_events::run(self.messages.clone(), stop.clone());
        tokio::join!(messages, self.deliver(stop));
    }

    /// Delivers until `stop`, then waits for the attempts in flight (each ends within the
    /// attempt's time limit); an attempt cut short is made again when its claim runs out.
    async fn deliver(&self, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let mut attempts = JoinSet::new();
        let mut backlog_due = Instant::now();
        let mut prune_due = Instant::now() + PRUNE_EVERY;
        loop {
            while attempts.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = attempts.join_next() => continue,
                    () = stop.cancelled() => break,
                }
            }
            match self.dispatcher.claim(free).await {
                Ok(due) if !due.is_empty() => {
                    for delivery in due {
                        let Ok(slot) = slots.clone().acquire_owned().await else { break };
                        let dispatcher = self.dispatcher.clone();
                        attempts.spawn(async move {
                            match dispatcher.attempt(delivery).await {
                                Ok(attempted) => count(&attempted),
                                Err(err) => {
                                    metrics::counter!("chat_webhook_store_errors_total").increment(1);
                                    tracing::warn!(error = %err, "a webhook attempt's outcome was not recorded");
                                }
                            }
                            drop(slot);
                        });
                    }
                    // More may be due already.
                    continue;
                }
                Ok(_) => {}
                Err(err) => {
                    metrics::counter!("chat_webhook_store_errors_total").increment(1);
                    tracing::warn!(error = %err, "claiming webhook deliveries failed");
                }
            }
            if Instant::now() >= backlog_due {
                backlog_due = Instant::now() + BACKLOG_EVERY;
                if let Ok(due) = self.dispatcher.backlog().await {
                    metrics::gauge!("chat_webhook_backlog").set(due as f64);
                }
            }
            if Instant::now() >= prune_due {
                prune_due = Instant::now() + PRUNE_EVERY;
                match self.dispatcher.prune(KEEP_DELIVERIES).await {
                    Ok(pruned) => tracing::debug!(pruned, "old webhook deliveries deleted"),
                    Err(err) => tracing::warn!(error = %err, "deleting old webhook deliveries failed"),
                }
            }
            tokio::select! {
                () = self.enqueued.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = stop.cancelled() => break,
            }
        }
        while attempts.join_next().await.is_some() {}
    }
}

fn count(attempted: &Attempted) {
    let event = attempted.event_type.as_str();
    let outcome = match attempted.result {
        DeliveryResult::Delivered => "delivered",
        DeliveryResult::WillRetry | DeliveryResult::GaveUp => "failed",
    };
    metrics::counter!("chat_webhook_attempts_total", "event" => event, "outcome" => outcome).increment(1);
    metrics::histogram!("chat_webhook_attempt_seconds", "event" => event)
        .record(attempted.elapsed.as_secs_f64());
    if attempted.result == DeliveryResult::GaveUp {
        metrics::counter!("chat_webhook_given_up_total", "event" => event).increment(1);
    }
}
