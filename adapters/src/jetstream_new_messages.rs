//! A cluster's new messages for `message.created`: a durable JetStream consumer of the message
//! stream, shared by every node (each message goes to one of them, and again to one of them
//! until acknowledged), made to start at the messages appended from its creation on.

use std::time::Duration;

use async_trait::async_trait;
use chat_shared::domain::Entry;
use chat_shared::ports::{LogError, NewMessage, NewMessages, Receipt};
use tokio::sync::{Mutex, OnceCell};

use crate::jetstream::{decode_stored, log_error};
use crate::nats::{Deliveries, Delivery, DurableConsumer, NatsLog};

pub struct JetStreamNewMessages {
    nats: NatsLog,
    /// The consumer's durable name.
    name: String,
    /// How long a node may hold a message before it is handed to another.
    ack_wait: Duration,
    consumer: OnceCell<DurableConsumer>,
    /// This process's pull of the consumer; replaced after an error.
    deliveries: Mutex<Option<Deliveries>>,
}

impl JetStreamNewMessages {
    pub fn new(nats: NatsLog, name: &str, ack_wait: Duration) -> Self {
        Self {
            nats,
            name: name.to_owned(),
            ack_wait,
            consumer: OnceCell::new(),
            deliveries: Mutex::new(None),
        }
    }
}

#[async_trait]
impl NewMessages for JetStreamNewMessages {
    async fn next(&self, max: usize, wait: Duration) -> Result<Vec<NewMessage>, LogError> {
        let mut pull = self.deliveries.lock().await;
        let deliveries = match pull.as_mut() {
            Some(deliveries) => deliveries,
            None => {
                let consumer = self
                    .consumer
                    .get_or_try_init(|| self.nats.durable_consumer_from_now(&self.name, self.ack_wait))
                    .await
                    .map_err(log_error)?;
                pull.insert(consumer.deliveries(max).await.map_err(log_error)?)
            }
        };
        let batch = match deliveries.next_batch(max, wait).await {
            Ok(batch) => batch,
            Err(err) => {
                *pull = None;
                return Err(log_error(err));
            }
        };
        let mut messages = Vec::with_capacity(batch.len());
        for delivery in batch {
            match decode_stored(&delivery.payload, delivery.stream_seq) {
                Ok(Entry::Message(message)) => {
                    messages.push(NewMessage { message, receipt: Box::new(StreamReceipt(delivery)) })
                }
                // Changes and reactions make no event.
                Ok(_) => {
                    let _ = delivery.ack().await;
                }
                Err(err) => {
                    tracing::warn!(seq = delivery.stream_seq, error = %err, "an undecodable entry makes no event");
                    let _ = delivery.term().await;
                }
            }
        }
        Ok(messages)
    }
}

struct StreamReceipt(Delivery);

#[async_trait]
impl Receipt for StreamReceipt {
    async fn ack(&self) -> Result<(), LogError> {
        self.0.ack().await.map_err(log_error)
    }

    async fn retry(&self, delay: Duration) -> Result<(), LogError> {
        self.0.nak(delay).await.map_err(log_error)
    }
}
