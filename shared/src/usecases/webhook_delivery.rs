//! Delivering webhooks: a worker claims due deliveries from the outbox, POSTs each signed as
//! Standard Webhooks says, and records the outcome: delivered on a 2xx, otherwise due again
//! after a backoff, until the retry policy gives up. At least once: an attempt whose outcome
//! could not be recorded (the worker died, the database was down) is made again when its
//! claim runs out, with the same `webhook-id`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{EventType, RetryPolicy};
use crate::error::Error;
use crate::ports::{AttemptOutcome, AttemptResult, Clock, DueDelivery, WebhookSender, WebhookStore};

/// What one attempt came to, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub event_type: EventType,
    pub result: DeliveryResult,
    /// From the request's start to its answer or failure.
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered,
    /// Failed; another attempt is due later.
    WillRetry,
    /// Failed, and the retries have run out.
    GaveUp,
}

/// Claims, sends and records deliveries. Every node runs one over the shared outbox; the
/// claims keep them from sending the same attempt twice.
pub struct WebhookDispatcher {
    store: Arc<dyn WebhookStore>,
    sender: Arc<dyn WebhookSender>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    /// How long a claim keeps a delivery from other workers: longer than an attempt can take.
    lease: Duration,
}

impl WebhookDispatcher {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        sender: Arc<dyn WebhookSender>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
        lease: Duration,
    ) -> Self {
        Self { store, sender, clock, policy, lease }
    }

    /// Up to `limit` due deliveries, each claimed for one attempt.
    pub async fn claim(&self, limit: usize) -> Result<Vec<DueDelivery>, Error> {
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.lease).map_err(|e| Error::Internal(e.into()))?;
        Ok(self.store.claim(now, now + lease, limit).await?)
    }

    /// Makes a claimed delivery's attempt and records how it went. An outcome that cannot be
    /// recorded is an error: the claim runs out and the attempt is made again.
    pub async fn attempt(&self, due: DueDelivery) -> Result<Attempted, Error> {
        let id = due.id.to_string();
        let started = Instant::now();
        let sent = match due.secret.sign(&id, self.clock.now().timestamp(), &due.body) {
            Some(signature) => {
                let headers = [
                    ("content-type", "application/json".to_owned()),
                    ("webhook-id", id.clone()),
                    ("webhook-timestamp", self.clock.now().timestamp().to_string()),
                    ("webhook-signature", signature),
                ];
                self.sender.post(due.url.as_str(), &headers, &due.body).await.map_err(|e| e.to_string())
            }
            None => Err("the webhook's secret is unreadable".to_owned()),
        };
        let elapsed = started.elapsed();
        let at = self.clock.now();
        let (status, failure) = match sent {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("HTTP {status}"))),
            Err(why) => (None, Some(why)),
        };
        let result = match failure {
            None => AttemptResult::Delivered,
            Some(error) => {
                let jitter = rand::random::<f64>();
                match self.policy.next_attempt(due.attempt, due.created_at, at, jitter) {
                    Some(next_attempt_at) => AttemptResult::Retry { error, next_attempt_at },
                    None => AttemptResult::GaveUp { error },
                }
            }
        };
        let delivery_result = match &result {
            AttemptResult::Delivered => DeliveryResult::Delivered,
            AttemptResult::Retry { .. } => DeliveryResult::WillRetry,
            AttemptResult::GaveUp { .. } => DeliveryResult::GaveUp,
        };
        if let AttemptResult::Retry { error, .. } | AttemptResult::GaveUp { error } = &result {
            tracing::debug!(delivery = %id, attempt = due.attempt, %error, "webhook attempt failed");
        }
        let outcome = AttemptOutcome { at, status, result };
        if !self.store.record(due.id, due.attempt, &outcome).await? {
            tracing::debug!(delivery = %id, "webhook delivery deleted or claimed again meanwhile");
        }
        Ok(Attempted { event_type: due.event_type, result: delivery_result, elapsed })
    }

    /// Pending deliveries due now.
    pub async fn backlog(&self) -> Result<u64, Error> {
        Ok(self.store.backlog(self.clock.now()).await?)
    }

    /// Forgets the delivered and failed deliveries enqueued more than `keep` ago.
    pub async fn prune(&self, keep: Duration) -> Result<u64, Error> {
        let keep = chrono::Duration::from_std(keep).map_err(|e| Error::Internal(e.into()))?;
        Ok(self.store.prune(self.clock.now() - keep).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::domain::{
        DeliveryStatus, UserRole, Username, WebhookEvent, WebhookId, WebhookSecret, WebhookUrl,
    };
    use crate::ports::SendError;
    use crate::usecases::testkit::Kit;

    /// A request as the receiver got it: URL, headers, body.
    type Request = (String, Vec<(&'static str, String)>, String);

    /// A receiver that answers each request with the next of its answers (the last one
    /// repeated), and keeps what it received.
    struct Receiver {
        answers: Vec<Result<u16, SendError>>,
        received: Mutex<Vec<Request>>,
    }

    impl Receiver {
        fn answering(answers: Vec<Result<u16, SendError>>) -> Arc<Self> {
            Arc::new(Self { answers, received: Mutex::default() })
        }

        fn header(&self, request: usize, name: &str) -> String {
            let received = self.received.lock().unwrap();
            received[request].1.iter().find(|(n, _)| *n == name).unwrap().1.clone()
        }

        fn count(&self) -> usize {
            self.received.lock().unwrap().len()
        }
    }

    #[async_trait]
    impl WebhookSender for Receiver {
        async fn post(
            &self,
            url: &str,
            headers: &[(&'static str, String)],
            body: &str,
        ) -> Result<u16, SendError> {
            let mut received = self.received.lock().unwrap();
            received.push((url.to_owned(), headers.to_vec(), body.to_owned()));
            let answer = self.answers.get(received.len() - 1).or(self.answers.last());
            answer.cloned().unwrap_or(Ok(200))
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        base: Duration::from_secs(10),
        max_delay: Duration::from_secs(60),
        retry_for: Duration::from_secs(300),
    };

    /// A kit with one webhook for `room.created`, its secret, and a dispatcher over `receiver`.
    async fn setup(receiver: Arc<Receiver>) -> (Kit, WebhookId, WebhookSecret, WebhookDispatcher) {
        let kit = Kit::new();
        let (grants, admins) = kit.admin();
        let root = kit.user("root").await;
        grants.set_role(&Username::parse("root").unwrap(), UserRole::Admin).await.unwrap();
        let url = WebhookUrl::parse("https://hooks.example.com/in").unwrap();
        let registered = admins.create_webhook(root, url, vec![EventType::RoomCreated]).await.unwrap();
        let dispatcher = WebhookDispatcher::new(
            kit.webhooks.store().clone(),
            receiver,
            kit.clock.clone(),
            POLICY,
            Duration::from_secs(30),
        );
        (kit, registered.webhook.id, registered.secret, dispatcher)
    }

    async fn run_due(dispatcher: &WebhookDispatcher) -> Vec<DeliveryResult> {
        let mut results = Vec::new();
        for due in dispatcher.claim(10).await.unwrap() {
            results.push(dispatcher.attempt(due).await.unwrap().result);
        }
        results
    }

    #[tokio::test]
    async fn a_delivery_is_signed_with_the_webhooks_secret_and_delivered_once() {
        let receiver = Receiver::answering(vec![Ok(204)]);
        let (kit, webhook, secret, dispatcher) = setup(receiver.clone()).await;
        let ann = kit.user("ann").await;
        kit.group(ann, vec![]).await;
        assert_eq!(dispatcher.backlog().await.unwrap(), 1);

        assert_eq!(run_due(&dispatcher).await, [DeliveryResult::Delivered]);
        let (url, _, body) = receiver.received.lock().unwrap()[0].clone();
        assert_eq!(url, "https://hooks.example.com/in");
        let id = receiver.header(0, "webhook-id");
        let timestamp: i64 = receiver.header(0, "webhook-timestamp").parse().unwrap();
        assert_eq!(timestamp, kit.clock.now().timestamp());
        assert_eq!(receiver.header(0, "webhook-signature"), secret.sign(&id, timestamp, &body).unwrap());
        assert_eq!(receiver.header(0, "content-type"), "application/json");

        let deliveries = kit.webhooks.store().deliveries(webhook, 10).await.unwrap();
        assert_eq!(deliveries[0].id.to_string(), id);
        assert_eq!((deliveries[0].status, deliveries[0].attempts), (DeliveryStatus::Delivered, 1));
        assert_eq!(deliveries[0].last_status, Some(204));
        assert!(run_due(&dispatcher).await.is_empty(), "delivered: never sent again");
        assert_eq!(dispatcher.backlog().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_failed_attempt_is_retried_after_a_backoff_with_the_same_id_until_it_succeeds() {
        let failing = vec![Ok(500), Err(SendError::Timeout), Ok(200)];
        let receiver = Receiver::answering(failing);
        let (kit, webhook, _, dispatcher) = setup(receiver.clone()).await;
        let ann = kit.user("ann").await;
        kit.group(ann, vec![]).await;

        assert_eq!(run_due(&dispatcher).await, [DeliveryResult::WillRetry]);
        let pending = kit.webhooks.store().deliveries(webhook, 10).await.unwrap().remove(0);
        assert_eq!((pending.status, pending.last_status), (DeliveryStatus::Pending, Some(500)));
        assert_eq!(pending.last_error.as_deref(), Some("HTTP 500"));
        let wait = pending.next_attempt_at.unwrap() - kit.clock.now();
        assert!((7..=13).contains(&wait.num_seconds()), "{wait}");
        assert!(run_due(&dispatcher).await.is_empty(), "not due before its backoff");

        kit.clock.advance(chrono::Duration::seconds(13));
        assert_eq!(run_due(&dispatcher).await, [DeliveryResult::WillRetry]);
        let pending = kit.webhooks.store().deliveries(webhook, 10).await.unwrap().remove(0);
        assert_eq!((pending.last_status, pending.last_error.as_deref()), (None, Some("timed out")));
        kit.clock.advance(chrono::Duration::seconds(25));
        assert_eq!(run_due(&dispatcher).await, [DeliveryResult::Delivered]);
        assert_eq!(receiver.count(), 3);
        let ids: Vec<String> = (0..3).map(|i| receiver.header(i, "webhook-id")).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "one delivery id on every attempt: {ids:?}");
        let bodies: Vec<String> = receiver.received.lock().unwrap().iter().map(|r| r.2.clone()).collect();
        assert!(bodies.iter().all(|b| *b == bodies[0]), "the same body on every attempt");
    }

    #[tokio::test]
    async fn a_delivery_that_keeps_failing_is_given_up_after_the_retry_period() {
        let receiver = Receiver::answering(vec![Err(SendError::Connect)]);
        let (kit, webhook, _, dispatcher) = setup(receiver.clone()).await;
        let ann = kit.user("ann").await;
        kit.group(ann, vec![]).await;
        let mut results = Vec::new();
        for _ in 0..50 {
            results.extend(run_due(&dispatcher).await);
            kit.clock.advance(chrono::Duration::seconds(61));
        }
        assert_eq!(results.last(), Some(&DeliveryResult::GaveUp));
        assert_eq!(results.iter().filter(|r| **r == DeliveryResult::GaveUp).count(), 1);
        let failed = kit.webhooks.store().deliveries(webhook, 10).await.unwrap().remove(0);
        assert_eq!(failed.status, DeliveryStatus::Failed);
        assert_eq!(failed.last_error.as_deref(), Some("connection failed"));
        assert!(failed.last_attempt_at.unwrap() - failed.created_at >= chrono::Duration::seconds(300));
        assert_eq!(failed.attempts as usize, receiver.count());
    }

    #[tokio::test]
    async fn a_claimed_delivery_is_not_claimed_again_until_its_lease_runs_out() {
        let receiver = Receiver::answering(vec![Ok(200)]);
        let (kit, webhook, _, dispatcher) = setup(receiver.clone()).await;
        let event = WebhookEvent {
            id: uuid::Uuid::now_v7(),
            event_type: EventType::RoomCreated,
            created_at: kit.clock.now(),
            data: serde_json::json!({}),
        };
        kit.webhooks.record(&event).await.unwrap();
        let first = dispatcher.claim(10).await.unwrap();
        assert_eq!(first.len(), 1);
        assert!(dispatcher.claim(10).await.unwrap().is_empty(), "held by the first claim");
        // The first worker died; its lease runs out and another takes the delivery.
        kit.clock.advance(chrono::Duration::seconds(31));
        let second = dispatcher.claim(10).await.unwrap();
        assert_eq!((second.len(), second[0].id, second[0].attempt), (1, first[0].id, 2));
        dispatcher.attempt(second[0].clone()).await.unwrap();
        // The first worker's late outcome changes nothing.
        dispatcher.attempt(first[0].clone()).await.unwrap();
        let delivery = kit.webhooks.store().deliveries(webhook, 10).await.unwrap().remove(0);
        assert_eq!((delivery.status, delivery.attempts), (DeliveryStatus::Delivered, 2));
    }
}
