//! Webhooks: administrators register endpoints for events; the use cases that make a change
//! record its event in the outbox (see `webhook_outbox`) before they answer, and the delivery
//! workers (see `webhook_delivery`) take it from there.

use crate::domain::{
    AuditAction, Delivery, EventType, UserId, Webhook, WebhookId, WebhookSecret, WebhookUrl,
};
use crate::error::Error;

use super::admin::{AdminService, record};

/// The most deliveries one listing shows, and how many unless asked.
pub const MAX_DELIVERY_PAGE: usize = 100;
pub const DEFAULT_DELIVERY_PAGE: usize = 50;

/// A webhook just registered, with the secret shown this once.
#[derive(Debug, Clone)]
pub struct RegisteredWebhook {
    pub webhook: Webhook,
    pub secret: WebhookSecret,
}

impl AdminService {
    pub async fn create_webhook(
        &self,
        actor: UserId,
        url: WebhookUrl,
        events: Vec<EventType>,
    ) -> Result<RegisteredWebhook, Error> {
        self.require_admin(actor).await?;
        if !self.webhook_hosts.allows(&url) {
            return Err(Error::invalid(
                "url",
                "names a host this deployment does not deliver to (--webhook-hosts)",
            ));
        }
        let webhook = Webhook {
            id: WebhookId::generate(),
            url,
            events,
            created_at: self.clock.now(),
            created_by: Some(actor),
        };
        let secret = WebhookSecret::generate();
        self.webhooks.store().insert(&webhook, &secret).await?;
        self.record_webhook(actor, AuditAction::WebhookCreated, &webhook).await?;
        Ok(RegisteredWebhook { webhook, secret })
    }

    /// Every webhook, newest first.
    pub async fn webhooks(&self, actor: UserId) -> Result<Vec<Webhook>, Error> {
        self.require_admin(actor).await?;
        Ok(self.webhooks.store().all().await?)
    }

    /// Deletes a webhook: its pending deliveries are dropped, and an attempt in flight is the
    /// last.
    pub async fn delete_webhook(&self, actor: UserId, id: WebhookId) -> Result<Webhook, Error> {
        self.require_admin(actor).await?;
        let webhook = self.webhooks.store().delete(id).await?.ok_or(Error::NotFound("webhook"))?;
        self.record_webhook(actor, AuditAction::WebhookDeleted, &webhook).await?;
        Ok(webhook)
    }

    /// The webhook's latest `limit` deliveries, newest first: what operators look at when a
    /// receiver fails.
    pub async fn webhook_deliveries(
        &self,
        actor: UserId,
        id: WebhookId,
        limit: usize,
    ) -> Result<Vec<Delivery>, Error> {
        self.require_admin(actor).await?;
        if !(1..=MAX_DELIVERY_PAGE).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_DELIVERY_PAGE}")));
        }
        let store = self.webhooks.store();
        store.get(id).await?.ok_or(Error::NotFound("webhook"))?;
        Ok(store.deliveries(id, limit).await?)
    }

    async fn record_webhook(
        &self,
        actor: UserId,
        action: AuditAction,
        webhook: &Webhook,
    ) -> Result<(), Error> {
        let detail = Some(format!("{} ({})", webhook.url.as_str(), webhook.id));
        record(self.audit.as_ref(), self.clock.as_ref(), Some(actor), action, None, detail).await
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::{Role, UserRole, Username, WebhookEvent};
    use crate::ports::Clock;
    use crate::usecases::NewBan;
    use crate::usecases::testkit::Kit;

    fn url(raw: &str) -> WebhookUrl {
        WebhookUrl::parse(raw).unwrap()
    }

    /// Every delivery's (event type, data) enqueued so far, oldest first.
    async fn enqueued(kit: &Kit, webhook: WebhookId) -> Vec<(EventType, serde_json::Value)> {
        // Claimed "until now", so that they stay due for the next look.
        let now = kit.clock.now() + chrono::Duration::days(1);
        let due = kit.webhooks.store().claim(now, now, 1000).await.unwrap();
        let mine = due.into_iter().filter(|d| d.webhook_id == webhook);
        mine.map(|d| {
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            assert_eq!(body["type"], d.event_type.as_str());
            (d.event_type, body["data"].clone())
        })
        .collect()
    }

    #[tokio::test]
    async fn only_administrators_register_list_and_delete_webhooks_and_each_is_audited() {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let (root, bob) = (kit.user("root").await, kit.user("bob").await);
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();

        let hook = url("https://hooks.example.com/chat");
        let registered =
            admins.create_webhook(root, hook.clone(), vec![EventType::RoomCreated]).await.unwrap();
        assert_eq!(registered.webhook.created_by, Some(root));
        assert!(registered.secret.expose().starts_with("whsec_"));
        let second = admins.create_webhook(root, hook.clone(), vec![EventType::UserDisabled]).await.unwrap();
        let listed: Vec<WebhookId> = admins.webhooks(root).await.unwrap().iter().map(|w| w.id).collect();
        assert_eq!(listed, [second.webhook.id, registered.webhook.id], "newest first");

        let refused = admins.create_webhook(bob, hook, vec![EventType::RoomCreated]).await;
        assert!(matches!(refused, Err(Error::Forbidden(_))));
        assert!(matches!(admins.webhooks(bob).await, Err(Error::Forbidden(_))));
        assert!(matches!(admins.delete_webhook(bob, second.webhook.id).await, Err(Error::Forbidden(_))));
        let deliveries = admins.webhook_deliveries(bob, second.webhook.id, 10).await;
        assert!(matches!(deliveries, Err(Error::Forbidden(_))));
        let unknown = WebhookId::generate();
        assert!(matches!(admins.delete_webhook(root, unknown).await, Err(Error::NotFound("webhook"))));
        let unknown_deliveries = admins.webhook_deliveries(root, unknown, 10).await;
        assert!(matches!(unknown_deliveries, Err(Error::NotFound("webhook"))));
        for limit in [0, MAX_DELIVERY_PAGE + 1] {
            let bad = admins.webhook_deliveries(root, second.webhook.id, limit).await;
            assert!(matches!(bad, Err(Error::InvalidInput(_))), "{limit}");
        }

        let deleted = admins.delete_webhook(root, second.webhook.id).await.unwrap();
        assert_eq!(deleted, second.webhook);
        let again = admins.delete_webhook(root, second.webhook.id).await;
        assert!(matches!(again, Err(Error::NotFound("webhook"))));
        let actions: Vec<AuditAction> =
            admins.audit(root, None, 10).await.unwrap().entries.iter().map(|e| e.action).collect();
        assert_eq!(
            actions[..3],
            [AuditAction::WebhookDeleted, AuditAction::WebhookCreated, AuditAction::WebhookCreated]
        );
    }

    #[tokio::test]
    async fn room_membership_and_account_changes_enqueue_their_events_for_the_webhooks_that_want_them() {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let root = kit.user("root").await;
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();
        let everything = admins
            .create_webhook(root, url("http://127.0.0.1/all"), EventType::ALL.to_vec())
            .await
            .unwrap()
            .webhook
            .id;
        let rooms_only =
            admins.create_webhook(root, url("http://127.0.0.1/rooms"), vec![EventType::RoomCreated]).await;
        let rooms_only = rooms_only.unwrap().webhook.id;
        let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);

        let team = kit.group(ann, vec![bob]).await;
        kit.rooms.add_member(ann, team, cid, Role::Member).await.unwrap();
        let again = kit.rooms.add_member(ann, team, cid, Role::Member).await.unwrap();
        assert!(!again.added, "a member already: no event");
        kit.rooms.remove_member(bob, team, bob).await.unwrap();
        kit.rooms.remove_member(ann, team, cid).await.unwrap();
        kit.rooms.add_member(ann, team, cid, Role::Member).await.unwrap();
        kit.rooms.ban(ann, team, cid, NewBan { reason: None, expires_in: None }).await.unwrap();
        admins.disable(root, bob).await.unwrap();

        let events = enqueued(&kit, everything).await;
        let types: Vec<EventType> = events.iter().map(|(t, _)| *t).collect();
        use EventType::*;
        assert_eq!(
            types,
            [
                RoomCreated,
                MemberAdded,
                MemberRemoved,
                MemberRemoved,
                MemberAdded,
                MemberRemoved,
                UserDisabled
            ]
        );
        let (_, created) = &events[0];
        assert_eq!(created["room"]["id"], team.to_string());
        assert_eq!(created["member_ids"], serde_json::json!([ann, bob]));
        let (_, added) = &events[1];
        assert_eq!(added, &serde_json::json!({"room_id": team, "user_id": cid, "role": "member", "by": ann}));
        let reasons: Vec<&serde_json::Value> =
            events.iter().filter(|(t, _)| *t == MemberRemoved).map(|(_, d)| &d["reason"]).collect();
        assert_eq!(reasons, ["left", "removed", "banned"]);
        let (_, disabled) = &events[6];
        assert_eq!(
            (&disabled["user"]["id"], &disabled["by"]),
            (&serde_json::json!(bob), &serde_json::json!(root))
        );
        assert!(disabled["user"]["disabled_at"].is_string());

        let rooms_events = enqueued(&kit, rooms_only).await;
        assert_eq!(rooms_events.len(), 1, "only what it wants");
        assert_eq!(rooms_events[0].0, RoomCreated);
    }

    #[tokio::test]
    async fn an_event_recorded_twice_is_enqueued_once() {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let root = kit.user("root").await;
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();
        admins.create_webhook(root, url("http://127.0.0.1/a"), vec![EventType::RoomCreated]).await.unwrap();
        admins.create_webhook(root, url("http://127.0.0.1/b"), vec![EventType::RoomCreated]).await.unwrap();
        let event = WebhookEvent {
            id: Uuid::now_v7(),
            event_type: EventType::RoomCreated,
            created_at: kit.clock.now(),
            data: serde_json::json!({}),
        };
        assert_eq!(kit.webhooks.record(&event).await.unwrap(), 2);
        assert_eq!(kit.webhooks.record(&event).await.unwrap(), 0);
        let unwanted = WebhookEvent { id: Uuid::now_v7(), event_type: EventType::UserDisabled, ..event };
        assert_eq!(kit.webhooks.record(&unwanted).await.unwrap(), 0);
    }
}
