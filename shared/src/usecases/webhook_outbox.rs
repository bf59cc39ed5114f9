//! The outbox of webhook deliveries, as the use cases that make changes see it: the events they
//! hand to the stores with their changes, and the events of new messages recorded here.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::{EventType, WebhookEvent};
use crate::error::Error;
use crate::ports::{Clock, WebhookStore};

/// Makes the events of changes, which the stores record in the changes' own transactions,
/// records the events of new messages, and wakes this node's delivery worker. Every use case
/// that makes a change with an event goes through it.
pub struct WebhookOutbox {
    store: Arc<dyn WebhookStore>,
    clock: Arc<dyn Clock>,
    enqueued: Arc<Notify>,
}

impl WebhookOutbox {
    pub fn new(store: Arc<dyn WebhookStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, enqueued: Arc::new(Notify::new()) }
    }

    pub fn store(&self) -> &Arc<dyn WebhookStore> {
        &self.store
    }

    /// Notified when this node enqueued deliveries, so its worker need not wait for its next
    /// poll.
    pub fn enqueued(&self) -> Arc<Notify> {
        self.enqueued.clone()
    }

    /// A new event of `event_type` happening now, for a store to record with its change.
    pub fn event(&self, event_type: EventType, data: impl Serialize) -> Result<WebhookEvent, Error> {
        let data = serde_json::to_value(data).map_err(|e| Error::Internal(e.into()))?;
        Ok(WebhookEvent { id: Uuid::now_v7(), event_type, created_at: self.clock.now(), data })
    }

    /// Wakes this node's worker after a change stored with its event: the event's deliveries,
    /// if any webhook wanted it, are due now.
    pub fn stored(&self) {
        self.enqueued.notify_one();
    }

    /// Records `event`, whose id says whether it was recorded before; the new deliveries'
    /// count.
    pub async fn record(&self, event: &WebhookEvent) -> Result<usize, Error> {
        let enqueued = self.store.enqueue(event).await?;
        if enqueued > 0 {
            self.enqueued.notify_one();
        }
        Ok(enqueued)
    }
}
