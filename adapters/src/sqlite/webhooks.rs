//! Webhooks and the outbox of their deliveries in the embedded database. One process, one
//! writer: a claim in a write transaction is never taken twice.

use async_trait::async_trait;
use chat_shared::domain::{Delivery, DeliveryId, Webhook, WebhookEvent, WebhookId, WebhookSecret};
use chat_shared::ports::{AttemptOutcome, DueDelivery, StoreError, WebhookStore};
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::rows::{
    DELIVERY_COLUMNS, DUE_COLUMNS, DeliveryRow, DueRow, WEBHOOK_COLUMNS, WebhookRow, events_to_db,
    outcome_to_db,
};

use super::db::SqliteDb;
use super::errors::store_error;

#[derive(Clone)]
pub struct SqliteWebhookStore {
    db: SqliteDb,
}

impl SqliteWebhookStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl WebhookStore for SqliteWebhookStore {
    async fn insert(&self, webhook: &Webhook, secret: &WebhookSecret) -> Result<(), StoreError> {
        sqlx::query(
            "insert into webhooks (id, url, events, secret, created_at, created_by)
             values (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(webhook.id.as_uuid())
        .bind(webhook.url.as_str())
        .bind(events_to_db(&webhook.events))
        .bind(secret.expose())
        .bind(webhook.created_at)
        .bind(webhook.created_by.map(|u| u.as_uuid()))
        .execute(&self.db.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn all(&self) -> Result<Vec<Webhook>, StoreError> {
        sqlx::query_as::<_, WebhookRow>(&format!("select {WEBHOOK_COLUMNS} from webhooks order by id desc"))
            .fetch_all(&self.db.readers)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(Webhook::try_from)
            .collect()
    }

    async fn get(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        let row =
            sqlx::query_as::<_, WebhookRow>(&format!("select {WEBHOOK_COLUMNS} from webhooks where id = ?1"))
                .bind(id.as_uuid())
                .fetch_optional(&self.db.readers)
                .await
                .map_err(store_error)?;
        row.map(Webhook::try_from).transpose()
    }

    async fn delete(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        let row = sqlx::query_as::<_, WebhookRow>(&format!(
            "delete from webhooks where id = ?1 returning {WEBHOOK_COLUMNS}"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.db.writer)
        .await
        .map_err(store_error)?;
        row.map(Webhook::try_from).transpose()
    }

    async fn enqueue(&self, event: &WebhookEvent) -> Result<usize, StoreError> {
        let mut tx = self.db.write().await.map_err(store_error)?;
        let enqueued = enqueue_in(&mut tx, event).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(enqueued)
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut tx = self.db.write().await.map_err(store_error)?;
        let rows = sqlx::query_as::<_, DueRow>(&format!(
            "select {DUE_COLUMNS}
             from webhook_deliveries d join webhooks w on w.id = d.webhook_id
             where d.status = 'pending' and d.next_attempt_at <= ?1
             order by d.next_attempt_at
             limit ?2"
        ))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        for row in &rows {
            sqlx::query(
                "update webhook_deliveries set attempts = attempts + 1, next_attempt_at = ?2 where id = ?1",
            )
            .bind(row.id)
            .bind(lease_until)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        rows.into_iter().map(DueDelivery::try_from).collect()
    }

    async fn record(
        &self,
        delivery: DeliveryId,
        attempt: u32,
        outcome: &AttemptOutcome,
    ) -> Result<bool, StoreError> {
        let columns = outcome_to_db(outcome);
        let updated = sqlx::query(
            "update webhook_deliveries
             set status = ?3, next_attempt_at = ?4, last_attempt_at = ?5, last_status = ?6,
                 last_error = ?7, delivered_at = ?8
             where id = ?1 and attempts = ?2 and status = 'pending'",
        )
        .bind(delivery.as_uuid())
        .bind(i64::from(attempt))
        .bind(columns.status)
        .bind(columns.next_attempt_at)
        .bind(outcome.at)
        .bind(outcome.status.map(i64::from))
        .bind(columns.last_error)
        .bind(columns.delivered_at)
        .execute(&self.db.writer)
        .await
        .map_err(store_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn deliveries(&self, webhook: WebhookId, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        sqlx::query_as::<_, DeliveryRow>(&format!(
            "select {DELIVERY_COLUMNS} from webhook_deliveries where webhook_id = ?1
             order by id desc limit ?2"
        ))
        .bind(webhook.as_uuid())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.db.readers)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(Delivery::try_from)
        .collect()
    }

    async fn backlog(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let due: i64 = sqlx::query_scalar(
            "select count(*) from webhook_deliveries where status = 'pending' and next_attempt_at <= ?1",
        )
        .bind(now)
        .fetch_one(&self.db.readers)
        .await
        .map_err(store_error)?;
        Ok(u64::try_from(due).unwrap_or_default())
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted =
            sqlx::query("delete from webhook_deliveries where status <> 'pending' and created_at < ?1")
                .bind(before)
                .execute(&self.db.writer)
                .await
                .map_err(store_error)?;
        Ok(deleted.rows_affected())
    }
}

/// Enqueues `event`'s deliveries on `conn`: in a change's transaction, the change's event is
/// stored with it or not at all.
pub(super) async fn enqueue_in(
    conn: &mut SqliteConnection,
    event: &WebhookEvent,
) -> Result<usize, StoreError> {
    let wanting: Vec<Uuid> =
        sqlx::query_scalar("select id from webhooks where instr(' ' || events || ' ', ' ' || ?1 || ' ') > 0")
            .bind(event.event_type.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(store_error)?;
    if wanting.is_empty() {
        return Ok(0);
    }
    let body = event.body();
    let mut enqueued = 0;
    for webhook in wanting {
        let inserted = sqlx::query(
            "insert into webhook_deliveries
                 (id, webhook_id, event_id, event_type, body, created_at, next_attempt_at)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             on conflict (webhook_id, event_id) do nothing",
        )
        .bind(DeliveryId::generate().as_uuid())
        .bind(webhook)
        .bind(event.id)
        .bind(event.event_type.as_str())
        .bind(&body)
        .bind(event.created_at)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
        enqueued += inserted.rows_affected() as usize;
    }
    Ok(enqueued)
}
