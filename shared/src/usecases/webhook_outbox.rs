//! The outbox of webhook deliveries, as the use cases that make changes see it: where they
//! record each change's event before they answer.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::{EventType, WebhookEvent};
use crate::error::Error;
use crate::ports::{Clock, WebhookStore};

/// Records events for the webhooks that want them, durably, and wakes this node's delivery
/// worker. Every use case that makes a change with an event goes through it.
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

    /// Records a new event of `event_type` happening now. Called after the change is stored and
    /// before it is answered: an error here fails the request, so a change whose event was
    /// not recorded is never acknowledged (it is stored all the same: see docs/API.md).
    pub async fn emit(&self, event_type: EventType, data: impl Serialize) -> Result<(), Error> {
        let data = serde_json::to_value(data).map_err(|e| Error::Internal(e.into()))?;
        let event = WebhookEvent { id: Uuid::now_v7(), event_type, created_at: self.clock.now(), data };
        self.record(&event).await.map(|_| ())
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
