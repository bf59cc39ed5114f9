//! `message.created`: made from the log's new messages (see [`NewMessages`]), not from the
//! send, so a send pays nothing for it and no event is lost when a node dies between the two.
//! Its point is push notifications: it names the members who are not connected to the room.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{EventType, Message, UserId, WebhookEvent};
use crate::error::Error;
use crate::ports::{NewMessage, NewMessages, PresenceStore, RoomStore};

use super::webhook_outbox::WebhookOutbox;

/// What a pass over a batch of new messages did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MessagesHandled {
    /// Messages acknowledged.
    pub done: usize,
    /// Events enqueued for them.
    pub events: usize,
    /// Whether a message was handed back (the store was unavailable): wait before the next.
    pub failed: bool,
}

/// Turns new messages into `message.created` events for the webhooks that want them.
pub struct MessageWebhooks {
    source: Arc<dyn NewMessages>,
    rooms: Arc<dyn RoomStore>,
    presence: Arc<dyn PresenceStore>,
    outbox: Arc<WebhookOutbox>,
}

/// How long a message handed back waits before it is handed out again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl MessageWebhooks {
    pub fn new(
        source: Arc<dyn NewMessages>,
        rooms: Arc<dyn RoomStore>,
        presence: Arc<dyn PresenceStore>,
        outbox: Arc<WebhookOutbox>,
    ) -> Self {
        Self { source, rooms, presence, outbox }
    }

    /// Takes up to `max` new messages (waiting up to `wait` for them) and records the event of
    /// each, in order, acknowledging each once its event is recorded. At the first that
    /// fails, it and the rest are handed back.
    pub async fn handle_next(&self, max: usize, wait: Duration) -> Result<MessagesHandled, Error> {
        let batch = self.source.next(max, wait).await?;
        let mut handled = MessagesHandled::default();
        if batch.is_empty() {
            return Ok(handled);
        }
        // One look at the webhooks per batch: when none wants the event, there is no need to
        // ask who is offline.
        let wanted =
            self.outbox.store().all().await.map(|all| all.iter().any(|w| w.wants(EventType::MessageCreated)));
        let mut messages = batch.into_iter();
        for NewMessage { message, receipt } in messages.by_ref() {
            let recorded = match &wanted {
                Ok(false) => Ok(0),
                Ok(true) => self.record(&message).await,
                Err(_) => Err(Error::Unavailable("the webhooks could not be read".into())),
            };
            match recorded {
                Ok(events) => {
                    handled.done += 1;
                    handled.events += events;
                    // A lost acknowledgement means one more delivery, which enqueues nothing.
                    if let Err(err) = receipt.ack().await {
                        tracing::warn!(error = %err, "a message's event was recorded but not acknowledged");
                    }
                }
                Err(err) => {
                    tracing::warn!(message = %message.id, error = %err, "message.created not recorded; retrying");
                    handled.failed = true;
                    let _ = receipt.retry(RETRY_AFTER).await;
                    break;
                }
            }
        }
        for NewMessage { receipt, .. } in messages {
            let _ = receipt.retry(RETRY_AFTER).await;
        }
        Ok(handled)
    }

    /// Records `message.created` of `message` unless every member but its sender is connected
    /// to its room: its id is the message's, so recording it again enqueues nothing. While
    /// presence cannot be read, every member but the sender counts as offline (a notification
    /// too many rather than one missed).
    pub async fn record(&self, message: &Message) -> Result<usize, Error> {
        let members = self.rooms.members(message.room_id).await?;
        let online: HashSet<UserId> = match self.presence.online(message.room_id, members.len()).await {
            Ok((online, _)) => online.into_iter().collect(),
            Err(err) => {
                tracing::debug!(error = %err, "presence unknown: every member counts as offline");
                HashSet::new()
            }
        };
        let offline: Vec<UserId> = members
            .iter()
            .map(|member| member.user_id)
            .filter(|user| *user != message.sender_id && !online.contains(user))
            .collect();
        if offline.is_empty() {
            return Ok(0);
        }
        #[derive(serde::Serialize)]
        struct MessageCreatedEvent<'a> {
            message: &'a Message,
            offline_user_ids: Vec<UserId>,
        }
        let data = serde_json::to_value(MessageCreatedEvent { message, offline_user_ids: offline })
            .map_err(|e| Error::Internal(e.into()))?;
        let event = WebhookEvent {
            id: message.id.as_uuid(),
            event_type: EventType::MessageCreated,
            created_at: message.created_at,
            data,
        };
        self.outbox.record(&event).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use chrono::{DateTime, Utc};

    use crate::domain::{
        Delivery, DeliveryId, RoomId, UserRole, Username, Webhook, WebhookId, WebhookSecret, WebhookUrl,
    };
    use crate::memory::MemoryPresenceStore;
    use crate::ports::{
        AttemptOutcome, Clock, DueDelivery, LogError, OnlineChange, PresenceError, Receipt, StoreError,
        WebhookStore,
    };
    use crate::usecases::testkit::Kit;

    /// New messages from a queue; what became of each is written down by message content.
    #[derive(Default)]
    struct Queue {
        waiting: Mutex<VecDeque<Message>>,
        outcomes: Arc<Mutex<Vec<(String, &'static str)>>>,
    }

    struct Noted(String, Arc<Mutex<Vec<(String, &'static str)>>>);

    #[async_trait]
    impl Receipt for Noted {
        async fn ack(&self) -> Result<(), LogError> {
            self.1.lock().unwrap().push((self.0.clone(), "ack"));
            Ok(())
        }

        async fn retry(&self, _: Duration) -> Result<(), LogError> {
            self.1.lock().unwrap().push((self.0.clone(), "retry"));
            Ok(())
        }
    }

    #[async_trait]
    impl NewMessages for Queue {
        async fn next(&self, max: usize, _: Duration) -> Result<Vec<NewMessage>, LogError> {
            let mut waiting = self.waiting.lock().unwrap();
            let n = max.min(waiting.len());
            Ok(waiting
                .drain(..n)
                .map(|message| {
                    let receipt = Box::new(Noted(message.content.as_str().to_owned(), self.outcomes.clone()));
                    NewMessage { message, receipt }
                })
                .collect())
        }
    }

    async fn with_webhook(kit: &Kit, events: Vec<EventType>) {
        let (grants, admins) = kit.admin();
        let root = kit.user("root").await;
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();
        let url = WebhookUrl::parse("http://127.0.0.1/in").unwrap();
        admins.create_webhook(root, url, events).await.unwrap();
    }

    /// The `message.created` events enqueued, by message content: their offline users.
    async fn events(kit: &Kit) -> Vec<(String, Vec<serde_json::Value>)> {
        let now = kit.clock.now() + chrono::Duration::days(1);
        let due = kit.webhooks.store().claim(now, now, 100).await.unwrap();
        due.into_iter()
            .filter(|d| d.event_type == EventType::MessageCreated)
            .map(|d| {
                let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
                assert_eq!(body["id"], body["data"]["message"]["id"], "the event's id is the message's");
                let content = body["data"]["message"]["content"].as_str().unwrap().to_owned();
                (content, body["data"]["offline_user_ids"].as_array().unwrap().clone())
            })
            .collect()
    }

    #[tokio::test]
    async fn a_message_names_the_members_not_connected_to_its_room_once_however_often_it_comes() {
        let kit = Kit::new();
        with_webhook(&kit, vec![EventType::MessageCreated]).await;
        let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);
        let room = kit.group(ann, vec![bob, cid]).await;
        let presence = Arc::new(MemoryPresenceStore::default());
        presence.set(room, bob, 1).await.unwrap();
        let queue = Arc::new(Queue::default());
        let handler = MessageWebhooks::new(
            queue.clone(),
            kit.room_store.clone(),
            presence.clone(),
            kit.webhooks.clone(),
        );

        let first = kit.send(ann, room, "first").await;
        queue.waiting.lock().unwrap().extend([first.clone(), first]);
        let handled = handler.handle_next(10, Duration::ZERO).await.unwrap();
        assert_eq!(handled, MessagesHandled { done: 2, events: 1, failed: false }, "delivered twice, once");

        presence.set(room, cid, 1).await.unwrap();
        let all_here = kit.send(ann, room, "all here").await;
        queue.waiting.lock().unwrap().push_back(all_here);
        let handled = handler.handle_next(10, Duration::ZERO).await.unwrap();
        assert_eq!(handled, MessagesHandled { done: 1, events: 0, failed: false }, "nobody offline");
        let events = events(&kit).await;
        assert_eq!(events, [("first".to_owned(), vec![serde_json::json!(cid)])], "not the sender, not bob");
        let outcomes = queue.outcomes.lock().unwrap().clone();
        assert!(outcomes.iter().all(|(_, what)| *what == "ack"), "{outcomes:?}");
    }

    #[tokio::test]
    async fn without_a_webhook_that_wants_them_messages_are_acknowledged_and_nothing_is_enqueued() {
        let kit = Kit::new();
        with_webhook(&kit, vec![EventType::RoomCreated]).await;
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let room = kit.group(ann, vec![bob]).await;
        let queue = Arc::new(Queue::default());
        let presence = Arc::new(MemoryPresenceStore::default());
        let handler =
            MessageWebhooks::new(queue.clone(), kit.room_store.clone(), presence, kit.webhooks.clone());
        let hi = kit.send(ann, room, "hi").await;
        queue.waiting.lock().unwrap().push_back(hi);
        let handled = handler.handle_next(10, Duration::ZERO).await.unwrap();
        assert_eq!(handled, MessagesHandled { done: 1, events: 0, failed: false });
        assert!(events(&kit).await.is_empty());
    }

    /// Presence that cannot be read, as while Redis is down.
    struct NoPresence;

    #[async_trait]
    impl PresenceStore for NoPresence {
        async fn set(&self, _: RoomId, _: UserId, _: u32) -> Result<OnlineChange, PresenceError> {
            Err(PresenceError::new("down"))
        }

        async fn is_online(&self, _: RoomId, _: UserId) -> Result<bool, PresenceError> {
            Err(PresenceError::new("down"))
        }

        async fn online(&self, _: RoomId, _: usize) -> Result<(Vec<UserId>, u64), PresenceError> {
            Err(PresenceError::new("down"))
        }

        async fn heartbeat(&self, _: Duration) -> Result<(), PresenceError> {
            Err(PresenceError::new("down"))
        }

        async fn sweep_dead_nodes(&self) -> Result<Vec<(RoomId, UserId)>, PresenceError> {
            Err(PresenceError::new("down"))
        }
    }

    #[tokio::test]
    async fn while_presence_cannot_be_read_every_member_but_the_sender_counts_as_offline() {
        let kit = Kit::new();
        with_webhook(&kit, vec![EventType::MessageCreated]).await;
        let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);
        let room = kit.group(ann, vec![bob, cid]).await;
        let queue = Arc::new(Queue::default());
        let handler = MessageWebhooks::new(
            queue.clone(),
            kit.room_store.clone(),
            Arc::new(NoPresence),
            kit.webhooks.clone(),
        );
        let hi = kit.send(cid, room, "hi").await;
        queue.waiting.lock().unwrap().push_back(hi);
        assert_eq!(handler.handle_next(10, Duration::ZERO).await.unwrap().events, 1);
        let offline = events(&kit).await.remove(0).1;
        assert_eq!(offline, [serde_json::json!(ann), serde_json::json!(bob)]);
    }

    /// The outbox's store, failing to enqueue the event of the message with this content.
    struct FailingFor(crate::memory::MemoryWebhookStore, &'static str);

    #[async_trait]
    impl WebhookStore for FailingFor {
        async fn insert(&self, w: &Webhook, s: &WebhookSecret) -> Result<(), StoreError> {
            self.0.insert(w, s).await
        }
        async fn all(&self) -> Result<Vec<Webhook>, StoreError> {
            self.0.all().await
        }
        async fn get(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
            self.0.get(id).await
        }
        async fn delete(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
            self.0.delete(id).await
        }
        async fn enqueue(&self, event: &WebhookEvent) -> Result<usize, StoreError> {
            if event.data["message"]["content"] == self.1 {
                return Err(StoreError::unavailable("down"));
            }
            self.0.enqueue(event).await
        }
        async fn claim(
            &self,
            now: DateTime<Utc>,
            until: DateTime<Utc>,
            n: usize,
        ) -> Result<Vec<DueDelivery>, StoreError> {
            self.0.claim(now, until, n).await
        }
        async fn record(&self, d: DeliveryId, a: u32, o: &AttemptOutcome) -> Result<bool, StoreError> {
            self.0.record(d, a, o).await
        }
        async fn deliveries(&self, w: WebhookId, n: usize) -> Result<Vec<Delivery>, StoreError> {
            self.0.deliveries(w, n).await
        }
        async fn backlog(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
            self.0.backlog(now).await
        }
        async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
            self.0.prune(before).await
        }
    }

    #[tokio::test]
    async fn a_message_whose_event_cannot_be_recorded_is_handed_back_with_the_ones_after_it() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let room = kit.group(ann, vec![bob]).await;
        let store = Arc::new(FailingFor(crate::memory::MemoryWebhookStore::default(), "two"));
        let url = WebhookUrl::parse("http://127.0.0.1/in").unwrap();
        let webhook = Webhook {
            id: WebhookId::generate(),
            url,
            events: vec![EventType::MessageCreated],
            created_at: kit.clock.now(),
            created_by: None,
        };
        store.insert(&webhook, &WebhookSecret::generate()).await.unwrap();
        let outbox = Arc::new(WebhookOutbox::new(store, kit.clock.clone()));
        let queue = Arc::new(Queue::default());
        let presence = Arc::new(MemoryPresenceStore::default());
        let handler = MessageWebhooks::new(queue.clone(), kit.room_store.clone(), presence, outbox);
        for content in ["one", "two", "three"] {
            let message = kit.send(ann, room, content).await;
            queue.waiting.lock().unwrap().push_back(message);
        }
        let handled = handler.handle_next(10, Duration::ZERO).await.unwrap();
        assert_eq!(handled, MessagesHandled { done: 1, events: 1, failed: true });
        let outcomes = queue.outcomes.lock().unwrap().clone();
        let outcomes: Vec<(&str, &str)> = outcomes.iter().map(|(c, o)| (c.as_str(), *o)).collect();
        assert_eq!(outcomes, [("one", "ack"), ("two", "retry"), ("three", "retry")]);
    }
}
