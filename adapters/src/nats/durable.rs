//! The persister's durable pull consumer: every stored message, handed to one of the processes
//! sharing the consumer's name, until one acknowledges it.

use std::time::Duration;

use async_nats::Subject;
use async_nats::jetstream::consumer::{Consumer, pull};
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use futures::StreamExt;

use super::error::NatsError;

/// A durable consumer of every room; see [`NatsLog::durable_consumer`](super::NatsLog::durable_consumer).
#[derive(Clone)]
pub struct DurableConsumer {
    consumer: Consumer<pull::Config>,
    /// For `pending`, which needs no `&mut` through the stream (the consumer's own `info` does).
    stream: jetstream::stream::Stream,
}

impl DurableConsumer {
    pub(super) fn new(consumer: Consumer<pull::Config>, stream: jetstream::stream::Stream) -> Self {
        Self { consumer, stream }
    }

    /// The consumer's messages as they arrive, for this process: pull requests of `batch`
    /// messages are kept outstanding ahead of what has been taken, so a backlog streams in
    /// without a round trip per batch. What is taken must be acknowledged, or it comes back after
    /// the consumer's `ack_wait`; what was pulled but never taken comes back the same way.
    ///
    /// Errors: [`NatsError::Unavailable`] when the first pull request cannot be sent.
    pub async fn deliveries(&self, batch: usize) -> Result<Deliveries, NatsError> {
        let messages = self.consumer.stream().max_messages_per_batch(batch.max(1)).messages().await?;
        Ok(Deliveries { messages })
    }

    /// Messages not yet delivered to any process, the backlog a lag metric reports. Messages
    /// delivered and not yet acknowledged are not counted.
    pub async fn pending(&self) -> Result<u64, NatsError> {
        let name = &self.consumer.cached_info().name;
        Ok(self.stream.consumer_info(name).await?.num_pending)
    }
}

/// A durable consumer's messages for one process; see [`DurableConsumer::deliveries`].
pub struct Deliveries {
    messages: pull::Stream,
}

impl Deliveries {
    /// Up to `max` messages: those that arrive within `wait`, or fewer once `max` have come.
    /// Empty when none arrived. A batch cut short by an error is returned without it; the error
    /// comes with the next call.
    ///
    /// Errors: `Unavailable` when heartbeats from the server stopped or a pull request failed,
    /// `Other` when the consumer was deleted. Either way this stream is finished: take a new one.
    pub async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, NatsError> {
        // One timer for the whole batch, not one per message.
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        let mut batch = Vec::new();
        while batch.len() < max {
            let next = tokio::select! {
                next = self.messages.next() => next,
                _ = &mut deadline => break,
            };
            match next {
                Some(Ok(message)) => batch.push(Delivery::new(message)?),
                Some(Err(err)) if batch.is_empty() => return Err(err.into()),
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "consuming stopped after part of a batch");
                    break;
                }
                None if batch.is_empty() => return Err(NatsError::other("the consumer's stream ended")),
                None => break,
            }
        }
        Ok(batch)
    }
}

/// One delivery of a stored message. Acknowledging is a fire-and-forget publish: a lost
/// acknowledgement means one more delivery, so whatever handles it must be idempotent.
pub struct Delivery {
    /// The message's stream sequence, the same on every delivery.
    pub stream_seq: u64,
    /// How many times it has been delivered, this one included.
    pub delivered: i64,
    pub payload: Bytes,
    subject: Subject,
    acker: Acker,
}

impl Delivery {
    fn new(message: jetstream::Message) -> Result<Self, NatsError> {
        let info = message.info().map_err(NatsError::other)?;
        let (stream_seq, delivered) = (info.stream_sequence, info.delivered);
        let (message, acker) = message.split();
        Ok(Self { stream_seq, delivered, payload: message.payload, subject: message.subject, acker })
    }

    /// The room the message was appended to (the last token of `{P}.msg.<room>`).
    pub fn room(&self) -> &str {
        self.subject.rsplit('.').next().unwrap_or_default()
    }

    /// Done with: never delivered again.
    pub async fn ack(&self) -> Result<(), NatsError> {
        self.acker.ack().await.map_err(NatsError::other)
    }

    /// Not handled now: delivered again after `delay` (at once for zero), up to the consumer's
    /// `max_deliver`.
    pub async fn nak(&self, delay: Duration) -> Result<(), NatsError> {
        let delay = (!delay.is_zero()).then_some(delay);
        self.acker.ack_with(AckKind::Nak(delay)).await.map_err(NatsError::other)
    }

    /// Never to be handled (a poison message): not delivered again, and not acknowledged either.
    pub async fn term(&self) -> Result<(), NatsError> {
        self.acker.ack_with(AckKind::Term).await.map_err(NatsError::other)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::NatsLog;
    use super::super::testing::TestLog;
    use super::*;

    const ROOM: &str = "0195f4e2-8a7c-7d3e-9b1a-00000000000a";
    const SHORT: Duration = Duration::from_millis(200);

    async fn append_n(log: &NatsLog, n: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        for i in 0..n {
            let payload = Bytes::from(format!("m{i}"));
            seqs.push(log.append(ROOM, &format!("id{i}"), payload).await.unwrap().seq);
        }
        seqs
    }

    async fn take_all(consumer: &DurableConsumer) -> Vec<u64> {
        let mut deliveries = consumer.deliveries(10).await.unwrap();
        let mut seqs = Vec::new();
        loop {
            let batch = deliveries.next_batch(10, SHORT).await.unwrap();
            if batch.is_empty() {
                return seqs;
            }
            for delivery in batch {
                delivery.ack().await.unwrap();
                seqs.push(delivery.stream_seq);
            }
        }
    }

    #[tokio::test]
    async fn a_delivery_tells_its_seq_room_and_payload() {
        let log = TestLog::start().await;
        let seqs = append_n(&log, 1).await;
        let consumer = log.durable_consumer("persister", Duration::from_secs(30), 5).await.unwrap();

        let deliveries = consumer.deliveries(10).await.unwrap().next_batch(10, SHORT).await.unwrap();

        assert_eq!(deliveries.len(), 1);
        let delivery = &deliveries[0];
        assert_eq!((delivery.stream_seq, delivery.delivered), (seqs[0], 1));
        assert_eq!((delivery.room(), &delivery.payload[..]), (ROOM, &b"m0"[..]));
    }

    #[tokio::test]
    async fn two_processes_sharing_a_durable_name_each_get_different_messages() {
        let log = TestLog::start().await;
        let other_process = log.connect_again().await;
        let seqs = append_n(&log, 200).await;
        let ack_wait = Duration::from_secs(30);
        let first = log.durable_consumer("persister", ack_wait, 5).await.unwrap();
        let second = other_process.durable_consumer("persister", ack_wait, 5).await.unwrap();

        let (by_first, by_second) = tokio::join!(take_all(&first), take_all(&second));

        assert!(!by_first.is_empty() && !by_second.is_empty(), "the work was not shared");
        let all: BTreeSet<u64> = by_first.iter().chain(&by_second).copied().collect();
        assert_eq!(all.len(), by_first.len() + by_second.len(), "a message came twice");
        assert_eq!(all, seqs.into_iter().collect());
    }

    #[tokio::test]
    async fn a_nakked_message_is_delivered_again() {
        let log = TestLog::start().await;
        let seqs = append_n(&log, 1).await;
        let consumer = log.durable_consumer("persister", Duration::from_secs(30), 5).await.unwrap();
        let mut deliveries = consumer.deliveries(1).await.unwrap();
        let delivery = deliveries.next_batch(1, SHORT).await.unwrap().pop().unwrap();

        delivery.nak(Duration::ZERO).await.unwrap();

        let again = deliveries.next_batch(1, Duration::from_secs(2)).await.unwrap().pop().unwrap();
        assert_eq!((again.stream_seq, again.delivered), (seqs[0], 2));
    }

    #[tokio::test]
    async fn a_terminated_message_is_not_delivered_again_unlike_an_unacknowledged_one() {
        let log = TestLog::start().await;
        let seqs = append_n(&log, 2).await;
        let ack_wait = Duration::from_millis(500);
        let consumer = log.durable_consumer("persister", ack_wait, 5).await.unwrap();
        let mut stream = consumer.deliveries(2).await.unwrap();
        let deliveries = stream.next_batch(2, SHORT).await.unwrap();
        assert_eq!(deliveries.len(), 2);

        deliveries[0].term().await.unwrap();

        // The first delivery after the ack wait: the unacknowledged message, not the terminated one.
        let again = stream.next_batch(1, Duration::from_secs(2)).await.unwrap();
        let again: Vec<(u64, i64)> = again.iter().map(|d| (d.stream_seq, d.delivered)).collect();
        assert_eq!(again, [(seqs[1], 2)]);
    }

    #[tokio::test]
    async fn a_message_is_not_delivered_after_max_deliver_attempts() {
        let log = TestLog::start().await;
        append_n(&log, 1).await;
        let consumer = log.durable_consumer("persister", Duration::from_secs(30), 2).await.unwrap();
        let mut deliveries = consumer.deliveries(1).await.unwrap();
        for _ in 0..2 {
            let delivery = deliveries.next_batch(1, Duration::from_secs(2)).await.unwrap().pop().unwrap();
            delivery.nak(Duration::ZERO).await.unwrap();
        }

        assert!(deliveries.next_batch(1, SHORT).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn pending_counts_the_messages_not_yet_delivered() {
        let log = TestLog::start().await;
        append_n(&log, 5).await;
        let consumer = log.durable_consumer("persister", Duration::from_secs(30), 5).await.unwrap();
        assert_eq!(consumer.pending().await.unwrap(), 5);

        // Pulling runs ahead of taking: once everything is pulled, nothing is pending.
        let taken = consumer.deliveries(10).await.unwrap().next_batch(5, SHORT).await.unwrap();

        assert_eq!(taken.len(), 5);
        assert_eq!(consumer.pending().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_batch_with_nothing_to_deliver_is_empty_after_the_wait() {
        let log = TestLog::start().await;
        let consumer = log.durable_consumer("persister", Duration::from_secs(30), 5).await.unwrap();
        let mut stream = consumer.deliveries(10).await.unwrap();

        let started = std::time::Instant::now();
        let deliveries = stream.next_batch(10, SHORT).await.unwrap();

        assert!(deliveries.is_empty());
        assert!(started.elapsed() >= SHORT);
    }

    #[tokio::test]
    async fn a_consumer_name_with_a_dot_is_rejected() {
        let log = TestLog::start().await;

        let result = log.durable_consumer("per.sister", Duration::from_secs(30), 5).await;

        assert!(matches!(result, Err(NatsError::InvalidName { what: "consumer name", .. })));
    }
}
