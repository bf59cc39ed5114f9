use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{Delivery, DeliveryId, DeliveryStatus, Webhook, WebhookEvent, WebhookId, WebhookSecret};
use crate::ports::{AttemptOutcome, AttemptResult, DueDelivery, StoreError, WebhookStore};

/// The webhooks and deliveries of tests.
#[derive(Default)]
pub struct MemoryWebhookStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    webhooks: Vec<(Webhook, WebhookSecret)>,
    /// In the order they were enqueued, each with its body.
    deliveries: Vec<(Delivery, String)>,
}

impl MemoryWebhookStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`WebhookStore::enqueue`], for the in-memory stores whose changes record their events
    /// with them (their lock held, so the two are seen together).
    pub fn enqueue_now(&self, event: &WebhookEvent) -> usize {
        let mut state = self.lock();
        let wanting: Vec<WebhookId> =
            state.webhooks.iter().filter(|(w, _)| w.wants(event.event_type)).map(|(w, _)| w.id).collect();
        let mut added = 0;
        for webhook_id in wanting {
            let known =
                state.deliveries.iter().any(|(d, _)| d.webhook_id == webhook_id && d.event_id == event.id);
            if known {
                continue;
            }
            let delivery = Delivery {
                id: DeliveryId::generate(),
                webhook_id,
                event_id: event.id,
                event_type: event.event_type,
                status: DeliveryStatus::Pending,
                attempts: 0,
                created_at: event.created_at,
                next_attempt_at: Some(event.created_at),
                last_attempt_at: None,
                last_status: None,
                last_error: None,
                delivered_at: None,
            };
            state.deliveries.push((delivery, event.body()));
            added += 1;
        }
        added
    }
}

#[async_trait]
impl WebhookStore for MemoryWebhookStore {
    async fn insert(&self, webhook: &Webhook, secret: &WebhookSecret) -> Result<(), StoreError> {
        self.lock().webhooks.push((webhook.clone(), secret.clone()));
        Ok(())
    }

    async fn all(&self) -> Result<Vec<Webhook>, StoreError> {
        let mut webhooks: Vec<Webhook> = self.lock().webhooks.iter().map(|(w, _)| w.clone()).collect();
        webhooks.sort_by_key(|w| std::cmp::Reverse(w.id));
        Ok(webhooks)
    }

    async fn get(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        Ok(self.lock().webhooks.iter().find(|(w, _)| w.id == id).map(|(w, _)| w.clone()))
    }

    async fn delete(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        let mut state = self.lock();
        let Some(at) = state.webhooks.iter().position(|(w, _)| w.id == id) else { return Ok(None) };
        let (webhook, _) = state.webhooks.remove(at);
        state.deliveries.retain(|(d, _)| d.webhook_id != id);
        Ok(Some(webhook))
    }

    async fn enqueue(&self, event: &WebhookEvent) -> Result<usize, StoreError> {
        Ok(self.enqueue_now(event))
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut state = self.lock();
        let State { webhooks, deliveries } = &mut *state;
        let mut due: Vec<&mut (Delivery, String)> = deliveries
            .iter_mut()
            .filter(|(d, _)| {
                d.status == DeliveryStatus::Pending && d.next_attempt_at.is_some_and(|at| at <= now)
            })
            .collect();
        due.sort_by_key(|(d, _)| d.next_attempt_at);
        let mut claimed = Vec::new();
        for (delivery, body) in due.into_iter().take(limit) {
            let Some((webhook, secret)) = webhooks.iter().find(|(w, _)| w.id == delivery.webhook_id) else {
                continue;
            };
            delivery.attempts += 1;
            delivery.next_attempt_at = Some(lease_until);
            claimed.push(DueDelivery {
                id: delivery.id,
                webhook_id: webhook.id,
                event_id: delivery.event_id,
                event_type: delivery.event_type,
                url: webhook.url.clone(),
                secret: secret.clone(),
                body: body.clone(),
                created_at: delivery.created_at,
                attempt: delivery.attempts,
            });
        }
        Ok(claimed)
    }

    async fn record(
        &self,
        delivery: DeliveryId,
        attempt: u32,
        outcome: &AttemptOutcome,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some((d, _)) = state
            .deliveries
            .iter_mut()
            .find(|(d, _)| d.id == delivery && d.attempts == attempt && d.status == DeliveryStatus::Pending)
        else {
            return Ok(false);
        };
        d.last_attempt_at = Some(outcome.at);
        d.last_status = outcome.status;
        match &outcome.result {
            AttemptResult::Delivered => {
                d.status = DeliveryStatus::Delivered;
                d.next_attempt_at = None;
                d.last_error = None;
                d.delivered_at = Some(outcome.at);
            }
            AttemptResult::Retry { error, next_attempt_at } => {
                d.next_attempt_at = Some(*next_attempt_at);
                d.last_error = Some(error.clone());
            }
            AttemptResult::GaveUp { error } => {
                d.status = DeliveryStatus::Failed;
                d.next_attempt_at = None;
                d.last_error = Some(error.clone());
            }
        }
        Ok(true)
    }

    async fn deliveries(&self, webhook: WebhookId, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let state = self.lock();
        let mut deliveries: Vec<Delivery> = state
            .deliveries
            .iter()
            .filter(|(d, _)| d.webhook_id == webhook)
            .map(|(d, _)| d.clone())
            .collect();
        deliveries.sort_by_key(|d| std::cmp::Reverse(d.id));
        deliveries.truncate(limit);
        Ok(deliveries)
    }

    async fn backlog(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let state = self.lock();
        let due = state.deliveries.iter().filter(|(d, _)| {
            d.status == DeliveryStatus::Pending && d.next_attempt_at.is_some_and(|at| at <= now)
        });
        Ok(due.count() as u64)
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let count = state.deliveries.len();
        state.deliveries.retain(|(d, _)| d.status == DeliveryStatus::Pending || d.created_at >= before);
        Ok((count - state.deliveries.len()) as u64)
    }
}
