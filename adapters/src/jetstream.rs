//! The message log and live feed ports over NATS JetStream ([`NatsLog`]): messages are stored as
//! MessagePack, and a message's seq is its stream sequence.

use std::sync::LazyLock;

use async_trait::async_trait;
use bytes::Bytes;
use chat_shared::domain::{Message, RoomId, Seq};
use chat_shared::ports::{Appended, LiveFeed, LiveMessage, LiveStream, LogError, MessageLog};
use futures::StreamExt;
use metrics::Histogram;

use crate::nats::{NatsError, NatsLog};

/// Encodes a message for the stream. Its seq is not part of it: the stream assigns that.
pub fn encode_stored(message: &Message) -> Bytes {
    Bytes::from(rmp_serde::to_vec_named(message).expect("a message always encodes"))
}

/// Decodes a message read from the stream under `seq`.
pub fn decode_stored(payload: &[u8], seq: Seq) -> Result<Message, rmp_serde::decode::Error> {
    let message: Message = rmp_serde::from_slice(payload)?;
    Ok(Message { seq, ..message })
}

/// Recorded for every send: a handle looked up once, not by name each time.
static PUBLISH_ACK_SECONDS: LazyLock<Histogram> =
    LazyLock::new(|| metrics::histogram!("chat_publish_ack_seconds"));

fn log_error(err: NatsError) -> LogError {
    if err.is_unavailable() { LogError::Unavailable(Box::new(err)) } else { LogError::Other(Box::new(err)) }
}

fn corrupt(seq: Seq, err: rmp_serde::decode::Error) -> LogError {
    LogError::Other(format!("message {seq} in the stream does not decode: {err}").into())
}

#[derive(Clone)]
pub struct JetStreamLog {
    nats: NatsLog,
}

impl JetStreamLog {
    pub fn new(nats: NatsLog) -> Self {
        Self { nats }
    }
}

#[async_trait]
impl MessageLog for JetStreamLog {
    async fn append(&self, message: &Message, dedup_key: &str) -> Result<Appended, LogError> {
        let started = std::time::Instant::now();
        let mut buf = [0; 36];
        let room = message.room_id.encode(&mut buf);
        let appended = self.nats.append(room, dedup_key, encode_stored(message)).await.map_err(log_error)?;
        PUBLISH_ACK_SECONDS.record(started.elapsed().as_secs_f64());
        Ok(if appended.duplicate { Appended::Duplicate(appended.seq) } else { Appended::New(appended.seq) })
    }

    async fn get(&self, seq: Seq) -> Result<Option<Message>, LogError> {
        match self.nats.get(seq).await.map_err(log_error)? {
            Some(payload) => decode_stored(&payload, seq).map(Some).map_err(|e| corrupt(seq, e)),
            None => Ok(None),
        }
    }

    async fn read_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Message>, LogError> {
        let raw = self.nats.read_room_after(&room.to_string(), after, limit).await.map_err(log_error)?;
        // Something undecodable on a room's subject was not published by a node; it is no
        // message of the room, and must not make the room's history unreadable.
        let messages = raw
            .into_iter()
            .filter_map(|(seq, payload)| match decode_stored(&payload, seq) {
                Ok(message) => Some(message),
                Err(err) => {
                    tracing::error!(seq, error = %err, "skipped an undecodable message in the stream");
                    None
                }
            })
            .collect();
        Ok(messages)
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, LogError> {
        let last = self.nats.last_seq_of_room(&room.to_string()).await.map_err(log_error)?;
        Ok(last.unwrap_or(0))
    }
}

#[async_trait]
impl LiveFeed for JetStreamLog {
    async fn subscribe(&self, room: RoomId) -> Result<LiveStream, LogError> {
        let live = self.nats.subscribe_live(&room.to_string()).await.map_err(log_error)?;
        let messages = live.filter_map(|live| async move {
            match decode_stored(&live.payload, live.seq) {
                Ok(message) => Some(LiveMessage { message, previous_seq: live.last_seq }),
                Err(err) => {
                    tracing::error!(seq = live.seq, error = %err, "undecodable message in the live feed");
                    None
                }
            }
        });
        Ok(Box::pin(messages))
    }
}
