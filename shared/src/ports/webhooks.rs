use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::errors::StoreError;
use super::messages::LogError;
use crate::domain::{
    Delivery, DeliveryId, EventType, Message, Webhook, WebhookEvent, WebhookId, WebhookSecret, WebhookUrl,
};

/// The registered webhooks and the outbox of their deliveries: one row per (webhook, event),
/// kept until it is delivered or given up, so nothing is lost while a receiver is down or a
/// node stops, and nothing is enqueued twice.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert(&self, webhook: &Webhook, secret: &WebhookSecret) -> Result<(), StoreError>;

    /// Every webhook, newest first.
    async fn all(&self) -> Result<Vec<Webhook>, StoreError>;

    async fn get(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError>;

    /// Deletes a webhook with its deliveries, pending ones included; `None` for an unknown id.
    async fn delete(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError>;

    /// Enqueues a delivery of `event` to every webhook that wants its type, due at once,
    /// unless that webhook has one of this event already (by the event's id): recording an
    /// event again enqueues nothing. The new deliveries' count.
    async fn enqueue(&self, event: &WebhookEvent) -> Result<usize, StoreError>;

    /// Takes up to `limit` pending deliveries due at `now`, oldest due first, for one attempt
    /// each: their attempt count goes up by one and they are not due again before
    /// `lease_until`, so no other worker takes them meanwhile (and a worker that dies holding
    /// them only delays them).
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records how attempt `attempt` of a claimed delivery ended. Ignored (`false`) when the
    /// delivery is gone, no longer pending, or was claimed again since (its lease ran out):
    /// the later claim's outcome is the one that counts.
    async fn record(
        &self,
        delivery: DeliveryId,
        attempt: u32,
        outcome: &AttemptOutcome,
    ) -> Result<bool, StoreError>;

    /// The webhook's latest `limit` deliveries, newest first.
    async fn deliveries(&self, webhook: WebhookId, limit: usize) -> Result<Vec<Delivery>, StoreError>;

    /// Pending deliveries due at `now`: how far behind the workers are.
    async fn backlog(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Deletes the delivered and failed deliveries enqueued before `before`; how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// A delivery a worker claimed: all it needs to make the attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct DueDelivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: Uuid,
    pub event_type: EventType,
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
    /// The event's envelope, the same bytes on every attempt.
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// This attempt's number, from 1.
    pub attempt: u32,
}

/// How an attempt ended, as the delivery records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub at: DateTime<Utc>,
    /// The answer's HTTP status, when one came.
    pub status: Option<u16>,
    pub result: AttemptResult,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    /// Failed; the next attempt is due then.
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    /// Failed, and there will be no other attempt.
    GaveUp {
        error: String,
    },
}

/// POSTs deliveries to receivers.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` (JSON) with `headers` to `url`, following no redirect. The answer's status,
    /// whatever it is; an error when none came in time.
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: &str)
    -> Result<u16, SendError>;
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("timed out")]
    Timeout,
    #[error("connection failed")]
    Connect,
    /// Anything else: an invalid URL, a TLS failure, a broken answer.
    #[error("{0}")]
    Other(String),
}

/// Every message appended to the log from the moment the source was first opened, each handed
/// to one of the nodes sharing it, and again until it is acknowledged: what `message.created`
/// events are made from, so that none is lost when a node dies. JetStream's durable consumer in
/// a cluster, a cursor over the log in the embedded database.
#[async_trait]
pub trait NewMessages: Send + Sync {
    /// The next messages, at most `max`, oldest first: those that arrive within `wait`. Empty
    /// when none did. Each must be acknowledged or handed back.
    async fn next(&self, max: usize, wait: std::time::Duration) -> Result<Vec<NewMessage>, LogError>;
}

/// A message of a [`NewMessages`] source, and how to say what became of it.
pub struct NewMessage {
    pub message: Message,
    pub receipt: Box<dyn Receipt>,
}

#[async_trait]
pub trait Receipt: Send + Sync {
    /// Done with: never handed out again. Lost acknowledgements mean one more delivery.
    async fn ack(&self) -> Result<(), LogError>;

    /// Not done: handed out again, after `delay`. A source that keeps order (the embedded
    /// one) hands out again everything from the first message handed back.
    async fn retry(&self, delay: std::time::Duration) -> Result<(), LogError>;
}
